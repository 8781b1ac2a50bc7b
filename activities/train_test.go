package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
)

// putTrain stores a training table of n users for shard i: the label is 1
// when feature 0 exceeds 0.5, with 10% noise.
func putTrain(t *testing.T, store Store, run string, i, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	rows := make([]features.Row, n)
	for k := range rows {
		v := make([]float64, len(features.Names))
		for j := range v {
			v[j] = rng.Float64()
		}
		label := 0.0
		if (v[0] > 0.5) != (rng.Float64() < 0.1) {
			label = 1
		}
		rows[k] = features.Row{UserID: fmt.Sprintf("s%du%04d", i, k), Values: v, Label: label}
	}
	rec := features.Record(rows, true, memory.DefaultAllocator)
	defer rec.Release()
	a := &Activities{Store: store}
	if err := a.writeArrow(context.Background(), layout.Train(run, i), features.TrainSchema, rec); err != nil {
		t.Fatal(err)
	}
}

// evaluateShards runs EvaluateForest on shards 0..n-1 of run "r" (seed 3),
// one shard a block, and merges their histograms in shard order.
func evaluateShards(t *testing.T, exec func(fn, in, out any), acts *Activities, n int, model string) metrics.ScoreHist {
	t.Helper()
	total := metrics.ScoreHist{}
	for i := range n {
		var h metrics.ScoreHist
		exec(acts.EvaluateForest, EvaluateInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Seed: 3, ForestKey: model}, &h)
		if err := total.Merge(h); err != nil {
			t.Fatal(err)
		}
	}
	return total
}

// TestPropensityActivities runs the propensity activities on two shards and
// an empty third, in the order the Train workflow runs them.
func TestPropensityActivities(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	putTrain(t, store, "r", 0, 600)
	putTrain(t, store, "r", 1, 400)
	putTrain(t, store, "r", 2, 0)
	env, acts := newEnv(store)

	var sketches [][]*forest.Sketch
	for i := range 3 {
		v, err := env.ExecuteActivity(acts.SketchTrain, SketchInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}})
		if err != nil {
			t.Fatal(err)
		}
		var sk []*forest.Sketch
		if err := v.Get(&sk); err != nil {
			t.Fatal(err)
		}
		if len(sk) != len(features.Names) {
			t.Fatalf("shard %d: %d sketches", i, len(sk))
		}
		sketches = append(sketches, sk)
	}
	merged := make([]*forest.Sketch, len(features.Names))
	for f := range merged {
		merged[f] = forest.NewSketch(0)
		for _, sk := range sketches {
			merged[f].Merge(sk[f])
		}
	}
	if got := merged[0].Total(); got != 1000 {
		t.Fatalf("merged sketch holds %v values, want 1000", got)
	}
	bins, err := forest.NewBins(merged, 0)
	if err != nil {
		t.Fatal(err)
	}

	var keys []string
	for i := range 3 {
		v, err := env.ExecuteActivity(acts.TrainTrees, TrainTreesInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Seed: 3, Bins: bins,
			// Every split sees feature 0, the only one with a signal: the test
			// checks the plumbing, not the luck of the feature draw.
			Params: forest.Params{Trees: 4, MaxDepth: 4, MinLeaf: 5, MaxFeatures: len(features.Names), Bootstrap: true}})
		if err != nil {
			t.Fatal(err)
		}
		var out TrainTreesOutput
		if err := v.Get(&out); err != nil {
			t.Fatal(err)
		}
		wantTrees := 4
		if i == 2 {
			wantTrees = 0
		}
		if out.Trees != wantTrees || (i < 2 && (out.Rows < 300 || out.OOB.N == 0 || out.OOB.AUC < 0.8)) {
			t.Errorf("shard %d: %+v", i, out)
		}
		keys = append(keys, out.Key)
	}
	v, err := env.ExecuteActivity(acts.CombineForest, CombineForestInput{RunID: "r", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var comb CombineForestOutput
	if err := v.Get(&comb); err != nil {
		t.Fatal(err)
	}
	if comb.Trees != 8 || comb.Importances[features.Names[0]] < 0.5 {
		t.Errorf("combined %+v, want 8 trees and most importance on %s", comb, features.Names[0])
	}

	total := evaluateShards(t, activityRunner(t, env), acts, 3, comb.Key)
	if total.N < 150 || total.AUC() < 0.8 {
		t.Errorf("held out %d users, AUC %v", total.N, total.AUC())
	}
	v, err = env.ExecuteActivity(acts.WriteHoldoutScores, HoldoutScoresInput{RunID: "r", Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	var key string
	if err := v.Get(&key); err != nil {
		t.Fatal(err)
	}
	csv, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if lines[0] != "user_id,score,label" || int64(len(lines)-1) != total.N || !strings.HasPrefix(lines[1], "s0u") {
		t.Errorf("%s: %d lines, first %q %q; want a header and %d users, shard 0 first", key, len(lines), lines[0], lines[1], total.N)
	}
}

// TestTrainBoost runs the boosted propensity path of the Train workflow on
// two shards and an empty third: bins through the bucket, one TrainBoost,
// the held-out evaluation and DecideScore's model cache reading the
// boosted model; and checks that MaxRows samples the users by hash.
func TestTrainBoost(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	putTrain(t, store, "r", 0, 600)
	putTrain(t, store, "r", 1, 400)
	putTrain(t, store, "r", 2, 0)
	env, acts := newEnv(store)
	for i := range 3 {
		if _, err := env.ExecuteActivity(acts.SketchShard, SketchInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := env.ExecuteActivity(acts.MergeBins, MergeBinsInput{RunID: "r", Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	var merged MergeBinsOutput
	if err := v.Get(&merged); err != nil {
		t.Fatal(err)
	}
	var held int64
	for i := range 2 {
		for k := range []int{600, 400}[i] {
			if holdout(3, fmt.Sprintf("s%du%04d", i, k)) {
				held++
			}
		}
	}
	for _, tc := range []struct {
		maxRows int
		sampled int64
	}{
		{0, 1000 - held},
		{500, 500},
	} {
		t.Run(fmt.Sprint(tc.maxRows), func(t *testing.T) {
			v, err := env.ExecuteActivity(acts.TrainBoost, TrainBoostInput{RunID: "r", Shards: 3, Seed: 3, BinsKey: merged.Key,
				Params: boost.Params{MinLeaf: 10}, MaxRows: tc.maxRows})
			if err != nil {
				t.Fatal(err)
			}
			var out TrainBoostOutput
			if err := v.Get(&out); err != nil {
				t.Fatal(err)
			}
			if out.Key != layout.Booster("r") || out.Rows != 1000-held || out.Sampled != tc.sampled || out.Trees == 0 || out.Trees > out.Rounds ||
				!(out.ValidLoss > 0) || out.Importances[features.Names[0]] < 0.5 {
				t.Fatalf("%+v; want %d rows, %d sampled, trees, most importance on %s", out, 1000-held, tc.sampled, features.Names[0])
			}
			total := evaluateShards(t, activityRunner(t, env), acts, 3, out.Key)
			if total.N != held || total.AUC() < 0.85 {
				t.Errorf("held out %d users (want %d), AUC %v", total.N, held, total.AUC())
			}
			m, err := acts.propensityForest(ctx, out.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*boost.Model); !ok {
				t.Errorf("DecideScore's model is a %T, want *boost.Model", m)
			}
		})
	}
}

// TestPropensityOverBlocks: the propensity activities over one block of
// three shards see what they see shard by shard: the same users and labels
// in the held-out histogram, their scores in one part in shard order, the
// same number of sketched values; MergeBins and WriteHoldoutScores read
// the block's objects, named by its first shard.
func TestPropensityOverBlocks(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	putTrain(t, store, "r", 0, 300)
	putTrain(t, store, "r", 1, 200)
	putTrain(t, store, "r", 2, 250)
	env, acts := newEnv(store)
	exec := activityRunner(t, env)
	whole := shard.Block{From: 0, To: 3}
	exec(acts.SketchShard, SketchInput{RunID: "r", Block: whole}, nil)
	var merged MergeBinsOutput
	exec(acts.MergeBins, MergeBinsInput{RunID: "r", Shards: 3, ShardBlocks: 1}, &merged)
	var sk []*forest.Sketch
	data, err := store.Get(ctx, layout.TrainSketch("r", 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sk); err != nil || sk[0].Total() != 750 {
		t.Fatalf("block sketch: %v values, %v; want 750", sk[0].Total(), err)
	}
	var grown TrainTreesOutput
	exec(acts.TrainTrees, TrainTreesInput{RunID: "r", Block: whole, Seed: 3, BinsKey: merged.Key,
		Params: forest.Params{Trees: 3, MaxDepth: 4, MinLeaf: 5, Bootstrap: true}}, &grown)
	if grown.Key != layout.Trees("r", 0) || grown.Trees != 3 || grown.Rows < 500 {
		t.Fatalf("block trees %+v", grown)
	}
	var comb CombineForestOutput
	exec(acts.CombineForest, CombineForestInput{RunID: "r", Keys: []string{grown.Key}}, &comb)

	var block metrics.ScoreHist
	exec(acts.EvaluateForest, EvaluateInput{RunID: "r", Block: whole, Seed: 3, ForestKey: comb.Key}, &block)
	blockPart, err := store.Get(ctx, layout.HoldoutScoresPart("r", 0))
	if err != nil {
		t.Fatal(err)
	}
	perShard := metrics.ScoreHist{}
	var parts []byte
	for i := range 3 {
		var h metrics.ScoreHist
		exec(acts.EvaluateForest, EvaluateInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Seed: 3, ForestKey: comb.Key}, &h)
		if err := perShard.Merge(h); err != nil {
			t.Fatal(err)
		}
		p, err := store.Get(ctx, layout.HoldoutScoresPart("r", i))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p...)
	}
	if block.N == 0 || block.N != perShard.N || !slices.Equal(block.Pos, perShard.Pos) || !slices.Equal(block.Neg, perShard.Neg) {
		t.Errorf("block histogram (%d users) differs from the shards' merged (%d)", block.N, perShard.N)
	}
	if !bytes.Equal(blockPart, parts) {
		t.Errorf("block part of %d bytes differs from the shards' parts joined (%d)", len(blockPart), len(parts))
	}
	// The shard-0 part was overwritten by the per-shard run; put the block's back.
	if err := store.Put(ctx, layout.HoldoutScoresPart("r", 0), blockPart); err != nil {
		t.Fatal(err)
	}
	var key string
	exec(acts.WriteHoldoutScores, HoldoutScoresInput{RunID: "r", Shards: 3, ShardBlocks: 1}, &key)
	csv, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("user_id,score,label\n"), blockPart...); !bytes.Equal(csv, want) {
		t.Errorf("holdout scores over one block: %d bytes, want %d", len(csv), len(want))
	}
}
