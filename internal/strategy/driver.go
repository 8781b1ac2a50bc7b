package strategy

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
)

// ScoreStats is one block's scoring in aggregates, all a Driver needs of
// it: counts and sums, no user. Blocks' stats are what their shards'
// stats (Params.Stats) merge to.
type ScoreStats struct {
	Users       int64
	ExploreCost float64 // the exploration offers' expected cost (ExploreCost)
	MaxRatio    float64 // largest value per unit of cost of any option
	// Control counts the control users, and ControlHist (only when
	// Params.MinControl is set) the eligible users by control hash
	// (Params.ControlHist): the driver tops the control group up to the
	// template's minimum from them.
	Control     int64   `json:",omitempty"`
	ControlHist []int64 `json:",omitempty"`
}

// Stats is the ScoreStats of one shard's scored users (after
// StratifyControl, before TopUpControl).
func (p *Params) Stats(users []Scored) ScoreStats {
	s := ScoreStats{Users: int64(len(users)), ExploreCost: ExploreCost(users)}
	for i := range users {
		if users[i].Status == Control {
			s.Control++
		}
		// Explorers may compete as candidates (beyond the exploration
		// allowance), so their options count toward the bound too.
		for _, o := range users[i].Options {
			if o.Cost > 0 && o.Value > 0 {
				s.MaxRatio = max(s.MaxRatio, o.Value/o.Cost)
			}
		}
	}
	if p.MinControl > 0 {
		s.ControlHist = p.ControlHist(users)
	}
	return s
}

// Merge adds o, another shard's stats, into s.
func (s *ScoreStats) Merge(o ScoreStats) {
	s.Users += o.Users
	s.ExploreCost += o.ExploreCost
	s.MaxRatio = max(s.MaxRatio, o.MaxRatio)
	s.Control += o.Control
	if o.ControlHist != nil && s.ControlHist == nil {
		s.ControlHist = make([]int64, len(o.ControlHist))
	}
	for b, n := range o.ControlHist {
		s.ControlHist[b] += n
	}
}

// Op is the work a Driver asks for next.
type Op uint8

// Ops.
const (
	// Done: the decision is final (Driver.Outcome, Driver.Tallies).
	Done Op = iota
	// Curves: every block's budget curve (Params.Curve) at Request.Grid
	// under its quotas.
	Curves
	// Assign: the assignment (Params.AssignRepaired) of Request.Blocks at
	// Request.Lambda under their quotas and repair rounds.
	Assign
	// Upgrades: every block's proposals for a round of the budget repair
	// (Params.Upgrades).
	Upgrades
)

// String names the op.
func (o Op) String() string {
	switch o {
	case Done:
		return "done"
	case Curves:
		return "curves"
	case Assign:
		return "assign"
	case Upgrades:
		return "upgrades"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Request is what a Driver needs next, for an executor to run over the
// blocks of scored users. Its slices are the driver's: read them before
// calling Next again, never change them.
type Request struct {
	Op       Op
	Grid     []float64 // Curves: the multipliers
	Lambda   float64   // Assign, Upgrades: the multiplier
	Quotas   []Quotas  // every block's quotas
	Fairness bool      // group quotas apply
	// Blocks are the blocks to assign, ascending; Curves and Upgrades
	// are asked of every block.
	Blocks []int
	// Rounds are every block's budget repair rounds (nil before the
	// repair: no block has any).
	Rounds [][]RepairRound
	Limit  float64 // Upgrades: the largest extra cost worth proposing
	K      int     // Upgrades: at most this many proposals a block
	// First marks the first assignment pass (the stage's progress counts
	// it).
	First bool
}

// Round is the repair rounds of block i in r (none before the repair).
func (r Request) Round(i int) []RepairRound {
	if r.Rounds == nil {
		return nil
	}
	return r.Rounds[i]
}

// Results are an executor's answers to a Request, by block: Curves for
// Curves, Tallies for Assign (only the requested blocks' entries are
// read), Upgrades for Upgrades.
type Results struct {
	Curves   []budget.Curve
	Tallies  []Tally
	Upgrades [][]Upgrade
}

// Driver is the decision's algorithm over blocks of shards, written once
// for every executor: it holds what the decision knows in aggregates and
// says what it needs of the blocks next, as budget.Solver does for the
// multiplier (and gonum's optimize.Method for its evaluations); it never
// sees a user. The decision: the control group topped up to the minimum
// (ControlFloor), exploration's spending capped (CapExploration), the
// multiplier solved from the merged curves when the budget binds,
// assignment passes that add cap and fairness quotas until they hold,
// the multiplier solved again under the quotas when they left budget
// unspent (Outcome.NeedsResolve), and, when the budget binds, the budget
// repair (budget.Repair) spending what the multiplier left.
//
// Use: NewDriver, then Start, then, until the request is Done, run it
// over the blocks and pass the results to Next. Params.Decide runs it in
// process; the decision workflow runs it over activities.
type Driver struct {
	// RepairGate, when set, is asked once, when the repair would be due,
	// whether the repair may run at all (the workflow's version marker:
	// runs recorded before the repair replay without it).
	RepairGate func() bool

	p       Params
	fair    *campaign.Fairness
	out     Outcome
	qs      []Quotas
	hi      float64
	tallies []Tally
	solver  *budget.Solver
	round   int // assignment passes in this assignment
	first   bool
	repair  *budget.Repair
	fits    func(Upgrade) bool
	rounds  [][]RepairRound
	req     Request
	then    func(Results) error // takes the results of req and sets the next one
}

// NewDriver returns the driver of a decision with rules p over blocks
// whose scoring stats are blocks, for budget total (0: none) and fairness
// bound fair (nil: none). It sets the control floor (Params) and caps
// exploration from the stats.
func NewDriver(p Params, total float64, fair *campaign.Fairness, blocks []ScoreStats) *Driver {
	d := &Driver{p: p, fair: fair, out: Outcome{Budget: total, Fairness: fair}, first: true,
		qs: make([]Quotas, len(blocks)), tallies: make([]Tally, len(blocks))}
	var all ScoreStats
	costs := make([]float64, len(blocks))
	for i, s := range blocks {
		costs[i] = s.ExploreCost
		d.out.ExploreCost += s.ExploreCost
		all.Merge(s)
	}
	d.p.ControlBelow = 0
	if p.MinControl > 0 {
		d.p.ControlBelow = ControlFloor(histOrEmpty(all.ControlHist), all.Control, p.MinControl)
	}
	d.p.CapExploration(d.qs, costs, total, &d.out)
	d.hi = budget.MaxLambda(all.MaxRatio)
	return d
}

// histOrEmpty is h, or an empty histogram when no block sent one.
func histOrEmpty(h []int64) []int64 {
	if h == nil {
		return make([]int64, ControlBins)
	}
	return h
}

// Params are the decision's rules with the control floor set: what every
// request is run with.
func (d *Driver) Params() Params { return d.p }

// Outcome is what the decision did, for the summary (final once Done).
func (d *Driver) Outcome() Outcome { return d.out }

// Tallies are every block's tally from its last assignment (final once
// Done).
func (d *Driver) Tallies() []Tally { return d.tallies }

// Start returns the first request: every block's curve over the full
// range of multipliers (the lift curve, and whether the budget binds).
func (d *Driver) Start() Request {
	d.ask(Request{Op: Curves, Grid: budget.Grid(0, d.hi, 64)}, func(res Results) error {
		c, err := d.merge(res)
		if err != nil {
			return err
		}
		d.out.Curve, d.out.Unconstrained = c, c.Cost[0]
		if d.out.Budget > 0 && d.out.Unconstrained+d.out.ExploreCost > d.out.Budget {
			d.solve()
			return nil
		}
		d.assign()
		return nil
	})
	return d.req
}

// Next takes the results of the last request and returns the next one.
func (d *Driver) Next(res Results) (Request, error) {
	if d.then == nil {
		return Request{Op: Done}, nil
	}
	then, op := d.then, d.req.Op
	d.then = nil
	if err := then(res); err != nil {
		return Request{}, fmt.Errorf("%s: %w", op, err)
	}
	if d.then == nil {
		d.req = Request{Op: Done}
	}
	return d.req, nil
}

// ask makes req the current request, with then to take its results.
func (d *Driver) ask(req Request, then func(Results) error) {
	req.Quotas, req.Fairness = d.qs, d.fair != nil
	d.req, d.then = req, then
}

// merge adds up the blocks' curves of the current request's grid.
func (d *Driver) merge(res Results) (budget.Curve, error) {
	if len(res.Curves) != len(d.qs) {
		return budget.Curve{}, fmt.Errorf("%d curves for %d blocks", len(res.Curves), len(d.qs))
	}
	total := budget.NewCurve(d.req.Grid)
	for i, c := range res.Curves {
		if err := total.Merge(c); err != nil {
			return budget.Curve{}, fmt.Errorf("block %d: %w", i, err)
		}
	}
	return total, nil
}

// solve finds the multiplier for what exploration leaves of the budget,
// from the blocks' curves under their quotas, then assigns.
func (d *Driver) solve() {
	d.solver = budget.NewSolver(d.out.Budget-d.out.ExploreCost, d.hi)
	var step func(Results) error
	step = func(res Results) error {
		c, err := d.merge(res)
		if err != nil {
			return err
		}
		if !d.solver.Next(c) {
			d.ask(Request{Op: Curves, Grid: d.solver.Grid()}, step)
			return nil
		}
		d.out.Lambda = d.solver.Lambda()
		d.assign()
		return nil
	}
	d.ask(Request{Op: Curves, Grid: d.solver.Grid()}, step)
}

// assign runs assignment passes over every block, tightening quotas until
// caps and the fairness bound hold (at most MaxQuotaRounds more passes),
// then decides whether to solve again.
func (d *Driver) assign() {
	d.round = 0
	all := make([]int, len(d.qs))
	for i := range all {
		all[i] = i
	}
	var step func(Results) error
	step = func(res Results) error {
		if err := d.take(res, all); err != nil {
			return err
		}
		if d.round == MaxQuotaRounds {
			d.assigned()
			return nil
		}
		added := d.p.AddCapQuotas(d.qs, d.tallies)
		if d.fair != nil && AddFairnessQuotas(d.qs, d.tallies, d.fair.MaxGap) {
			added = true
		}
		if !added {
			d.assigned()
			return nil
		}
		d.out.Quotas = true
		d.round++
		d.ask(Request{Op: Assign, Lambda: d.out.Lambda, Blocks: all}, step)
		return nil
	}
	d.ask(Request{Op: Assign, Lambda: d.out.Lambda, Blocks: all, First: d.first}, step)
	d.first = false
}

// take keeps the tallies of the assigned blocks.
func (d *Driver) take(res Results, blocks []int) error {
	if len(res.Tallies) != len(d.qs) {
		return fmt.Errorf("%d tallies for %d blocks", len(res.Tallies), len(d.qs))
	}
	for _, i := range blocks {
		d.tallies[i] = res.Tallies[i]
	}
	return nil
}

// assigned follows a finished assignment: the multiplier solved again
// under the quotas when they left budget unspent, else the repair when
// it is due.
func (d *Driver) assigned() {
	var spent float64
	for _, t := range d.tallies {
		spent += t.Cost
	}
	if d.out.NeedsResolve(spent) {
		// The quota-bound curves are what assignment spends, and quotas
		// only tighten, so the budget still holds after more passes.
		d.out.Resolves++
		d.solve()
		return
	}
	if (d.RepairGate == nil || d.RepairGate()) && d.out.RepairDue() {
		d.startRepair()
	}
}

// startRepair runs the budget repair: blocks propose, the merge picks,
// and the blocks with picks are assigned again with their rounds.
func (d *Driver) startRepair() {
	sum := NewTally(len(d.p.Offers))
	for _, t := range d.tallies {
		sum.Merge(t)
	}
	d.repair = budget.NewRepair(d.out.Budget, sum.Cost)
	d.fits = d.p.RepairCaps(sum)
	d.out.Repair = &RepairOutcome{Before: sum.Cost}
	d.rounds = make([][]RepairRound, len(d.qs))
	d.proposeRound()
}

// proposeRound asks every block for its proposals of a repair round.
func (d *Driver) proposeRound() {
	limit, k := d.repair.Limit(), d.repair.PerShard(len(d.qs))
	d.ask(Request{Op: Upgrades, Lambda: d.out.Lambda, Rounds: d.rounds, Limit: limit, K: k}, func(res Results) error {
		if len(res.Upgrades) != len(d.qs) {
			return fmt.Errorf("%d proposals for %d blocks", len(res.Upgrades), len(d.qs))
		}
		incs := make([][]budget.Increment, len(res.Upgrades))
		for i := range res.Upgrades {
			incs[i] = Increments(res.Upgrades[i])
		}
		ups := res.Upgrades
		picks, done := d.repair.Next(incs, func(s, j int) bool { return d.fits(ups[s][j]) })
		d.out.Repair.Rounds++
		for i, pk := range picks {
			if len(pk) > 0 {
				d.rounds[i] = append(d.rounds[i], RepairRound{Limit: limit, K: k, Picks: pk})
			}
		}
		if !done {
			d.proposeRound()
			return nil
		}
		var changed []int
		for i := range d.rounds {
			if len(d.rounds[i]) > 0 {
				changed = append(changed, i)
			}
		}
		if len(changed) == 0 {
			return nil
		}
		d.ask(Request{Op: Assign, Lambda: d.out.Lambda, Blocks: changed, Rounds: d.rounds}, func(res Results) error {
			return d.take(res, changed)
		})
		return nil
	})
}
