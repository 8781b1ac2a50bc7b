package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/activities/logging"
)

// Register registers every promoflow workflow, and the activities of acts,
// with r. Workers and tests call it so they cannot drift apart.
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflow(Regenerate)
	r.RegisterWorkflow(Ingest)
	r.RegisterWorkflow(IngestSplits)
	r.RegisterWorkflow(Segment)
	r.RegisterWorkflow(Train)
	r.RegisterWorkflow(Uplift)
	r.RegisterWorkflow(Evaluate)
	r.RegisterWorkflow(Simulate)
	r.RegisterWorkflow(LiveCampaign)
	r.RegisterWorkflow(LiveSlice)
	r.RegisterActivity(acts)
}

// NewWorker returns a worker on queue with everything registered, the
// activity heartbeat interceptor the workflows' heartbeat timeouts rely on,
// and the logging interceptor (run, stage and shard on every activity log
// line). Use it rather than worker.New.
func NewWorker(c client.Client, queue string, acts *activities.Activities, opts worker.Options) worker.Worker {
	opts.Interceptors = append([]interceptor.WorkerInterceptor{&logging.Interceptor{StageOf: StageOf}, &activities.Heartbeats{}}, opts.Interceptors...)
	w := worker.New(c, queue, opts)
	Register(w, acts)
	return w
}
