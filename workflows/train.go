package workflows

import (
	"fmt"
	"math"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
)

// TrainInput configures propensity training over a run's shards.
type TrainInput struct {
	RunID  string
	Shards int
	// ShardBlocks is the most activities a fan-out over shards starts
	// (RegenerateInput.ShardBlocks); 0 is one per shard.
	ShardBlocks int
	Seed        int64
	Params      forest.Params // trees per block and their limits; MaxBins also for boosting
	Window      int
	// Model is the kind of model trained: ModelForest ("" in runs started
	// before boosting) or ModelBoost.
	Model string
	// Boost and BoostRows configure ModelBoost: the booster's parameters
	// and the most training users it samples (0: all).
	Boost     boost.Params
	BoostRows int
	// BoostFoldsUpTo is the most users for which Boost.Folds models are
	// averaged (activities.TrainBoostInput.FoldsUpTo).
	BoostFoldsUpTo int
	// Sketched says the features pass wrote the blocks' sketches
	// (activities.FeaturesInput.SketchTrain): no SketchShard activities.
	Sketched bool `json:",omitempty"`
}

// Propensity model kinds (TrainInput.Model, TrainOutput.Model).
const (
	ModelForest = "forest"   // bootstrap trees grown per shard, combined
	ModelBoost  = boost.Kind // gradient-boosted trees trained by one activity
)

// TrainOutput describes the trained forest and its held-out quality: the
// summary's models.propensity.
type TrainOutput struct {
	Model         string             `json:"model,omitempty"` // ModelBoost, or "" for a forest
	ForestKey     string             `json:"forest"`          // the model's key, whichever its kind
	Trees         int                `json:"trees"`
	Rounds        int                `json:"rounds,omitempty"`     // ModelBoost: rounds grown before early stopping, summed over folds
	Folds         int                `json:"folds,omitempty"`      // ModelBoost: models averaged
	Sampled       int64              `json:"sampled,omitempty"`    // ModelBoost: training users trained on (BoostRows)
	ValidLoss     float64            `json:"valid_loss,omitempty"` // ModelBoost: log loss on its validation fold
	TrainRows     int64              `json:"train_rows"`
	Positives     int64              `json:"positives"`
	AUC           float64            `json:"auc"`
	LogLoss       float64            `json:"logloss"`
	NHoldout      int64              `json:"n_holdout"`
	HoldoutScores string             `json:"holdout_scores"` // key of user_id,score,label CSV
	OOBAUC        float64            `json:"oob_auc"`        // shards' out-of-bag AUCs, weighted by rows
	Bins          int                `json:"bins"`           // most bins of any feature
	Importances   map[string]float64 `json:"importances"`
}

// Train merges per-shard quantile sketches of the features into global
// bins, grows propensity trees on every shard in parallel on those bins,
// combines them into one forest, and evaluates it on the held-out users of
// every shard, whose scores it writes to one CSV.
func Train(ctx workflow.Context, in TrainInput) (TrainOutput, error) {
	ctx = withActivityOptions(ctx)
	// Every fan-out is over blocks of shards: one activity, one result per
	// block, so the history does not grow with the shard count (a block
	// per shard up to ShardBlocks shards, as before blocks).
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	progress := Progress{RunID: in.RunID, Stage: "bins", Stages: []StageProgress{
		{Name: "bins", State: Running, Total: len(blocks)},
		{Name: "trees", State: Pending, Total: len(blocks)},
		{Name: "combine", State: Pending, Total: 1},
		{Name: "evaluate", State: Pending, Total: len(blocks)},
	}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return progress, nil }); err != nil {
		return TrainOutput{}, err
	}

	// Sketches and bins go through the bucket: in the history they cost
	// about 264 KB per shard (issue 20). Histories recorded before carry
	// them as results and inputs.
	var bins *forest.Bins
	binsKey, maxBins := "", 0
	if workflow.GetVersion(ctx, "train-bins-in-bucket", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		sketches := make([][]*forest.Sketch, in.Shards)
		err := fanOut(ctx, in.Shards, in.Window,
			func(i int) workflow.Future {
				return workflow.ExecuteActivity(ctx, a.SketchTrain, activities.SketchInput{RunID: in.RunID, Block: shard.Block{From: i, To: i + 1}})
			},
			func(i int, f workflow.Future) error {
				progress.Stages[0].Done++
				return f.Get(ctx, &sketches[i])
			})
		if err != nil {
			return TrainOutput{}, fmt.Errorf("sketch features: %w", err)
		}
		if bins, err = forest.MergeSketches(sketches, in.Params.MaxBins); err != nil {
			return TrainOutput{}, fmt.Errorf("bins: %w", err)
		}
		for _, c := range bins.Cuts {
			maxBins = max(maxBins, len(c)+1)
		}
	} else {
		if !in.Sketched {
			err := fanOut(ctx, len(blocks), in.Window,
				func(i int) workflow.Future {
					return workflow.ExecuteActivity(ctx, a.SketchShard, activities.SketchInput{RunID: in.RunID, Block: blocks[i]})
				},
				func(i int, f workflow.Future) error {
					progress.Stages[0].Done++
					return f.Get(ctx, nil)
				})
			if err != nil {
				return TrainOutput{}, fmt.Errorf("sketch features: %w", err)
			}
		}
		var merged activities.MergeBinsOutput
		err := workflow.ExecuteActivity(ctx, a.MergeBins, activities.MergeBinsInput{RunID: in.RunID, Shards: in.Shards, ShardBlocks: in.ShardBlocks, MaxBins: in.Params.MaxBins}).Get(ctx, &merged)
		if err != nil {
			return TrainOutput{}, fmt.Errorf("bins: %w", err)
		}
		binsKey, maxBins = merged.Key, merged.Bins
	}
	progress.Stages[0].State = Done
	out := TrainOutput{Bins: maxBins}

	if in.Model == ModelBoost {
		if err := trainBoost(ctx, in, binsKey, &progress, &out); err != nil {
			return TrainOutput{}, err
		}
	} else if err := trainForest(ctx, in, blocks, bins, binsKey, &progress, &out); err != nil {
		return TrainOutput{}, err
	}

	progress.Stage, progress.Stages[3].State = "evaluate", Running
	hists := make([]metrics.ScoreHist, len(blocks))
	err := fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.EvaluateForest, activities.EvaluateInput{
				RunID: in.RunID, Block: blocks[i], Seed: in.Seed, ForestKey: out.ForestKey,
			})
		},
		func(i int, f workflow.Future) error {
			progress.Stages[3].Done++
			return f.Get(ctx, &hists[i])
		})
	if err != nil {
		return TrainOutput{}, fmt.Errorf("evaluate %s: %w", out.kind(), err)
	}
	total := metrics.NewScoreHist(len(hists[0].Pos))
	for i, h := range hists {
		if err := total.Merge(h); err != nil {
			return TrainOutput{}, fmt.Errorf("shards %d..%d: %w", blocks[i].From, blocks[i].To-1, err)
		}
	}
	err = workflow.ExecuteActivity(ctx, a.WriteHoldoutScores, activities.HoldoutScoresInput{RunID: in.RunID, Shards: in.Shards, ShardBlocks: in.ShardBlocks}).Get(ctx, &out.HoldoutScores)
	if err != nil {
		return TrainOutput{}, fmt.Errorf("holdout scores: %w", err)
	}
	progress.Stages[3].State, progress.Stage = Done, Done
	out.AUC, out.LogLoss, out.NHoldout = finite(total.AUC()), finite(total.MeanLogLoss()), total.N
	return out, nil
}

// kind names the trained model in errors.
func (o *TrainOutput) kind() string {
	if o.Model == "" {
		return ModelForest
	}
	return o.Model
}

// trainBoost boosts the propensity model in one activity on the training
// users of every shard (stage "trees"; "combine" has nothing to do).
func trainBoost(ctx workflow.Context, in TrainInput, binsKey string, progress *Progress, out *TrainOutput) error {
	if binsKey == "" {
		return fmt.Errorf("train %s: the bins are not in the bucket", ModelBoost)
	}
	progress.Stage, progress.Stages[1].State, progress.Stages[1].Total = "trees", Running, 1
	var b activities.TrainBoostOutput
	err := workflow.ExecuteActivity(ctx, a.TrainBoost, activities.TrainBoostInput{
		RunID: in.RunID, Shards: in.Shards, Seed: in.Seed, BinsKey: binsKey, Params: in.Boost, MaxRows: in.BoostRows,
		FoldsUpTo: in.BoostFoldsUpTo,
	}).Get(ctx, &b)
	if err != nil {
		return fmt.Errorf("boost: %w", err)
	}
	progress.Stages[1].State, progress.Stages[1].Done = Done, 1
	progress.Stages[2].State, progress.Stages[2].Done = Done, 1
	out.Model, out.ForestKey, out.Trees, out.Rounds, out.Folds = ModelBoost, b.Key, b.Trees, b.Rounds, b.Folds
	out.TrainRows, out.Sampled, out.Positives, out.ValidLoss, out.Importances = b.Rows, b.Sampled, b.Positives, b.ValidLoss, b.Importances
	return nil
}

// trainForest grows every block's trees on the global bins and combines
// them (stages "trees" and "combine").
func trainForest(ctx workflow.Context, in TrainInput, blocks []shard.Block, bins *forest.Bins, binsKey string, progress *Progress, out *TrainOutput) error {
	progress.Stage, progress.Stages[1].State = "trees", Running
	grown := make([]activities.TrainTreesOutput, len(blocks))
	err := fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.TrainTrees, activities.TrainTreesInput{
				RunID: in.RunID, Block: blocks[i], Seed: in.Seed, Params: in.Params, Bins: bins, BinsKey: binsKey,
			})
		},
		func(i int, f workflow.Future) error {
			progress.Stages[1].Done++
			return f.Get(ctx, &grown[i])
		})
	if err != nil {
		return fmt.Errorf("grow trees: %w", err)
	}
	progress.Stages[1].State = Done
	keys := make([]string, len(blocks))
	var oobRows float64
	for i, g := range grown {
		keys[i] = g.Key
		out.TrainRows += g.Rows
		out.Positives += g.Positives
		if g.OOB.N > 0 && g.OOB.AUC > 0 {
			out.OOBAUC += g.OOB.AUC * float64(g.OOB.N)
			oobRows += float64(g.OOB.N)
		}
	}
	if oobRows > 0 {
		out.OOBAUC /= oobRows
	}

	progress.Stage, progress.Stages[2].State = "combine", Running
	var combined activities.CombineForestOutput
	if err := workflow.ExecuteActivity(ctx, a.CombineForest, activities.CombineForestInput{RunID: in.RunID, Keys: keys}).Get(ctx, &combined); err != nil {
		return fmt.Errorf("combine forest: %w", err)
	}
	progress.Stages[2].State, progress.Stages[2].Done = Done, 1
	out.ForestKey, out.Trees, out.Importances = combined.Key, combined.Trees, combined.Importances

	return nil
}

// finite turns an undefined metric (no held-out users, one class only) into
// 0, which JSON can carry; NHoldout tells the reader it is empty.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
