package budget

import (
	"cmp"
	"math"
	"slices"
)

// Increment is a proposed change of one user's choice after the multiplier
// is applied: an upgrade to a costlier option, or an option for a user who
// got none. Gain is the rise in value, Extra the rise in cost (≥ 0).
type Increment struct {
	Gain  float64 `json:"g"`
	Extra float64 `json:"c"`
}

// Compare orders increments best first: the larger gain per extra cost
// (compared by cross-multiplying, so a free gain comes before any costly
// one), then the larger gain. It returns a negative number when a is the
// better use of money.
func Compare(a, b Increment) int {
	return cmp.Or(cmp.Compare(b.Gain*a.Extra, a.Gain*b.Extra), cmp.Compare(b.Gain, a.Gain))
}

// Repair spends what the multiplier left of a binding budget, in rounds,
// like Solver: each round the caller asks every shard for its best
// increments (at most PerShard of them, none costing more than Limit, at
// most one per user, best first by Compare), and Next picks, over all
// shards in Compare order, those that still fit the budget and that the
// caller's check accepts (offer caps), and says which to apply. Applied
// increments change the users' choices, so the next round's proposals
// start from them. It holds no user data, so it can live in a workflow.
//
// The multiplier's solution is optimal for the budget it spends; what it
// leaves unspent is at most the cost of the users whose choice changes at
// the cut-off. Filling it greedily by gain per extra cost is the
// classical completion of a Lagrangian (or LP) solution of the
// multiple-choice knapsack: the budget is used to within the smallest
// remaining increment and the value is within one increment's gain of the
// optimum.
type Repair struct {
	Budget float64
	Rounds int // at most this many rounds
	Max    int // increments proposed per round over all shards

	spent float64
	round int
}

// RepairRounds and RepairProposals are a Repair's defaults: a few rounds
// (each lets an upgraded user move up again, or spends what a round's
// truncation left), and a bound on one round's proposals that keeps the
// payloads small (about 80 bytes each as JSON).
const (
	RepairRounds    = 6
	RepairProposals = 1024
)

// NewRepair returns a repair of budget from spent, what the multiplier's
// choices cost in total.
func NewRepair(budget, spent float64) *Repair {
	return &Repair{Budget: budget, Rounds: RepairRounds, Max: RepairProposals, spent: spent}
}

// slack keeps the running sum a hair inside the budget, so that the plan's
// cost, added up in another order, cannot round above it.
func (r *Repair) slack() float64 { return 1e-9 * math.Abs(r.Budget) }

// Limit is the largest extra cost worth proposing: what is left.
func (r *Repair) Limit() float64 { return max(0, r.Budget-r.slack()-r.spent) }

// PerShard is how many increments each of shards should propose.
func (r *Repair) PerShard(shards int) int { return max(8, r.Max/max(1, shards)) }

// Spent is the total cost with the increments picked so far.
func (r *Repair) Spent() float64 { return r.spent }

// Next takes every shard's proposals (best first) and returns, per shard,
// the indices of the proposals to apply (ascending), and whether the
// repair is over. ok(s, i), when not nil, is asked about a proposal that
// fits the budget before it is picked, in pick order; it may account it.
// Ties go to the lower shard and index, so the picks are deterministic.
func (r *Repair) Next(props [][]Increment, ok func(s, i int) bool) (picks [][]int, done bool) {
	type ref struct{ s, i int }
	var all []ref
	for s, ps := range props {
		for i := range ps {
			all = append(all, ref{s, i})
		}
	}
	slices.SortStableFunc(all, func(a, b ref) int {
		return cmp.Or(Compare(props[a.s][a.i], props[b.s][b.i]), cmp.Compare(a.s, b.s), cmp.Compare(a.i, b.i))
	})
	picks = make([][]int, len(props))
	n := 0
	for _, x := range all {
		inc := props[x.s][x.i]
		if !(inc.Gain > 0) || !(inc.Extra >= 0) || inc.Extra > r.Limit() {
			continue
		}
		if ok != nil && !ok(x.s, x.i) {
			continue
		}
		r.spent += inc.Extra
		picks[x.s] = append(picks[x.s], x.i)
		n++
	}
	for _, p := range picks {
		slices.Sort(p)
	}
	r.round++
	// With nothing picked the next round would see the same proposals.
	done = r.round >= r.Rounds || n == 0 || r.Limit() <= 0
	return picks, done
}

// BestIncrement is the best increment (by Compare) of a user with n
// options (option(j) gives option j's value and cost) whose choice is cur
// (an option, or -1 for none): to another option with a larger value at an
// extra cost of at most limit. It returns the option, or -1 when none
// gains.
func BestIncrement(n int, option func(j int) (value, cost float64), cur int, limit float64) (int, Increment) {
	var baseValue, baseCost float64
	if cur >= 0 {
		baseValue, baseCost = option(cur)
	}
	best, bestInc := -1, Increment{}
	for j := range n {
		if j == cur {
			continue
		}
		v, c := option(j)
		inc := Increment{Gain: v - baseValue, Extra: c - baseCost}
		if !(inc.Gain > 0) || !(inc.Extra >= 0) || inc.Extra > limit {
			continue
		}
		if best < 0 || Compare(inc, bestInc) < 0 {
			best, bestInc = j, inc
		}
	}
	return best, bestInc
}
