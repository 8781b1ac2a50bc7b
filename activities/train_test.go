package activities

import (
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
		v, err := env.ExecuteActivity(acts.SketchTrain, SketchInput{RunID: "r", Shard: i})
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
		v, err := env.ExecuteActivity(acts.TrainTrees, TrainTreesInput{RunID: "r", Shard: i, Seed: 3, Bins: bins,
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

	total := metrics.ScoreHist{}
	for i := range 3 {
		v, err := env.ExecuteActivity(acts.EvaluateForest, EvaluateInput{RunID: "r", Shard: i, Seed: 3, ForestKey: comb.Key})
		if err != nil {
			t.Fatal(err)
		}
		var h metrics.ScoreHist
		if err := v.Get(&h); err != nil {
			t.Fatal(err)
		}
		if err := total.Merge(h); err != nil {
			t.Fatal(err)
		}
	}
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
		if _, err := env.ExecuteActivity(acts.SketchShard, SketchInput{RunID: "r", Shard: i}); err != nil {
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
			total := metrics.ScoreHist{}
			for i := range 3 {
				v, err := env.ExecuteActivity(acts.EvaluateForest, EvaluateInput{RunID: "r", Shard: i, Seed: 3, ForestKey: out.Key})
				if err != nil {
					t.Fatal(err)
				}
				var h metrics.ScoreHist
				if err := v.Get(&h); err != nil {
					t.Fatal(err)
				}
				if err := total.Merge(h); err != nil {
					t.Fatal(err)
				}
			}
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

// TestPropensityBlocks checks the block inputs of the train activities
// against their one-shard form: SketchShard writes every shard's own
// sketches; TrainTrees on a one-shard block is the shard's trees, and on a
// wider block grows one set of trees on all its shards' users; one
// EvaluateForest over a block gives the merged histogram of its shards and
// writes every shard's part.
func TestPropensityBlocks(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	for i, n := range []int{300, 200, 0, 250} {
		putTrain(t, store, "r", i, n)
	}
	env, acts := newEnv(store)
	whole := shard.Block{From: 0, To: 4}

	if _, err := env.ExecuteActivity(acts.SketchShard, SketchInput{RunID: "r", Block: whole}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		v, err := env.ExecuteActivity(acts.SketchTrain, SketchInput{RunID: "r", Shard: i})
		if err != nil {
			t.Fatal(err)
		}
		var want []*forest.Sketch
		if err := v.Get(&want); err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := json.Marshal(want)
		got, err := store.Get(ctx, layout.TrainSketch("r", i))
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		if strings.TrimSpace(string(got)) != string(wantJSON) {
			t.Errorf("shard %d: block sketch differs from the shard's own", i)
		}
	}
	v, err := env.ExecuteActivity(acts.MergeBins, MergeBinsInput{RunID: "r", Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	var bins MergeBinsOutput
	if err := v.Get(&bins); err != nil {
		t.Fatal(err)
	}

	params := forest.Params{Trees: 3, MaxDepth: 4, MinLeaf: 5, MaxFeatures: len(features.Names), Bootstrap: true}
	grow := func(in TrainTreesInput) (TrainTreesOutput, []byte) {
		t.Helper()
		in.RunID, in.Seed, in.Params, in.BinsKey = "r", 3, params, bins.Key
		v, err := env.ExecuteActivity(acts.TrainTrees, in)
		if err != nil {
			t.Fatal(err)
		}
		var out TrainTreesOutput
		if err := v.Get(&out); err != nil {
			t.Fatal(err)
		}
		data, err := store.Get(ctx, out.Key)
		if err != nil {
			t.Fatal(err)
		}
		return out, data
	}
	one, oneData := grow(TrainTreesInput{Shard: 1})
	blk, blkData := grow(TrainTreesInput{Shard: 1, Block: shard.Block{From: 1, To: 2}})
	if one.Key != blk.Key || one.Rows != blk.Rows || string(oneData) != string(blkData) {
		t.Errorf("one-shard block %+v differs from the shard's trees %+v", blk, one)
	}
	wide, _ := grow(TrainTreesInput{Block: shard.Block{From: 1, To: 4}})
	if wide.Key != layout.Trees("r", 1) || wide.Trees != 3 {
		t.Errorf("block 1-3: %+v, want 3 trees at shard 1's key", wide)
	}
	if s3, _ := grow(TrainTreesInput{Shard: 3}); wide.Rows != one.Rows+s3.Rows || wide.Positives == 0 {
		t.Errorf("block 1-3 trained on %d rows, want shards 1 and 3's %d+%d", wide.Rows, one.Rows, s3.Rows)
	}

	v, err = env.ExecuteActivity(acts.CombineForest, CombineForestInput{RunID: "r", Keys: []string{wide.Key}})
	if err != nil {
		t.Fatal(err)
	}
	var comb CombineForestOutput
	if err := v.Get(&comb); err != nil {
		t.Fatal(err)
	}
	evaluate := func(in EvaluateInput) metrics.ScoreHist {
		t.Helper()
		in.RunID, in.Seed, in.ForestKey = "r", 3, comb.Key
		v, err := env.ExecuteActivity(acts.EvaluateForest, in)
		if err != nil {
			t.Fatal(err)
		}
		var h metrics.ScoreHist
		if err := v.Get(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	want := metrics.NewScoreHist(1000)
	parts := map[int][]byte{}
	for i := range 4 {
		if err := want.Merge(evaluate(EvaluateInput{Shard: i})); err != nil {
			t.Fatal(err)
		}
		parts[i], _ = store.Get(ctx, layout.HoldoutScoresPart("r", i))
		if err := store.Put(ctx, layout.HoldoutScoresPart("r", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := evaluate(EvaluateInput{Block: whole})
	if got.N != want.N || got.N == 0 || !slices.Equal(got.Pos, want.Pos) || !slices.Equal(got.Neg, want.Neg) {
		t.Errorf("block histogram N=%d, want the shards' merged N=%d", got.N, want.N)
	}
	for i := range 4 {
		if p, _ := store.Get(ctx, layout.HoldoutScoresPart("r", i)); string(p) != string(parts[i]) {
			t.Errorf("shard %d: block wrote a part of %d bytes, want %d", i, len(p), len(parts[i]))
		}
	}
}
