package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestSegmentInitialisation checks the workflow side of k-means||: round 0
// keeps the shard with the smallest draw, every later round gathers all
// shards' kept points under the total cost (summed in shard order) and
// ℓ = 2k, the weights are summed over shards, and the centroids come out
// sorted.
func TestSegmentInitialisation(t *testing.T) {
	var mu sync.Mutex
	var gathers []activities.KMeansGatherInput
	var reduced activities.KMeansReduceInput
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"KMeansSample": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansSampleInput) (activities.KMeansSampleOutput, error) {
				// Shard 2 has the smallest draw; shard 3 is empty.
				o := activities.KMeansSampleOutput{Key: fmt.Sprint("s", in.Block.From), Rows: 1, MinU: []float64{0.5, 0.4, 0.1, 2}[in.Block.From], Cost: float64(in.Block.From + 1)}
				if in.Block.From == 3 {
					o.Rows = 0
				}
				return o, nil
			})
		},
		"KMeansGather": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansGatherInput) (activities.KMeansGatherOutput, error) {
				mu.Lock()
				gathers = append(gathers, in)
				mu.Unlock()
				return activities.KMeansGatherOutput{Key: "cands", Count: 3}, nil
			})
		},
		"KMeansWeigh": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansWeighInput) (activities.KMeansWeighOutput, error) {
				return activities.KMeansWeighOutput{Counts: []int64{1, int64(in.Block.From), 2}, Cost: 1}, nil
			})
		},
		"KMeansReduce": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansReduceInput) (activities.KMeansReduceOutput, error) {
				reduced = in
				s := testScaler()
				hi, lo := make([]float64, s.Dim()), make([]float64, s.Dim())
				hi[0] = 1
				return activities.KMeansReduceOutput{Centroids: [][]float64{hi, lo}, Candidates: len(in.Weights)}, nil
			})
		},
	})
	env.ExecuteWorkflow(Segment, SegmentInput{RunID: "t", Shards: 4, K: 2, Seed: 9, Scaler: testScaler(), Rounds: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out SegmentOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if len(gathers) != 4 {
		t.Fatalf("%d gathers, want 1 + 3 rounds", len(gathers))
	}
	if g := gathers[0]; !g.All || !reflect.DeepEqual(g.Keys, []string{"s2"}) || g.Prev != "" {
		t.Errorf("round 0 gather %+v: want shard 2's point alone", g)
	}
	for r, g := range gathers[1:] {
		if g.Round != r+1 || g.Cost != 1+2+3+4 || g.L != 4 || g.All || g.Prev != "cands" || len(g.Keys) != 4 {
			t.Errorf("round %d gather %+v: want every shard's points under cost 10 and l = 4", r+1, g)
		}
	}
	if !reflect.DeepEqual(reduced.Weights, []float64{4, 0 + 1 + 2 + 3, 8}) || reduced.K != 2 || reduced.Seed != 9 || reduced.Restarts != 10 {
		t.Errorf("reduce input %+v", reduced)
	}
	if out.Init.Rounds != 3 || out.Init.Candidates != 3 || out.Init.SeedCost != 4 {
		t.Errorf("init stats %+v", out.Init)
	}
	if out.Centroids[0][0] != 0 || out.Centroids[1][0] != 1 {
		t.Errorf("centroids %v not sorted", out.Centroids)
	}
}

// TestRegenerateChoosesK runs a regeneration with a range of k: the child
// asks KMeansChooseK and the summary reports the chosen k and the scores.
func TestRegenerateChoosesK(t *testing.T) {
	env := newEnv(t, nil)
	in := testInput()
	in.K, in.KMin, in.KMax = 0, 2, 4
	env.ExecuteWorkflow(Regenerate, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	env.AssertNumberOfCalls(t, "KMeansChooseK", 1)
	data, _ := json.Marshal(sum.KMeans)
	var km struct {
		K       int             `json:"k"`
		KScores []kmeans.KScore `json:"k_scores"`
	}
	if err := json.Unmarshal(data, &km); err != nil {
		t.Fatal(err)
	}
	if km.K != 2 || len(km.KScores) != 1 || len(sum.Segments) != 2 {
		t.Errorf("kmeans %s, %d segments: want k = 2 chosen, with its scores", data, len(sum.Segments))
	}
	if sum.Segments[0].TopTerms[0].Term != "boot" || sum.Features == nil || sum.Features.Table == "" {
		t.Errorf("segments %+v, features %+v", sum.Segments, sum.Features)
	}

	bad := testInput()
	bad.K, bad.KMin, bad.KMax = 0, 5, 3
	bad.Defaults()
	if err := bad.Validate(); err == nil {
		t.Error("k range [5, 3] validated")
	}
}

// TestSegmentOverBlocks: with more shards than ShardBlocks every round
// starts one activity per block (shard.Blocks: contiguous, in order), and
// the Lloyd iterations reduce one partial per block.
func TestSegmentOverBlocks(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]shard.Block{}
	record := func(name string, b shard.Block) {
		mu.Lock()
		defer mu.Unlock()
		seen[name] = append(seen[name], b)
	}
	d := len(features.SegmentNames)
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"KMeansSample": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansSampleInput) (activities.KMeansSampleOutput, error) {
				if in.Round == 0 {
					record("sample", in.Block)
				}
				return activities.KMeansSampleOutput{Key: fmt.Sprint("s", in.Block.From), Rows: 1, MinU: 0.5, Cost: 1}, nil
			})
		},
		"KMeansWeigh": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansWeighInput) (activities.KMeansWeighOutput, error) {
				record("weigh", in.Block)
				return activities.KMeansWeighOutput{Counts: []int64{1, 1, 1, 1}, Cost: 1}, nil
			})
		},
		"KMeansStep": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansStepInput) (kmeans.Partial, error) {
				record("step", in.Block)
				p := kmeans.NewPartial(len(in.Centroids), d)
				p.Add(make([]float64, d), in.Centroids)
				p.Add(onesVec(d), in.Centroids)
				return p, nil
			})
		},
	})
	env.ExecuteWorkflow(Segment, SegmentInput{RunID: "t", Shards: 10, ShardBlocks: 4, K: 2, Seed: 9, Scaler: testScaler(), Rounds: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out SegmentOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	want := []shard.Block{{From: 0, To: 3}, {From: 3, To: 6}, {From: 6, To: 8}, {From: 8, To: 10}}
	sorted := func(bs []shard.Block) []shard.Block {
		bs = slices.Clone(bs)
		slices.SortFunc(bs, func(a, b shard.Block) int { return a.From - b.From })
		return bs
	}
	for _, name := range []string{"sample", "weigh"} {
		if got := sorted(seen[name]); !reflect.DeepEqual(got, want) {
			t.Errorf("%s blocks %v, want %v", name, got, want)
		}
	}
	if n := len(seen["step"]); out.Iterations < 2 || n != 4*out.Iterations {
		t.Errorf("%d KMeansStep calls for %d iterations: want 4 per iteration", n, out.Iterations)
	}
}

// TestSegmentResumesInitialisation: a run continued as new in the middle
// of k-means|| starts from the carried round and candidates: no choice of
// k, no round 0, the next gather appends to the carried candidates.
func TestSegmentResumesInitialisation(t *testing.T) {
	var mu sync.Mutex
	var rounds []int
	var gathers []activities.KMeansGatherInput
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"KMeansSample": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansSampleInput) (activities.KMeansSampleOutput, error) {
				mu.Lock()
				defer mu.Unlock()
				rounds = append(rounds, in.Round)
				return activities.KMeansSampleOutput{Key: fmt.Sprint("s", in.Block.From), Rows: 1, Cost: 1}, nil
			})
		},
		"KMeansGather": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.KMeansGatherInput) (activities.KMeansGatherOutput, error) {
				gathers = append(gathers, in)
				return activities.KMeansGatherOutput{Key: fmt.Sprint("c", in.Round), Count: 4}, nil
			})
		},
	})
	env.ExecuteWorkflow(Segment, SegmentInput{RunID: "t", Shards: 2, K: 2, KMin: 2, KMax: 4, Seed: 9, Scaler: testScaler(), Rounds: 3,
		InitRound: 2, Cands: activities.KMeansGatherOutput{Key: "c1", Count: 3}, Init: InitStats{Rounds: 1}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out SegmentOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	env.AssertNumberOfCalls(t, "KMeansChooseK", 0)
	slices.Sort(rounds)
	if !reflect.DeepEqual(rounds, []int{2, 2, 3, 3}) {
		t.Errorf("sampled rounds %v, want rounds 2 and 3 on both shards", rounds)
	}
	if len(gathers) != 2 || gathers[0].Prev != "c1" || gathers[0].Round != 2 || gathers[1].Prev != "c2" {
		t.Errorf("gathers %+v: want rounds 2 and 3 after the carried candidates c1", gathers)
	}
	if out.Init.Rounds != 3 || out.K != 2 {
		t.Errorf("init %+v, k %d", out.Init, out.K)
	}
}
