package workflows

import (
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
)

// Register registers every promoflow workflow, and the activities of acts,
// with r. Workers and tests call it so they cannot drift apart.
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflow(Regenerate)
	r.RegisterWorkflow(Segment)
	r.RegisterWorkflow(Train)
	r.RegisterActivity(acts)
}
