package workflows

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestDecideRepairsBudget: when the budget binds, the decision asks every
// shard for its upgrades after the multiplier, picks in gain-per-cost order
// what fits the budget, and assigns again only the shards with picks,
// passing each its own rounds; the summary counts what the repair did. Each
// shard's multiplier spends 10 of a 50 budget; in the first round each
// proposes an addition of gain 3 for 2 and one of gain 1 for 4 (only the
// first four fit), then nothing.
func TestDecideRepairsBudget(t *testing.T) {
	in := testInput()
	in.Spec, in.Catalog, _ = LoadCampaign(in.Template)
	in.Spec.Budget = 50
	coupon := slices.IndexFunc(in.Catalog.Resolve(in.Spec.Offers), func(o campaign.Offer) bool { return o.ID == "coupon5" })
	var upgrades, reassigned []int
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"DecideCurve": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.DecideCurveInput) (budget.Curve, error) {
				cv := budget.NewCurve(in.Lambdas)
				for k, l := range in.Lambdas {
					cv.Cost[k], cv.Chosen[k] = math.Max(0, 20*(2-l)), int64(math.Max(0, 30*(2-l)))
				}
				return cv, nil
			})
		},
		"DecideUpgrades": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.DecideUpgradesInput) ([]strategy.Upgrade, error) {
				if in.Lambda <= 0 || in.K < 8 {
					return nil, fmt.Errorf("λ %v, k %d", in.Lambda, in.K)
				}
				if len(in.Repair) > 0 {
					return nil, nil
				}
				upgrades = append(upgrades, len(in.Repair))
				return []strategy.Upgrade{
					{Increment: budget.Increment{Gain: 3, Extra: 2}, From: -1, To: coupon, Cost: 2},
					{Increment: budget.Increment{Gain: 1, Extra: 4}, From: -1, To: coupon, Cost: 4},
				}, nil
			})
		},
		"DecideAssign": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.DecideAssignInput) (activities.DecideAssignOutput, error) {
				t := strategy.NewTally(len(in.Params.Offers))
				t.Users, t.Treated, t.Cost = 100, 10, 10
				t.Offers[coupon].Users, t.Offers[coupon].Cost = 10, 10
				for _, r := range in.Repair {
					reassigned = append(reassigned, in.Shard)
					for range r.Picks {
						t.Treated++
						t.Cost += 2
						t.Repaired++
						t.Added++
						t.RepairCost += 2
						t.Offers[coupon].Users++
						t.Offers[coupon].Cost += 2
					}
				}
				return activities.DecideAssignOutput{Key: fmt.Sprint("plan", in.Shard), Rows: 100, Tally: t}, nil
			})
		},
	})
	sum := regenerated(t, env, in)
	b := sum.Strategy.Budget
	if b.Lambda <= 0 || b.Repair == nil {
		t.Fatalf("budget %+v: want a binding multiplier and a repair", b)
	}
	if r := *b.Repair; r.Rounds != 2 || r.Before != 40 || r.Users != 4 || r.Added != 4 || r.Cost != 8 || b.Used != 48 {
		t.Errorf("repair %+v, used %v; want 2 rounds, 40 before, 4 users added for 8, 48 used", r, b.Used)
	}
	slices.Sort(reassigned)
	if len(upgrades) != testShards || !slices.Equal(reassigned, []int{0, 1, 2, 3}) {
		t.Errorf("first-round proposals from %d shards, shards assigned again %v", len(upgrades), reassigned)
	}
	// 2 rounds of proposals; every shard assigned once by the multiplier and
	// once with its repair.
	env.AssertNumberOfCalls(t, "DecideUpgrades", 2*testShards)
	env.AssertNumberOfCalls(t, "DecideAssign", 2*testShards)
}
