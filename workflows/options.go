package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
)

// Fan-out defaults, the one home of both (docs/PERFORMANCE.md, "Scale").
const (
	// DefaultWindow is how many activities of a fan-out are in flight at
	// once (RegenerateInput.Window).
	DefaultWindow = 16
	// DefaultShardBlocks is the most activities one fan-out over shards
	// starts (RegenerateInput.ShardBlocks): above it, an activity handles
	// a block of neighbouring shards (shard.Blocks), so a workflow's
	// history does not grow with the shard count.
	DefaultShardBlocks = 64
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

// heartbeatTimeout is how long an activity may go without a heartbeat
// before Temporal retries it elsewhere: every activity heartbeats every
// activities.HeartbeatInterval (the worker's Heartbeats interceptor), so a
// dead worker costs at most this much.
const heartbeatTimeout = 20 * time.Second

// withActivityOptions sets the options of shard activities: generous
// deadlines, since a shard may be large, a short heartbeat timeout, and
// retries.
func withActivityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         retry,
	})
}

// withHeartbeat is for long activities that heartbeat a resumable position
// (ingest): a longer deadline, the same heartbeat timeout.
func withHeartbeat(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         retry,
	})
}
