package strategy

import (
	"slices"

	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// MaxQuotaRounds bounds the assignment passes that tighten quotas.
const MaxQuotaRounds = 3

// Decide runs the whole decision in process over shards of scored users,
// exactly as the workflow does over activities: exploration reserved
// first, the multiplier solved from merged shard curves, then assignment
// passes that add cap and fairness quotas until they hold, and, when the
// quotas left budget unspent, the multiplier solved again under them and
// the assignment passes repeated; and when the budget binds, the budget
// repair spends what the multiplier left (RepairDue). Tests and
// simulations use it; the workflow repeats its steps.
func (p *Params) Decide(shards [][]Scored, total float64, fair *campaign.Fairness) ([][]plan.Row, []Tally, Outcome) {
	out := Outcome{Budget: total, Fairness: fair}
	qs := make([]Quotas, len(shards))
	costs := make([]float64, len(shards))
	for _, u := range shards {
		p.StratifyControl(u)
	}
	shards = slices.Clone(shards)
	if c := p.controlFloor(shards); c > 0 {
		p.ControlBelow = c
		for i := range shards {
			shards[i] = p.TopUpControl(shards[i])
		}
	}
	for i, u := range shards {
		costs[i] = ExploreCost(u)
		out.ExploreCost += costs[i]
	}
	p.CapExploration(qs, costs, total, &out)
	curve := func(grid []float64) (budget.Curve, float64) {
		c := budget.NewCurve(grid)
		maxRatio := 0.0
		for i, u := range shards {
			sc, r := p.Curve(u, grid, qs[i], fair != nil)
			_ = c.Merge(sc) // same grid
			maxRatio = max(maxRatio, r)
		}
		return c, maxRatio
	}
	_, maxRatio := curve([]float64{0, 1})
	hi := budget.MaxLambda(maxRatio)
	out.Curve, _ = curve(budget.Grid(0, hi, 64))
	out.Unconstrained = out.Curve.Cost[0]
	solve := func() {
		s := budget.NewSolver(total-out.ExploreCost, hi)
		for {
			c, _ := curve(s.Grid())
			if s.Next(c) {
				break
			}
		}
		out.Lambda = s.Lambda()
	}
	if total > 0 {
		solve()
	}
	rows := make([][]plan.Row, len(shards))
	tallies := make([]Tally, len(shards))
	assign := func() {
		for round := 0; ; round++ {
			for i, u := range shards {
				rows[i], tallies[i] = p.Assign(u, out.Lambda, qs[i], fair != nil)
			}
			if round == MaxQuotaRounds {
				break
			}
			added := p.AddCapQuotas(qs, tallies)
			if fair != nil && AddFairnessQuotas(qs, tallies, fair.MaxGap) {
				added = true
			}
			if !added {
				break
			}
			out.Quotas = true
		}
	}
	assign()
	for {
		var spent float64
		for _, t := range tallies {
			spent += t.Cost
		}
		if !out.NeedsResolve(spent) {
			break
		}
		// Quotas only tighten, so the cost at the new multiplier, which the
		// quota-bound curve gives exactly, still fits after more rounds.
		out.Resolves++
		solve()
		assign()
	}
	// The budget repair: shards propose, the merge picks, shards apply.
	if out.RepairDue() {
		sum := NewTally(len(p.Offers))
		for _, t := range tallies {
			sum.Merge(t)
		}
		rounds := make([][]RepairRound, len(shards))
		r := budget.NewRepair(total, sum.Cost)
		fits := p.RepairCaps(sum)
		out.Repair = &RepairOutcome{Before: sum.Cost}
		for {
			limit, k := r.Limit(), r.PerShard(len(shards))
			ups := make([][]Upgrade, len(shards))
			incs := make([][]budget.Increment, len(shards))
			for i, u := range shards {
				ups[i] = p.Upgrades(u, out.Lambda, qs[i], fair != nil, rounds[i], limit, k)
				incs[i] = Increments(ups[i])
			}
			picks, done := r.Next(incs, func(s, j int) bool { return fits(ups[s][j]) })
			out.Repair.Rounds++
			for i, pk := range picks {
				if len(pk) > 0 {
					rounds[i] = append(rounds[i], RepairRound{Limit: limit, K: k, Picks: pk})
				}
			}
			if done {
				break
			}
		}
		for i, u := range shards {
			rows[i], tallies[i] = p.AssignRepaired(u, out.Lambda, qs[i], fair != nil, rounds[i])
		}
	}
	return rows, tallies, out
}

// controlFloor is the ControlBelow the shards need for the template's
// minimum control group, found as the workflow finds it (ControlFloor of
// the shards' histograms and control users).
func (p *Params) controlFloor(shards [][]Scored) float64 {
	if p.MinControl <= 0 {
		return 0
	}
	hist := make([]int64, ControlBins)
	var control int64
	for _, u := range shards {
		for b, n := range p.ControlHist(u) {
			hist[b] += n
		}
		for i := range u {
			if u[i].Status == Control {
				control++
			}
		}
	}
	return ControlFloor(hist, control, p.MinControl)
}

// CapExploration limits exploration's spending to ExploreBudgetFactor x
// the exploration share of the budget, split among shards by their drawn
// cost (costs), and sets out.ExploreCost to what is reserved for it.
func (p *Params) CapExploration(qs []Quotas, costs []float64, total float64, out *Outcome) {
	limit := ExploreBudgetFactor * p.ExploreShare * total
	if total <= 0 || out.ExploreCost <= limit {
		return
	}
	parts := SplitMoney(limit, costs)
	for i := range qs {
		qs[i].ExploreCapped, qs[i].ExploreMoney = true, parts[i]
	}
	out.ExploreCost = limit
}
