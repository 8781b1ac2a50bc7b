package strategy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/shard"
)

// exactValue is the optimum of the multiple-choice knapsack of the users'
// options (whole-number costs; each user takes one option or none, total
// cost at most budget), by dynamic programming over the money spent.
func exactValue(users []Scored, budget int) float64 {
	best := make([]float64, budget+1)
	next := make([]float64, budget+1)
	for _, u := range users {
		copy(next, best)
		for _, o := range u.Options {
			w := int(o.Cost)
			if float64(w) != o.Cost || !(o.Value > 0) {
				continue
			}
			for c := budget; c >= w; c-- {
				if v := best[c-w] + o.Value; v > next[c] {
					next[c] = v
				}
			}
		}
		best, next = next, best
	}
	return best[budget]
}

// knapsackUsers are n candidates with up to offers options each, costed
// like promoflow's (fixed costs and shares of heavy-tailed baskets, each
// times a redemption rate), rounded to whole numbers for the exact solver.
func knapsackUsers(rng *rand.Rand, n, offers int, objective string, sigma, scale float64) []Scored {
	users := make([]Scored, n)
	for i := range users {
		basket := 15 * math.Exp(rng.NormFloat64()*sigma)
		prop := rng.Float64()
		u := Scored{UserID: fmt.Sprintf("u%05d", i), Segment: "s", Status: Candidate, Prop: prop, Basket: basket, Pick: -1}
		for k := range offers {
			if rng.IntN(4) == 0 {
				continue // not eligible
			}
			lift := 0.05 + 0.3*rng.Float64()
			face := float64(3 + 2*k)
			if k%2 == 1 {
				face = (0.05 + 0.05*float64(k)) * basket
			}
			cost := math.Max(1, math.Round(scale*math.Min(1, prop+lift)*face))
			rev := scale * lift * (1 - prop) * basket * 6
			v := 0.4*rev - cost
			if objective == "revenue" {
				v = rev
			}
			u.Options = append(u.Options, Option{Offer: k, Revenue: rev, Value: v, Cost: cost, Face: face, Source: SourcePrior})
		}
		users[i] = u
	}
	return users
}

// TestRepairAgainstExact runs the whole decision (multiplier, budget repair
// over shards, assignment) on multiple-choice knapsacks up to 2,000 users x
// 8 offers and compares the plan's value with the exact optimum (a dynamic
// program): never over budget, at least 99.5% of it used, at least 99.7% of
// the optimum, the same plan value whatever the number of shards' rounding
// aside, and the rows say who the repair changed. The figures are logged
// (go test -v -run TestRepairAgainstExact ./internal/strategy).
func TestRepairAgainstExact(t *testing.T) {
	offers := make([]campaign.Offer, 8)
	for k := range offers {
		offers[k] = campaign.Offer{ID: fmt.Sprintf("o%d", k), Kind: campaign.Coupon, Channel: "email"}
	}
	for _, tc := range []struct {
		seed      uint64
		objective string
		sigma     float64 // of the log basket: the spread of costs
		scale     float64 // money units per currency unit: costs are whole units
		users     int
		offers    int
		fraction  float64 // budget, of the unconstrained cost
	}{
		{1, "profit", 1.1, 1, 300, 4, 0.3},
		{2, "profit", 1.1, 1, 859, 4, 0.5},
		{3, "profit", 1.1, 1, 1000, 8, 0.1},
		{4, "profit", 1.1, 1, 2000, 8, 0.2},
		{5, "profit", 1.1, 1, 2000, 8, 0.6},
		{6, "revenue", 1.5, 1, 300, 4, 0.3},
		{7, "revenue", 1.5, 1, 859, 4, 0.3},
		{8, "revenue", 1.5, 1, 2000, 8, 0.05},
		{9, "revenue", 1.8, 1, 2000, 8, 0.3},
		{10, "revenue", 1.8, 1, 859, 4, 0.7},
		// Costs in tenths: a cut-off user's cost is many units, the
		// multiplier leaves more behind.
		{11, "revenue", 1.5, 10, 859, 4, 0.1},
		{12, "revenue", 1.8, 10, 300, 4, 0.3},
		{13, "profit", 1.5, 10, 2000, 8, 0.3},
		{14, "revenue", 1.5, 10, 2000, 8, 0.02},
		{15, "profit", 1.8, 10, 859, 8, 0.5},
	} {
		p := Params{Template: "t", Objective: tc.objective, Margin: 0.4, Offers: offers, Salt: "c"}
		rng := rand.New(rand.NewPCG(tc.seed, 3))
		users := knapsackUsers(rng, tc.users, tc.offers, tc.objective, tc.sigma, tc.scale)
		unconstrained := 0.0
		for i := range users {
			if j := users[i].Best(0); j >= 0 {
				unconstrained += users[i].Options[j].Cost
			}
		}
		// Half a unit over a whole number: the optimum is the dynamic
		// program's at the whole number (whole-number costs).
		budget := math.Floor(tc.fraction*unconstrained) + 0.5
		opt := exactValue(users, int(budget))
		for _, n := range []int{1, 4, 8} {
			shards := make([][]Scored, n)
			for _, u := range users {
				s := shard.Of(u.UserID, n)
				shards[s] = append(shards[s], u)
			}
			rows, tallies, out := p.Decide(shards, budget, nil)
			tot := NewTally(len(offers))
			for _, x := range tallies {
				tot.Merge(x)
			}
			if out.Repair == nil {
				t.Fatalf("seed %d, %d shards: no repair", tc.seed, n)
			}
			t.Logf("%s, %d users x %d offers, budget %.1f, %d shards: multiplier λ %.4f spent %.2f%%, value %.5f of the optimum -> repair (%d rounds, %d users, %d added) %.2f%%, value %.5f of the exact optimum %.2f",
				tc.objective, tc.users, tc.offers, budget, n, out.Lambda, 100*out.Repair.Before/budget, (tot.Value-tot.RepairGain)/opt,
				out.Repair.Rounds, tot.Repaired, tot.Added, 100*tot.Cost/budget, tot.Value/opt, opt)
			if tot.Cost > budget {
				t.Errorf("seed %d, %d shards: cost %.4f over budget %.1f", tc.seed, n, tot.Cost, budget)
			}
			if tot.Cost < 0.995*budget {
				t.Errorf("seed %d, %d shards: %.3f%% of the budget used, want at least 99.5%%", tc.seed, n, 100*tot.Cost/budget)
			}
			if tot.Value < 0.997*opt || tot.Value > opt*(1+1e-12) {
				t.Errorf("seed %d, %d shards: value %.4f, exact optimum %.4f (%.5f), want at least 0.997", tc.seed, n, tot.Value, opt, tot.Value/opt)
			}
			if math.Abs(tot.Cost-out.Repair.Before-tot.RepairCost) > 1e-6 {
				t.Errorf("seed %d, %d shards: cost %.6f, before the repair %.6f + its extra %.6f", tc.seed, n, tot.Cost, out.Repair.Before, tot.RepairCost)
			}
			var marked int64
			for _, rs := range rows {
				for _, r := range rs {
					if strings.Contains(r.Reasons, "budget left at the cut-off") {
						marked++
					}
				}
			}
			if marked != tot.Repaired {
				t.Errorf("seed %d, %d shards: %d rows give the repair as reason, tally says %d", tc.seed, n, marked, tot.Repaired)
			}
		}
	}
}

// TestRepairCaps: the repair's check keeps count and money caps over all
// shards, accounts what it accepts and gives back what an upgrade leaves.
func TestRepairCaps(t *testing.T) {
	p := Params{Offers: []campaign.Offer{
		{ID: "a", Caps: campaign.Caps{Count: 3}},
		{ID: "b", Caps: campaign.Caps{Money: 10}},
		{ID: "c"},
	}}
	total := NewTally(3)
	total.Offers[0] = OfferTally{Users: 2, Cost: 4}
	total.Offers[1] = OfferTally{Users: 1, Cost: 6}
	fits := p.RepairCaps(total)
	up := func(from, to int, cost, extra float64) Upgrade {
		return Upgrade{From: from, To: to, Cost: cost}.with(extra)
	}
	for i, tc := range []struct {
		u    Upgrade
		want bool
	}{
		{up(-1, 0, 2, 2), true},  // a: 3 of 3
		{up(-1, 0, 2, 2), false}, // a: full
		{up(0, 1, 5, 3), false},  // b: 6 + 5 > 10
		{up(0, 1, 4, 2), true},   // b: 10 of 10; a: 2 of 3
		{up(2, 0, 1, 1), true},   // a: 3 of 3 again
		{up(1, 2, 9, 5), true},   // c: no cap; b gives back 4: 6 of 10
		{up(-1, 1, 4, 4), true},  // b: 10
		{up(-1, 1, 0.5, 0.5), false},
		{up(-1, 2, 1, 1), true},
		{up(2, 2, 1, 0), false}, // not a change
	} {
		if got := fits(tc.u); got != tc.want {
			t.Errorf("step %d %+v: %v, want %v", i, tc.u, got, tc.want)
		}
	}
}

func (u Upgrade) with(extra float64) Upgrade {
	u.Gain, u.Extra = 1, extra
	return u
}

// TestRepairKeepsRules: the repair changes only candidates: control users,
// kept explorers, suppressed and ineligible users keep what the decision
// gave them, and under a fairness bound nobody is added.
func TestRepairKeepsRules(t *testing.T) {
	users := randomUsers(rand.New(rand.NewPCG(21, 5)), 4000)
	for _, fair := range []*campaign.Fairness{nil, {Attribute: "g", MaxGap: 0.5}} {
		p := params("revenue")
		shards := scoreShards(&p, users, 3, fair != nil)
		rows, tallies, out := p.Decide(shards, 1500, fair)
		tot := sumTallies(tallies)
		if out.Repair == nil || tot.Repaired == 0 {
			t.Fatalf("fairness %v: repair %+v changed %d users; the instance should need it", fair != nil, out.Repair, tot.Repaired)
		}
		if fair != nil && tot.Added != 0 {
			t.Errorf("under a fairness bound the repair added %d users", tot.Added)
		}
		for s, rs := range rows {
			for i, r := range rs {
				u := shards[s][i]
				repaired := strings.Contains(r.Reasons, "budget left at the cut-off")
				if repaired && (r.Control || r.Explore || u.Status != Candidate && u.Status != Explore) {
					t.Errorf("user %s (status %d) changed by the repair: %+v", u.UserID, u.Status, r)
				}
			}
		}
		if tot.Cost > 1500 {
			t.Errorf("cost %.4f over budget", tot.Cost)
		}
	}
}

// BenchmarkUpgrades is one shard's part of a repair round at the
// workflow's shard size (37,500 users): the choices at λ, two earlier
// rounds replayed, and the proposals.
func BenchmarkUpgrades(b *testing.B) {
	users := randomUsers(rand.New(rand.NewPCG(8, 8)), 37500)
	p := params("profit")
	p.Offers = nil
	for _, o := range testOffers {
		o.Caps = campaign.Caps{}
		p.Offers = append(p.Offers, o)
	}
	shards := scoreShards(&p, users, 1, false)
	_, _, out := p.Decide(shards, 20000, nil)
	rounds := []RepairRound{{Limit: 50, K: 128, Picks: []int{0, 3, 5}}, {Limit: 30, K: 128, Picks: []int{1}}}
	b.ResetTimer()
	for range b.N {
		p.Upgrades(shards[0], out.Lambda, Quotas{}, false, rounds, 20, 128)
	}
}
