package workflows

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestDecideOverBlocks: with more shards than ShardBlocks the decision
// starts one activity per block in every fan-out (the same blocks for
// scoring and assignment, each told the run's shard count), sums the
// blocks' aggregates, hands publishing every shard's plan rows in shard
// order, and records contacts from the run's shards; with ShardBlocks at
// or above the shard count it runs one activity per shard as before.
func TestDecideOverBlocks(t *testing.T) {
	for _, tc := range []struct {
		maxBlocks int
		want      []shard.Block
	}{
		{3, []shard.Block{{From: 0, To: 2}, {From: 2, To: 3}, {From: 3, To: 4}}},
		{0, []shard.Block{{From: 0, To: 1}, {From: 1, To: 2}, {From: 2, To: 3}, {From: 3, To: 4}}},
	} {
		t.Run(fmt.Sprint(tc.maxBlocks), func(t *testing.T) {
			var mu sync.Mutex
			var scoredBlocks, assignedBlocks []shard.Block
			var scoreKeys []string
			var contacts activities.RecordContactsInput
			env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
				// The features stage fans out over the same blocks.
				"Features": blockFeatures,
				"DecideScore": func(c *testsuite.MockCallWrapper) {
					c.Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
						mu.Lock()
						defer mu.Unlock()
						if in.Shards != testShards || in.Shard != in.Block.From {
							return activities.DecideScoreOutput{}, fmt.Errorf("input %d/%d %v", in.Shard, in.Shards, in.Block)
						}
						scoredBlocks = append(scoredBlocks, in.Block)
						return activities.DecideScoreOutput{Key: fmt.Sprint("scored", in.Shard), ScoreStats: strategy.ScoreStats{Users: 100 * int64(in.Block.Len()), ExploreCost: 1, MaxRatio: 2}}, nil
					})
				},
				"DecideAssign": func(c *testsuite.MockCallWrapper) {
					c.Return(func(_ context.Context, in activities.DecideAssignInput) (activities.DecideAssignOutput, error) {
						mu.Lock()
						defer mu.Unlock()
						if in.Shards != testShards || in.Key != fmt.Sprint("scored", in.Block.From) {
							return activities.DecideAssignOutput{}, fmt.Errorf("input %+v", in)
						}
						assignedBlocks = append(assignedBlocks, in.Block)
						t := strategy.NewTally(len(in.Params.Offers))
						n := int64(in.Block.Len())
						t.Users, t.Control, t.Treated = 100*n, 10*n, 30*n
						return activities.DecideAssignOutput{Key: fmt.Sprint("plan", in.Shard), Rows: 100 * n, Tally: t}, nil
					})
				},
				"Publish": func(c *testsuite.MockCallWrapper) {
					c.Return(func(_ context.Context, in activities.PublishInput) (activities.PublishOutput, error) {
						scoreKeys = in.ScoreKeys
						return activities.PublishOutput{Rows: 400}, nil
					})
				},
				"RecordContacts": func(c *testsuite.MockCallWrapper) {
					c.Return(func(_ context.Context, in activities.RecordContactsInput) (string, error) {
						contacts = in
						return "", nil
					})
				},
			})
			in := testInput()
			in.ShardBlocks = tc.maxBlocks
			sum := regenerated(t, env, in)
			less := func(x, y shard.Block) int { return x.From - y.From }
			slices.SortFunc(scoredBlocks, less)
			slices.SortFunc(assignedBlocks, less)
			if !slices.Equal(scoredBlocks, tc.want) || !slices.Equal(assignedBlocks, tc.want) {
				t.Errorf("scored %v, assigned %v; want %v", scoredBlocks, assignedBlocks, tc.want)
			}
			if sum.Plan.Rows != 400 || sum.Plan.ControlRows != 40 || sum.Plan.TreatedRows != 120 {
				t.Errorf("plan %+v: want 400 rows, 40 control, 120 treated", sum.Plan)
			}
			var want []string
			for _, b := range tc.want {
				for i := b.From; i < b.To; i++ {
					if b.Len() == 1 {
						want = append(want, fmt.Sprint("plan", i))
					} else {
						want = append(want, layout.Scores(in.RunID, i))
					}
				}
			}
			if !slices.Equal(scoreKeys, want) {
				t.Errorf("published %v, want %v", scoreKeys, want)
			}
			if contacts.RunID != in.RunID || contacts.Shards != testShards || contacts.ScoreKeys != nil {
				t.Errorf("contacts recorded from %+v", contacts)
			}
		})
	}
}

// TestDecideActivitiesBoundedByBlocks: the decision's activities do not
// grow with the shard count above ShardBlocks. With a binding budget (so
// the multiplier is solved over several curve rounds and repaired), 256
// shards in 16 blocks start exactly the activities of 16 shards, type by
// type, and 16 scorings, whereas per shard they would be 16 times as many.
func TestDecideActivitiesBoundedByBlocks(t *testing.T) {
	count := func(shards, maxBlocks int) map[string]int {
		var mu sync.Mutex
		n := map[string]int{}
		env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
			"DecideScore": func(c *testsuite.MockCallWrapper) {
				c.Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
					return activities.DecideScoreOutput{Key: fmt.Sprint(in.Block.Len()), ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
				})
			},
			// Every block's curve spends 2,000 at λ = 0, so 16 blocks
			// spend three times the budget, whatever their shards.
			"DecideCurve": func(c *testsuite.MockCallWrapper) {
				c.Return(func(_ context.Context, in activities.DecideCurveInput) (budget.Curve, error) {
					cv := budget.NewCurve(in.Lambdas)
					for k, l := range in.Lambdas {
						cv.Cost[k], cv.Chosen[k] = math.Max(0, 1000*(2-l)), int64(math.Max(0, 30*(2-l)))
					}
					return cv, nil
				})
			},
		})
		env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
			if name := info.ActivityType.Name; strings.HasPrefix(name, "Decide") {
				mu.Lock()
				n[name]++
				mu.Unlock()
			}
		})
		in := testInput()
		in.Shards, in.ShardBlocks, in.Window = shards, maxBlocks, 16
		in.Spec, in.Catalog, _ = LoadCampaign(in.Template)
		in.Spec.Budget = 10000
		env.ExecuteWorkflow(Regenerate, in)
		// The mocks' other stages do not add up at these shard counts
		// (publish checks rows); the decision has run by then.
		return n
	}
	small, large := count(16, 16), count(256, 16)
	t.Logf("decide activities at 16 and at 256 shards: %v", large)
	if !maps.Equal(small, large) || small["DecideScore"] != 16 || small["DecideCurve"] <= 16 || small["DecideUpgrades"] == 0 {
		t.Errorf("decide activities: 16 shards %v, 256 shards in 16 blocks %v; want equal, 16 scorings, several curve rounds, a repair", small, large)
	}
}

// blockFeatures mocks the features stage over blocks of shards: 100 users
// a shard of the block.
func blockFeatures(c *testsuite.MockCallWrapper) {
	c.Return(func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
		n := int64(max(1, in.Block.Len()))
		d := len(features.Names)
		m := features.NewMoments(d)
		m.Add(make([]float64, d))
		m.Add(onesVec(d))
		out := activities.FeaturesOutput{Users: 100 * n, TrainRows: 80 * n, Positives: 20 * n, Moments: m, Buyers: 50 * n, BasketSum: 5000 * float64(n)}
		if in.Lists != nil {
			out.Listed, out.Sources = 100*n, map[string]int64{"copurchase": 1000 * n}
		}
		return out, nil
	})
}

// regenerated runs Regenerate with in on env and returns its summary,
// failing the test unless it completed without error.
func regenerated(t *testing.T, env *testsuite.TestWorkflowEnvironment, in RegenerateInput) Summary {
	t.Helper()
	env.ExecuteWorkflow(Regenerate, in)
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}
