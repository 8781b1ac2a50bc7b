package strategy

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// MaxQuotaRounds bounds the assignment passes that tighten quotas.
const MaxQuotaRounds = 3

// Decide runs the decision in process over shards of scored users, a
// block each: every shard's control group is stratified here
// (StratifyControl, in place), then DecideBlocks. Tests, benchmarks and
// simulations use it.
func (p *Params) Decide(shards [][]Scored, total float64, fair *campaign.Fairness) ([][]plan.Row, []Tally, Outcome) {
	for _, u := range shards {
		p.StratifyControl(u)
	}
	return p.DecideBlocks(shards, total, fair)
}

// DecideBlocks runs the decision (Driver) in process over blocks of
// scored users as the workflow's scoring leaves them (control groups
// stratified shard by shard, the block's shards in shard order): it sets
// the control floor on p and runs the driver's requests over the blocks
// (Local) as the workflow's activities run them. It returns every
// block's plan rows and tally from its last assignment, and the outcome.
func (p *Params) DecideBlocks(blocks [][]Scored, total float64, fair *campaign.Fairness) ([][]plan.Row, []Tally, Outcome) {
	stats := make([]ScoreStats, len(blocks))
	for i, u := range blocks {
		stats[i] = p.Stats(u)
	}
	d := NewDriver(*p, total, fair, stats)
	*p = d.Params()
	x := Local{P: *p, Blocks: make([][]Scored, len(blocks)), Rows: make([][]plan.Row, len(blocks))}
	for i, u := range blocks {
		x.Blocks[i] = p.TopUpControl(u)
	}
	req := d.Start()
	for req.Op != Done {
		var err error
		if req, err = d.Next(x.Run(req)); err != nil {
			// The blocks answer at the driver's own grid: only a bug gets here.
			panic(fmt.Sprintf("strategy: in-process decision: %v", err))
		}
	}
	return x.Rows, d.Tallies(), d.Outcome()
}

// Local runs a Driver's requests in process over blocks of scored users
// (control groups topped up), keeping every block's last plan rows.
type Local struct {
	P      Params // the driver's (Driver.Params)
	Blocks [][]Scored
	Rows   [][]plan.Row
}

// Run answers req over the blocks.
func (x *Local) Run(req Request) Results {
	n := len(x.Blocks)
	var res Results
	switch req.Op {
	case Curves:
		res.Curves = make([]budget.Curve, n)
		for i, u := range x.Blocks {
			res.Curves[i] = x.P.Curve(u, req.Grid, req.Quotas[i], req.Fairness)
		}
	case Assign:
		res.Tallies = make([]Tally, n)
		for _, i := range req.Blocks {
			x.Rows[i], res.Tallies[i] = x.P.AssignRepaired(x.Blocks[i], req.Lambda, req.Quotas[i], req.Fairness, req.Round(i))
		}
	case Upgrades:
		res.Upgrades = make([][]Upgrade, n)
		for i, u := range x.Blocks {
			res.Upgrades[i] = x.P.Upgrades(u, req.Lambda, req.Quotas[i], req.Fairness, req.Round(i), req.Limit, req.K)
		}
	}
	return res
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
