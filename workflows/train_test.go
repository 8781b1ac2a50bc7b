package workflows

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
)

// putSketch stores what SketchShard would for in's block: a sketch of the
// values From*10 .. From*10+9 of feature 0 and, with constant, a sketch of
// a second feature that is always 1.
func putSketch(ctx context.Context, store *blob.Mem, in activities.SketchInput, constant bool) error {
	sk := []*forest.Sketch{forest.NewSketch(0)}
	if constant {
		sk = append(sk, forest.NewSketch(0))
	}
	for v := range 10 {
		sk[0].Add(float64(in.Block.From*10 + v))
		if constant {
			sk[1].Add(1)
		}
	}
	data, err := json.Marshal(sk)
	if err != nil {
		return err
	}
	return store.Put(ctx, layout.TrainSketch(in.RunID, in.Block.From), data)
}

// TestTrainMergesSketches checks that Train merges every shard's sketches
// (through the bucket, with the real MergeBins) into one set of bins and
// grows every shard's trees on those same bins, reduces the shards' counts
// and histograms, and joins the held-out scores.
func TestTrainMergesSketches(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	store := blob.NewMem()
	env.RegisterActivity(&activities.Activities{Store: store})
	const shards = 3
	// Shard i holds the values i*10 .. i*10+9 of one feature; two features.
	env.OnActivity("SketchShard", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SketchInput) error {
			return putSketch(ctx, store, in, true)
		})
	var mu sync.Mutex
	var seen []*forest.Bins
	env.OnActivity("TrainTrees", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.TrainTreesInput) (activities.TrainTreesOutput, error) {
			if in.Bins != nil || in.BinsKey != layout.TrainBins(in.RunID) {
				t.Errorf("shard %d: bins %v in the input, key %q: want only the key %q", in.Block.From, in.Bins, in.BinsKey, layout.TrainBins(in.RunID))
			}
			var bins *forest.Bins
			if data, err := store.Get(ctx, in.BinsKey); err != nil {
				t.Error(err)
			} else if err := json.Unmarshal(data, &bins); err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen = append(seen, bins)
			mu.Unlock()
			return activities.TrainTreesOutput{Key: "trees", Trees: 2, Rows: 10, Positives: 3,
				OOB: forest.OOB{N: 10, AUC: 0.6 + 0.1*float64(in.Block.From)}}, nil
		})
	env.OnActivity("CombineForest", mock.Anything, mock.Anything).Return(activities.CombineForestOutput{Key: "forest", Trees: 6}, nil)
	env.OnActivity("EvaluateForest", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EvaluateInput) (metrics.ScoreHist, error) {
			h := metrics.NewScoreHist(10)
			h.Add(0.9, true)
			h.Add(0.1, false)
			if in.Block.From == 0 {
				h.Add(0.95, false)
			}
			return h, nil
		})
	env.OnActivity("WriteHoldoutScores", mock.Anything, mock.Anything).Return("runs/r/models/propensity/holdout_scores.csv", nil)

	env.ExecuteWorkflow(Train, TrainInput{RunID: "r", Shards: shards, Seed: 1, Window: 2, Params: forest.Params{Trees: 2, MaxBins: 16}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out TrainOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if len(seen) != shards {
		t.Fatalf("TrainTrees ran %d times", len(seen))
	}
	for i, b := range seen {
		if b == nil || !slices.EqualFunc(b.Cuts, seen[0].Cuts, slices.Equal) {
			t.Errorf("shard call %d got bins %v, want the same as the first %v", i, b, seen[0])
		}
	}
	// 30 distinct values over 16 bins: 15 cuts, spread over all shards' values.
	c := seen[0].Cuts[0]
	if len(c) != 15 || c[0] > 3 || c[len(c)-1] < 26 {
		t.Errorf("cuts of the merged feature %v", c)
	}
	if len(seen[0].Cuts[1]) != 0 {
		t.Errorf("constant feature has cuts %v", seen[0].Cuts[1])
	}
	if out.TrainRows != 30 || out.Positives != 9 || out.NHoldout != 7 || out.Bins != 16 {
		t.Errorf("output %+v", out)
	}
	// 3 positives, 4 negatives; the negative at 0.95 shares the top bin
	// with the positives at 0.9: three tied pairs of twelve.
	if want := 1 - 1.5/12; out.AUC != want {
		t.Errorf("AUC %v, want %v", out.AUC, want)
	}
	if want := 0.7; out.OOBAUC < want-1e-12 || out.OOBAUC > want+1e-12 {
		t.Errorf("OOB AUC %v, want the mean %v", out.OOBAUC, want)
	}
	if out.HoldoutScores != "runs/r/models/propensity/holdout_scores.csv" {
		t.Errorf("holdout scores %q", out.HoldoutScores)
	}
}

// TestTrainBoost checks Train with ModelBoost: the bins through the
// bucket, one TrainBoost with the run's booster settings and no per-shard
// trees, every shard's evaluation on the boosted model, and the output
// carrying the model's kind, key and counts.
func TestTrainBoost(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	store := blob.NewMem()
	env.RegisterActivity(&activities.Activities{Store: store})
	const shards = 3
	env.OnActivity("SketchShard", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SketchInput) error {
			return putSketch(ctx, store, in, false)
		})
	params := boost.Params{LearningRate: 0.2, MinLeaf: 7}
	boosts := 0
	env.OnActivity("TrainBoost", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TrainBoostInput) (activities.TrainBoostOutput, error) {
			boosts++
			if in.Shards != shards || in.BinsKey != layout.TrainBins("r") || in.Params != params || in.MaxRows != 500 || in.Seed != 1 {
				t.Errorf("TrainBoost input %+v", in)
			}
			return activities.TrainBoostOutput{Key: layout.Booster("r"), Trees: 40, Rounds: 60, Rows: 30, Sampled: 30, Positives: 9,
				ValidLoss: 0.5, Importances: map[string]float64{"x": 1}}, nil
		})
	env.OnActivity("TrainTrees", mock.Anything, mock.Anything).Return(
		func(context.Context, activities.TrainTreesInput) (activities.TrainTreesOutput, error) {
			t.Error("TrainTrees ran for a boosted model")
			return activities.TrainTreesOutput{}, nil
		})
	evaluated := make([]bool, shards)
	env.OnActivity("EvaluateForest", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EvaluateInput) (metrics.ScoreHist, error) {
			if in.ForestKey != layout.Booster("r") {
				t.Errorf("shard %d evaluates %q, want the boosted model", in.Block.From, in.ForestKey)
			}
			evaluated[in.Block.From] = true
			h := metrics.NewScoreHist(10)
			h.Add(0.9, true)
			h.Add(0.1, false)
			return h, nil
		})
	env.OnActivity("WriteHoldoutScores", mock.Anything, mock.Anything).Return("runs/r/models/propensity/holdout_scores.csv", nil)

	env.ExecuteWorkflow(Train, TrainInput{RunID: "r", Shards: shards, Seed: 1, Window: 2, Model: ModelBoost, Boost: params, BoostRows: 500})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out TrainOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if boosts != 1 || !slices.Equal(evaluated, []bool{true, true, true}) {
		t.Errorf("TrainBoost ran %d times, shards evaluated %v", boosts, evaluated)
	}
	if out.Model != ModelBoost || out.ForestKey != layout.Booster("r") || out.Trees != 40 || out.Rounds != 60 || out.TrainRows != 30 ||
		out.Sampled != 30 || out.Positives != 9 || out.ValidLoss != 0.5 || out.NHoldout != 6 || out.AUC != 1 || out.Importances["x"] != 1 {
		t.Errorf("output %+v", out)
	}
}

// TestTrainOverBlocks: with more shards than ShardBlocks, Train starts one
// sketch, one tree and one evaluation activity per block of neighbouring
// shards (shard.Blocks), tells MergeBins and WriteHoldoutScores how the
// shards were cut, and the forest has TreesPerShard trees per block.
func TestTrainOverBlocks(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	store := blob.NewMem()
	env.RegisterActivity(&activities.Activities{Store: store})
	const shards, blocks = 10, 4
	want := []shard.Block{{From: 0, To: 3}, {From: 3, To: 6}, {From: 6, To: 8}, {From: 8, To: 10}}
	var mu sync.Mutex
	calls := map[string][]shard.Block{}
	record := func(name string, b shard.Block) {
		mu.Lock()
		calls[name] = append(calls[name], b)
		mu.Unlock()
	}
	env.OnActivity("SketchShard", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SketchInput) error {
			record("SketchShard", in.Block)
			return putSketch(ctx, store, in, false)
		})
	env.OnActivity("TrainTrees", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TrainTreesInput) (activities.TrainTreesOutput, error) {
			record("TrainTrees", in.Block)
			return activities.TrainTreesOutput{Key: layout.Trees(in.RunID, in.Block.From), Trees: in.Params.Trees, Rows: 10}, nil
		})
	env.OnActivity("CombineForest", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CombineForestInput) (activities.CombineForestOutput, error) {
			if len(in.Keys) != blocks {
				t.Errorf("CombineForest of %d keys, want one per block", len(in.Keys))
			}
			return activities.CombineForestOutput{Key: "forest", Trees: 4 * len(in.Keys)}, nil
		})
	env.OnActivity("EvaluateForest", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EvaluateInput) (metrics.ScoreHist, error) {
			record("EvaluateForest", in.Block)
			h := metrics.NewScoreHist(10)
			h.Add(0.9, true)
			h.Add(0.1, false)
			return h, nil
		})
	env.OnActivity("WriteHoldoutScores", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.HoldoutScoresInput) (string, error) {
			if in.Shards != shards || in.ShardBlocks != blocks {
				t.Errorf("WriteHoldoutScores input %+v", in)
			}
			return "scores", nil
		})

	env.ExecuteWorkflow(Train, TrainInput{RunID: "r", Shards: shards, ShardBlocks: blocks, Seed: 1, Window: 2, Params: forest.Params{Trees: 4, MaxBins: 16}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out TrainOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SketchShard", "TrainTrees", "EvaluateForest"} {
		got := slices.Clone(calls[name])
		slices.SortFunc(got, func(a, b shard.Block) int { return a.From - b.From })
		if !slices.Equal(got, want) {
			t.Errorf("%s ran on %v, want the blocks %v", name, got, want)
		}
	}
	if out.Trees != 16 || out.TrainRows != 40 || out.NHoldout != 8 || out.AUC != 1 {
		t.Errorf("output %+v", out)
	}
}

// TestTreesPerBlock checks the forest's size: the count of runs before
// blocks up to ShardBlocks shards, and bounded by ShardBlocks beyond.
func TestTreesPerBlock(t *testing.T) {
	for _, tc := range []struct {
		shards, blocks, perBlock, want, total int
	}{
		{8, 64, 5, 13, 104},
		{16, 64, 5, 7, 112},
		{64, 64, 5, 5, 320},
		{256, 64, 5, 5, 320},
		{1024, 64, 5, 5, 320},
		{1024, 8, 5, 13, 104},
		{1, 64, 5, 100, 100},
		{30, 0, 5, 5, 150}, // ShardBlocks 0: a block per shard
	} {
		got := treesPerBlock(tc.shards, tc.blocks, tc.perBlock)
		total := got * len(shard.Blocks(tc.shards, tc.blocks))
		if got != tc.want || total != tc.total {
			t.Errorf("treesPerBlock(%d, %d, %d) = %d (forest %d), want %d (forest %d)", tc.shards, tc.blocks, tc.perBlock, got, total, tc.want, tc.total)
		}
	}
}
