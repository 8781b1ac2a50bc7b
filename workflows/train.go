package workflows

import (
	"fmt"
	"math"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
)

// TrainInput configures propensity training over a run's shards.
type TrainInput struct {
	RunID  string
	Shards int
	Seed   int64
	Params forest.Params // trees per shard and their limits
	Window int
}

// TrainOutput describes the trained forest and its held-out quality.
type TrainOutput struct {
	ForestKey   string             `json:"forest"`
	Trees       int                `json:"trees"`
	TrainRows   int64              `json:"train_rows"`
	Positives   int64              `json:"positives"`
	AUC         float64            `json:"auc"`
	LogLoss     float64            `json:"logloss"`
	NHoldout    int64              `json:"n_holdout"`
	Importances map[string]float64 `json:"importances"`
}

// Train grows propensity trees on every shard in parallel, combines them
// into one forest, and evaluates it on the held-out users of every shard.
func Train(ctx workflow.Context, in TrainInput) (TrainOutput, error) {
	ctx = withActivityOptions(ctx)
	progress := Progress{RunID: in.RunID, Stage: "trees", Stages: []StageProgress{
		{Name: "trees", State: Running, Total: in.Shards},
		{Name: "combine", State: Pending, Total: 1},
		{Name: "evaluate", State: Pending, Total: in.Shards},
	}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return progress, nil }); err != nil {
		return TrainOutput{}, err
	}

	grown := make([]activities.TrainTreesOutput, in.Shards)
	err := fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.TrainTrees, activities.TrainTreesInput{
				RunID: in.RunID, Shard: i, Seed: in.Seed, Params: in.Params,
			})
		},
		func(i int, f workflow.Future) error {
			progress.Stages[0].Done++
			return f.Get(ctx, &grown[i])
		})
	if err != nil {
		return TrainOutput{}, fmt.Errorf("grow trees: %w", err)
	}
	progress.Stages[0].State = Done
	var out TrainOutput
	keys := make([]string, in.Shards)
	for i, g := range grown {
		keys[i] = g.Key
		out.TrainRows += g.Rows
		out.Positives += g.Positives
	}

	progress.Stage, progress.Stages[1].State = "combine", Running
	var combined activities.CombineForestOutput
	if err := workflow.ExecuteActivity(ctx, a.CombineForest, activities.CombineForestInput{RunID: in.RunID, Keys: keys}).Get(ctx, &combined); err != nil {
		return TrainOutput{}, fmt.Errorf("combine forest: %w", err)
	}
	progress.Stages[1].State, progress.Stages[1].Done = Done, 1
	out.ForestKey, out.Trees, out.Importances = combined.Key, combined.Trees, combined.Importances

	progress.Stage, progress.Stages[2].State = "evaluate", Running
	hists := make([]metrics.ScoreHist, in.Shards)
	err = fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.EvaluateForest, activities.EvaluateInput{
				RunID: in.RunID, Shard: i, Seed: in.Seed, ForestKey: combined.Key,
			})
		},
		func(i int, f workflow.Future) error {
			progress.Stages[2].Done++
			return f.Get(ctx, &hists[i])
		})
	if err != nil {
		return TrainOutput{}, fmt.Errorf("evaluate forest: %w", err)
	}
	total := metrics.NewScoreHist(len(hists[0].Pos))
	for i, h := range hists {
		if err := total.Merge(h); err != nil {
			return TrainOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	progress.Stages[2].State, progress.Stage = Done, Done
	out.AUC, out.LogLoss, out.NHoldout = finite(total.AUC()), finite(total.MeanLogLoss()), total.N
	return out, nil
}

// finite turns an undefined metric (no held-out users, one class only) into
// 0, which JSON can carry; NHoldout tells the reader it is empty.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
