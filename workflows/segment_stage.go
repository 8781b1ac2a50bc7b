package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// TopSegmentTerms is the number of top terms and categories per segment in
// the summary.
const TopSegmentTerms = 10

// segment runs distributed k-means as the child workflow Segment, assigns
// every user to a segment (block of shards by block) and reduces the segment
// profiles: size, mean behaviour, traits, top terms and categories.
func (r *run) segment(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageSegment, 0)
	k := in.K
	if in.KMax > 0 {
		k = 0 // chosen by the child
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-segment"})
	err := workflow.ExecuteChildWorkflow(cctx, Segment, SegmentInput{
		RunID: in.RunID, Shards: in.Shards, Users: r.sum.Users, K: k, KMin: in.KMin, KMax: in.KMax,
		SampleKeys: r.feat.sampleKeys, Seed: in.Seed, Scaler: r.scaler, Window: in.Window, ShardBlocks: in.ShardBlocks,
	}).Get(ctx, &r.seg)
	if err != nil {
		return err
	}
	r.track.detail(StageSegment, fmt.Sprintf("k=%d, %d iterations, cost %.6g", r.seg.K, r.seg.Iterations, r.seg.Cost))

	actx := withActivityOptions(ctx)
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	assigned := make([]activities.SegmentAssignOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.SegmentAssign, activities.SegmentAssignInput{
				RunID: in.RunID, Block: blocks[i], Scaler: r.scaler, Centroids: r.seg.Centroids,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &assigned[i]) })
	if err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	sums := segment.NewSums(r.seg.K)
	keys := make([]string, len(blocks))
	for i, as := range assigned {
		keys[i] = as.TermsKey
		if err := sums.Merge(as.Sums); err != nil {
			return fmt.Errorf("shards %d..%d: %w", blocks[i].From, blocks[i].To-1, err)
		}
	}
	var terms activities.SegmentTermsOutput
	err = workflow.ExecuteActivity(actx, a.SegmentTerms, activities.SegmentTermsInput{Keys: keys, K: r.seg.K, Top: TopSegmentTerms}).Get(ctx, &terms)
	if err != nil {
		return fmt.Errorf("segment terms: %w", err)
	}
	profiles := sums.Profiles(r.seg.Names)
	for i := range profiles {
		profiles[i].Traits = segment.Traits(r.scaler.Names, r.seg.Centroids[i], 4)
		if i < len(terms.Terms) {
			profiles[i].TopTerms, profiles[i].TopCategories = terms.Terms[i], terms.Categories[i]
		}
	}
	r.sum.Segments = profiles
	r.sum.KMeans = &KMeansSummary{
		K: r.seg.K, Iterations: r.seg.Iterations, Cost: r.seg.Cost, Converged: r.seg.Converged,
		Init: r.seg.Init, Features: r.scaler.Names, KScores: r.seg.KScores,
	}
	return r.denseClusters(ctx)
}
