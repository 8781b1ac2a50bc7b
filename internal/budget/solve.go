package budget

// Solver finds the multiplier in rounds: each round proposes a grid of λ,
// the caller evaluates the total curve (over all shards) at it, and Next
// narrows the grid. It holds no user data, so it can live in a workflow.
type Solver struct {
	Budget float64
	Points int // grid points per round
	Rounds int // refinement rounds

	lo, hi float64
	round  int
	best   float64 // smallest feasible λ found so far
	done   bool
}

// NewSolver returns a solver for budget with multipliers up to hi (see
// MaxLambda).
func NewSolver(budget, hi float64) *Solver {
	return &Solver{Budget: budget, Points: 64, Rounds: 4, lo: 0, hi: hi, best: hi}
}

// Grid is the λ grid of the current round.
func (s *Solver) Grid() []float64 { return Grid(s.lo, s.hi, s.Points) }

// Next takes the total curve of the current round's grid and reports
// whether the multiplier is final.
func (s *Solver) Next(total Curve) bool {
	i := total.Bracket(s.Budget)
	switch {
	case i == 0: // the budget does not bind: spend on everything worth it
		s.best, s.done = total.Lambdas[0], true
		return true
	case i == len(total.Lambdas): // nothing fits even at hi: give nothing
		s.best, s.done = total.Lambdas[len(total.Lambdas)-1], true
		return true
	}
	s.best = total.Lambdas[i]
	s.lo, s.hi = total.Lambdas[i-1], total.Lambdas[i]
	s.round++
	if s.round >= s.Rounds || !(s.hi > s.lo) {
		s.done = true
	}
	return s.done
}

// Lambda is the chosen multiplier: the smallest grid λ whose cost fits the
// budget. Choosing with it never exceeds the budget.
func (s *Solver) Lambda() float64 { return s.best }
