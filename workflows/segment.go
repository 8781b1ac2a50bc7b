package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/segment"
)

// SegmentInput configures distributed k-means over a run's feature shards.
type SegmentInput struct {
	RunID      string
	Shards     int
	Users      int64
	K          int
	Seed       int64
	Scaler     features.Scaler
	MaxIter    int     // Lloyd iterations in all; 0 means 100
	Tol        float64 // relative cost change that counts as converged; 0 means 1e-4
	Window     int     // shard activities in flight
	PerHistory int     // iterations per workflow run before continue-as-new; 0 means 20

	// Carried across continue-as-new.
	Centroids [][]float64
	Iter      int
	PrevCost  float64
}

// SegmentOutput are the final segments.
type SegmentOutput struct {
	Centroids  [][]float64
	Names      []string
	Cost       float64
	Iterations int
	Converged  bool
}

// Segment runs k-means over all shards: seeded centroids, then Lloyd
// iterations in which every shard returns partial sums that the workflow
// reduces in shard order. It continues as new every PerHistory iterations
// so its history stays short however long it runs.
func Segment(ctx workflow.Context, in SegmentInput) (SegmentOutput, error) {
	if in.MaxIter == 0 {
		in.MaxIter = 100
	}
	if in.Tol == 0 {
		in.Tol = 1e-4
	}
	if in.PerHistory == 0 {
		in.PerHistory = 20
	}
	ctx = withActivityOptions(ctx)
	progress := Progress{RunID: in.RunID, Stage: "segment", Stages: []StageProgress{{Name: "lloyd", State: Running, Done: in.Iter, Total: in.MaxIter}}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return progress, nil }); err != nil {
		return SegmentOutput{}, err
	}

	if in.Centroids == nil {
		err := workflow.ExecuteActivity(ctx, a.KMeansSeed, activities.KMeansSeedInput{
			RunID: in.RunID, Shards: in.Shards, K: in.K, Seed: in.Seed, Scaler: in.Scaler, Sample: 5000, Users: in.Users,
		}).Get(ctx, &in.Centroids)
		if err != nil {
			return SegmentOutput{}, fmt.Errorf("k-means seed: %w", err)
		}
	}
	for run := 0; ; run++ {
		if run == in.PerHistory {
			return SegmentOutput{}, workflow.NewContinueAsNewError(ctx, Segment, in)
		}
		partials := make([]kmeans.Partial, in.Shards)
		err := fanOut(ctx, in.Shards, in.Window,
			func(i int) workflow.Future {
				return workflow.ExecuteActivity(ctx, a.KMeansStep, activities.KMeansStepInput{
					RunID: in.RunID, Shard: i, Scaler: in.Scaler, Centroids: in.Centroids,
				})
			},
			func(i int, f workflow.Future) error { return f.Get(ctx, &partials[i]) })
		if err != nil {
			return SegmentOutput{}, fmt.Errorf("k-means iteration %d: %w", in.Iter, err)
		}
		total := kmeans.NewPartial(in.K, len(in.Scaler.Mean))
		for i, p := range partials {
			if err := total.Merge(p); err != nil {
				return SegmentOutput{}, fmt.Errorf("shard %d: %w", i, err)
			}
		}
		in.Iter++
		progress.Stages[0].Done = in.Iter
		progress.Stages[0].Detail = fmt.Sprintf("cost %.6g", total.Cost)
		converged := in.Iter > 1 && kmeans.Converged(in.PrevCost, total.Cost, in.Tol)
		if converged || in.Iter >= in.MaxIter {
			// The centroids are the ones this cost was measured against.
			progress.Stages[0].State = Done
			return SegmentOutput{
				Centroids: in.Centroids, Names: segment.Names(in.Centroids),
				Cost: total.Cost, Iterations: in.Iter, Converged: converged,
			}, nil
		}
		in.PrevCost = total.Cost
		in.Centroids = kmeans.Update(in.Centroids, total)
	}
}
