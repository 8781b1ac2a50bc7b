package strategy

import (
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// MaxQuotaRounds bounds the assignment passes that tighten quotas.
const MaxQuotaRounds = 3

// Decide runs the whole decision in process over shards of scored users,
// exactly as the workflow does over activities: exploration reserved
// first, the multiplier solved from merged shard curves, then assignment
// passes that add cap and fairness quotas until they hold. Tests and
// simulations use it; the workflow repeats its steps.
func (p *Params) Decide(shards [][]Scored, total float64, fair *campaign.Fairness) ([][]plan.Row, []Tally, Outcome) {
	out := Outcome{Budget: total, Fairness: fair, ExploreOn: true}
	for _, u := range shards {
		p.StratifyControl(u)
		out.ExploreCost += ExploreCost(u)
	}
	if total > 0 && out.ExploreCost > total/2 {
		out.ExploreOn, out.ExploreCost = false, 0
	}
	curve := func(grid []float64) (budget.Curve, float64) {
		c := budget.NewCurve(grid)
		maxRatio := 0.0
		for _, u := range shards {
			sc, r := Curve(u, grid, out.ExploreOn)
			_ = c.Merge(sc) // same grid
			maxRatio = max(maxRatio, r)
		}
		return c, maxRatio
	}
	_, maxRatio := curve([]float64{0, 1})
	hi := budget.MaxLambda(maxRatio)
	out.Curve, _ = curve(budget.Grid(0, hi, 64))
	out.Unconstrained = out.Curve.Cost[0]
	if total > 0 {
		s := budget.NewSolver(total-out.ExploreCost, hi)
		for {
			c, _ := curve(s.Grid())
			if s.Next(c) {
				break
			}
		}
		out.Lambda = s.Lambda()
	}
	qs := make([]Quotas, len(shards))
	rows := make([][]plan.Row, len(shards))
	tallies := make([]Tally, len(shards))
	for round := 0; ; round++ {
		for i, u := range shards {
			rows[i], tallies[i] = p.Assign(u, out.Lambda, qs[i], out.ExploreOn, fair != nil)
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
	return rows, tallies, out
}
