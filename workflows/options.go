package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
)

// a is only used to name activity methods; Temporal calls them on the
// worker's registered *Activities.
var a *activities.Activities

// retry retries transient failures with backoff; bad input is final.
var retry = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        time.Minute,
	MaximumAttempts:        5,
	NonRetryableErrorTypes: []string{activities.BadInputType},
}

// withActivityOptions sets the options of shard activities: generous
// deadlines, since a shard may be large, and retries.
func withActivityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		RetryPolicy:         retry,
	})
}

// withHeartbeat is for long activities that heartbeat their position: a
// dead worker is noticed within a minute rather than at the deadline.
func withHeartbeat(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         retry,
	})
}
