package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/forest"
)

// MinForestTrees is the fewest trees the propensity forest has: each shard
// grows TreesPerShard trees, or more when there are few shards.
const MinForestTrees = 100

// train grows the propensity forest as the child workflow Train.
func (r *run) train(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageTrain, 0)
	trees := max(in.TreesPerShard, (MinForestTrees+in.Shards-1)/in.Shards)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-train"})
	err := workflow.ExecuteChildWorkflow(cctx, Train, TrainInput{
		RunID: in.RunID, Shards: in.Shards, Seed: in.Seed, Window: in.Window,
		Params: forest.Params{Trees: trees, MaxDepth: 8, MinLeaf: 20, Bootstrap: true},
	}).Get(ctx, &r.model)
	if err != nil {
		return err
	}
	r.sum.Models["propensity"] = r.model
	r.track.detail(StageTrain, fmt.Sprintf("%d trees, AUC %.3f", r.model.Trees, r.model.AUC))
	return nil
}
