package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// segment runs distributed k-means as the child workflow Segment.
func (r *run) segment(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageSegment, 0)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-segment"})
	err := workflow.ExecuteChildWorkflow(cctx, Segment, SegmentInput{
		RunID: in.RunID, Shards: in.Shards, Users: r.sum.Users, K: in.K, Seed: in.Seed, Scaler: r.scaler, Window: in.Window,
	}).Get(ctx, &r.seg)
	if err != nil {
		return err
	}
	r.track.detail(StageSegment, fmt.Sprintf("%d iterations, cost %.6g", r.seg.Iterations, r.seg.Cost))
	r.sum.KMeans = map[string]any{"k": in.K, "iterations": r.seg.Iterations, "cost": r.seg.Cost, "converged": r.seg.Converged}
	return nil
}
