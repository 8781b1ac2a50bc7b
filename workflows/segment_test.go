package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/kmeans"
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
