package workflows

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
)

// executorUsers are n random users for shards shards, by shard (in id
// order within a shard): propensities, baskets, orders and recency spread
// so that every offer of the weekly template is eligible for some, and
// some are suppressed.
func executorUsers(seed uint64, n, shards int) [][]strategy.User {
	rng := rand.New(rand.NewPCG(seed, 19))
	out := make([][]strategy.User, shards)
	segs := []string{"loyal", "new", "lapsed"}
	cats := []string{"shoes", "bags", "hats"}
	for i := range n {
		u := strategy.User{
			ID: fmt.Sprintf("u%05d", i), Segment: segs[rng.IntN(len(segs))], Propensity: rng.Float64() * 0.8,
			Basket: 20 + rng.ExpFloat64()*60, Orders: float64(rng.IntN(8)), RecencyDays: rng.Float64() * 120,
			Categories: []string{cats[rng.IntN(len(cats))]},
		}
		u.Member = strategy.ProxyMember(u.Orders)
		if rng.IntN(25) == 0 {
			u.Suppressed = strategy.OptedOut
		}
		s := shard.Of(u.ID, shards)
		out[s] = append(out[s], u)
	}
	return out
}

// executorGroup is a user's sensitive group, correlated with offers (so
// that the fairness bound withholds).
func executorGroup(u strategy.User) string {
	if u.Propensity > 0.6 {
		return "a"
	}
	return []string{"a", "b", "c"}[shard.Of(u.ID+"/g", 3)]
}

// TestDecideExecutorsAgree: the decision workflow under the test suite,
// its requests run by the real DecideCurve, DecideAssign and
// DecideUpgrades activities on an in-memory store, plans exactly what
// strategy.Params.DecideBlocks plans in process from the same scored
// users: the same plan rows (as published, CSV bytes), the same tallies,
// multiplier, re-solves and repair. The cases cover no budget, a binding
// budget (solve and repair), offer caps (quotas and a re-solve), the
// fairness bound, a minimum control group (top-up), blocks of shards, and
// all of them on other users.
// Scoring is the test's (strategy.Params.Score over random users, control
// stratified shard by shard, as DecideScore leaves them): the decision
// loop is what the two executors share.
func TestDecideExecutorsAgree(t *testing.T) {
	for _, tc := range []struct {
		name           string
		shards, blocks int
		budget         float64
		capCount       int64 // on coupon5
		fair           bool
		minControl     int
		seed           uint64 // of the users; 0: 7
		wantLambda     bool   // the budget binds
		wantQuotas     bool
	}{
		{name: "no budget", shards: 4},
		{name: "binding", shards: 4, budget: 300, wantLambda: true},
		{name: "caps", shards: 4, budget: 600, capCount: 40, wantLambda: true, wantQuotas: true},
		{name: "fairness", shards: 4, budget: 400, fair: true, wantLambda: true, wantQuotas: true},
		{name: "min control", shards: 4, budget: 300, minControl: 400, wantLambda: true},
		{name: "blocks", shards: 8, blocks: 3, budget: 300, capCount: 30, wantLambda: true, wantQuotas: true},
		{name: "everything", shards: 5, blocks: 2, budget: 350, capCount: 35, fair: true, minControl: 500, seed: 11, wantLambda: true, wantQuotas: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := executorUsers(cmp.Or(tc.seed, 7), 2000, tc.shards)
			store := blob.NewMem()
			acts := &activities.Activities{Store: store, TempDir: t.TempDir()}
			var mu sync.Mutex
			var params *strategy.Params
			blocks := map[int][]strategy.Scored{} // by the block's first shard
			env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
				// The second input is a profiles table, so that the run may
				// audit fairness.
				"IngestPlan": func(c *testsuite.MockCallWrapper) {
					c.Return(func(_ context.Context, in activities.IngestPlanInput) (activities.IngestPlanOutput, error) {
						table := "events"
						if in.Index == 1 {
							table = canon.ProfilesName
						}
						return activities.IngestPlanOutput{Sources: []activities.IngestSource{
							{Name: fmt.Sprint(in.Index), Key: in.Key, Table: table, Splits: []ingest.Split{{}}}}}, nil
					})
				},
				"DecideScore": func(c *testsuite.MockCallWrapper) {
					c.Return(func(ctx context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
						b := in.Block
						if b.Len() == 0 {
							b = shard.Block{From: in.Shard, To: in.Shard + 1}
						}
						p := in.Params
						var all []strategy.Scored
						for i := b.From; i < b.To; i++ {
							scored := make([]strategy.Scored, len(users[i]))
							for j, u := range users[i] {
								scored[j] = p.Score(u, nil, nil, nil)
								if in.Sensitive != "" {
									scored[j].Group = executorGroup(u)
								}
							}
							p.StratifyControl(scored)
							all = append(all, scored...)
						}
						key := layout.Scored(in.RunID, b.From)
						if b.Len() > 1 {
							key = layout.ScoredBlock(in.RunID, b)
						}
						if err := store.Put(ctx, key, strategy.EncodeScored(all)); err != nil {
							return activities.DecideScoreOutput{}, err
						}
						mu.Lock()
						defer mu.Unlock()
						params, blocks[b.From] = &p, all
						return activities.DecideScoreOutput{Key: key, ScoreStats: p.Stats(all)}, nil
					})
				},
				// 100 users a shard in the features stage's count, whatever
				// its blocks (the decision counts its own).
				"Features": blockFeatures,
				"PublishFeatures": func(c *testsuite.MockCallWrapper) {
					c.Return(activities.PublishFeaturesOutput{Rows: 100 * int64(tc.shards)}, nil)
				},
				"Publish":        func(c *testsuite.MockCallWrapper) { c.Return(acts.Publish) },
				"DecideCurve":    func(c *testsuite.MockCallWrapper) { c.Return(acts.DecideCurve) },
				"DecideUpgrades": func(c *testsuite.MockCallWrapper) { c.Return(acts.DecideUpgrades) },
				"DecideAssign": func(c *testsuite.MockCallWrapper) {
					// The test writes no recommendations.
					c.Return(func(ctx context.Context, in activities.DecideAssignInput) (activities.DecideAssignOutput, error) {
						in.Recommendations = ""
						return acts.DecideAssign(ctx, in)
					})
				},
			})
			in := testInput()
			in.Shards, in.ShardBlocks = tc.shards, tc.blocks
			in.Spec, in.Catalog, _ = LoadCampaign(in.Template)
			in.Spec.Budget, in.Spec.MinControl = tc.budget, tc.minControl
			if tc.fair {
				in.Spec.Fairness = &campaign.Fairness{Attribute: "gender", MaxGap: 0.05}
			}
			for i := range in.Catalog.Offers {
				if in.Catalog.Offers[i].ID == "coupon5" {
					in.Catalog.Offers[i].Caps.Count = tc.capCount
				}
			}
			sum := regenerated(t, env, in)

			// In process, from the same scored users and rules.
			p := *params
			p.ControlBelow = 0
			var local [][]strategy.Scored
			for _, b := range shard.Blocks(tc.shards, tc.blocks) {
				local = append(local, blocks[b.From])
			}
			var fair *campaign.Fairness
			if tc.fair {
				fair = in.Spec.Fairness
			}
			rows, tallies, out := p.DecideBlocks(local, tc.budget, fair)
			total := strategy.NewTally(len(p.Offers))
			for _, x := range tallies {
				total.Merge(x)
			}
			want := p.Summarize(in.Spec, total, out)

			got := sum.Strategy
			t.Logf("λ %.4g, quotas %v, resolves %d, repair %+v, control floor %.3f, cost %.2f of %v", out.Lambda, out.Quotas, out.Resolves, out.Repair, p.ControlBelow, total.Cost, tc.budget)
			if (out.Lambda > 0) != tc.wantLambda || out.Quotas != tc.wantQuotas || (tc.wantLambda && out.Repair == nil) {
				t.Errorf("in process: λ %v, quotas %v, repair %v; want binding %v, quotas %v", out.Lambda, out.Quotas, out.Repair, tc.wantLambda, tc.wantQuotas)
			}
			if g, w := jsonOf(t, got.Budget), jsonOf(t, want.Budget); g != w {
				t.Errorf("budget: workflow %s, in process %s", g, w)
			}
			if g, w := jsonOf(t, got.Offers), jsonOf(t, want.Offers); g != w {
				t.Errorf("offers: workflow %s, in process %s", g, w)
			}
			if tc.minControl > 0 && (p.ControlBelow <= 0 || !got.Measurability.ToppedUp) {
				t.Errorf("control floor %v, workflow topped up %v: want a top-up", p.ControlBelow, got.Measurability.ToppedUp)
			}
			if sum.Plan.Rows != total.Users || sum.Plan.TreatedRows != total.Treated || sum.Plan.ControlRows != total.Control ||
				sum.Plan.ExpectedCost != total.Cost {
				t.Errorf("plan: workflow %+v, in process %d rows, %d treated, %d control, cost %v", sum.Plan, total.Users, total.Treated, total.Control, total.Cost)
			}
			if tc.budget > 0 && total.Cost > tc.budget*(1+1e-9) {
				t.Errorf("cost %v over the budget %v", total.Cost, tc.budget)
			}

			// The plan rows, as published (Publish, the real activity).
			var wantCSV bytes.Buffer
			w := plan.NewCSVWriter(&wantCSV)
			for _, r := range rows {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			gotCSV, err := store.Get(context.Background(), layout.Campaign(in.RunID)+"plan.csv")
			if err != nil {
				t.Fatal(err)
			}
			if wantCSV.Len() == 0 || !bytes.Equal(gotCSV, wantCSV.Bytes()) {
				t.Errorf("plan rows differ: workflow %d bytes, in process %d bytes", len(gotCSV), wantCSV.Len())
			}
		})
	}
}

// jsonOf is v as JSON.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
