// Package budget allocates a campaign budget across users exactly enough to
// be trusted and cheaply enough to distribute: a Lagrange multiplier λ
// prices money, each user takes the offer maximising value − λ·cost (or
// none), and λ is found from per-shard cost curves that the workflow adds up.
//
// For a given λ the choice is separable by user, so a shard can report the
// cost and value of its users' choices on a grid of λ values; the sums over
// shards tell which grid interval holds the smallest λ whose cost fits the
// budget; a finer grid inside that interval narrows it again. Choosing at
// the upper end of the final interval never exceeds the budget.
package budget

import (
	"fmt"
	"math"
)

// Option is one offer a user may get: its expected value (the objective:
// incremental profit or revenue) and its expected cost.
type Option struct {
	Value   float64
	Cost    float64
	Revenue float64 // expected incremental revenue, for the lift curve only
}

// Choose returns the index of the option maximising Value − λ·Cost, or -1
// when none is positive. Ties go to the lower index, so the choice is
// deterministic.
func Choose(options []Option, lambda float64) int {
	best, bestScore := -1, 0.0
	for i, o := range options {
		if s := o.Value - lambda*o.Cost; s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// Curve is the total cost and value of the choices at each λ of a grid.
// Shards compute curves for their users; Merge adds them.
type Curve struct {
	Lambdas []float64 `json:"lambdas"`
	Cost    []float64 `json:"cost"`
	Value   []float64 `json:"value"`
	Revenue []float64 `json:"revenue"` // expected incremental revenue of the choices
	Chosen  []int64   `json:"chosen"`  // users given an offer
}

// NewCurve returns an empty curve over lambdas.
func NewCurve(lambdas []float64) Curve {
	n := len(lambdas)
	return Curve{Lambdas: append([]float64(nil), lambdas...), Cost: make([]float64, n), Value: make([]float64, n),
		Revenue: make([]float64, n), Chosen: make([]int64, n)}
}

// Add accounts one user's options at every λ of the grid.
//
// On an ascending grid from λ ≥ 0 and with no negative (or NaN) cost, a
// user whom no option pays at one λ is given nothing at every larger λ,
// so the rest of the grid is skipped: value − λ·cost cannot rise with λ,
// rounded or not (the rounded product and difference are monotone too),
// so the sums are exactly those of choosing at every point.
func (c *Curve) Add(options []Option) {
	stop := c.ascending()
	for _, o := range options {
		if !(o.Cost >= 0) {
			stop = false
			break
		}
	}
	for k, l := range c.Lambdas {
		j := Choose(options, l)
		if j < 0 {
			if stop {
				return
			}
			continue
		}
		c.Cost[k] += options[j].Cost
		c.Value[k] += options[j].Value
		c.Revenue[k] += options[j].Revenue
		c.Chosen[k]++
	}
}

// ascending reports whether the grid starts at λ ≥ 0 and never falls (no
// NaN).
func (c *Curve) ascending() bool {
	prev := 0.0
	for _, l := range c.Lambdas {
		if !(l >= prev) {
			return false
		}
		prev = l
	}
	return true
}

// Merge adds o, a curve over the same grid, into c.
func (c *Curve) Merge(o Curve) error {
	if len(o.Lambdas) != len(c.Lambdas) {
		return fmt.Errorf("budget curve: %d points, want %d", len(o.Lambdas), len(c.Lambdas))
	}
	for k := range c.Lambdas {
		if o.Lambdas[k] != c.Lambdas[k] {
			return fmt.Errorf("budget curve: λ[%d] = %v, want %v", k, o.Lambdas[k], c.Lambdas[k])
		}
		c.Cost[k] += o.Cost[k]
		c.Value[k] += o.Value[k]
		c.Revenue[k] += o.Revenue[k]
		c.Chosen[k] += o.Chosen[k]
	}
	return nil
}

// Grid returns k λ values from lo to hi inclusive. With lo = 0 the first
// point is 0 (no price on money) and the rest are spaced geometrically, since
// useful multipliers span orders of magnitude.
func Grid(lo, hi float64, k int) []float64 {
	if k < 2 || !(hi > lo) || lo < 0 {
		panic(fmt.Sprintf("budget.Grid(%v, %v, %d)", lo, hi, k))
	}
	g := make([]float64, k)
	if lo == 0 {
		// 0, then hi·10^(-6 ... 0)
		for i := 1; i < k; i++ {
			g[i] = hi * math.Pow(10, -6*float64(k-1-i)/float64(k-2))
		}
		return g
	}
	for i := range g {
		g[i] = lo + (hi-lo)*float64(i)/float64(k-1)
	}
	g[k-1] = hi
	return g
}

// Bracket returns the interval [Lambdas[i-1], Lambdas[i]] in which the cost
// crosses budget, as the index i of the first grid point whose cost fits
// (cost is non-increasing in λ). i = 0 means the budget does not bind: even
// λ = Lambdas[0] fits. i = len means nothing on the grid fits: raise hi.
func (c Curve) Bracket(budget float64) int {
	for i, cost := range c.Cost {
		if cost <= budget {
			return i
		}
	}
	return len(c.Cost)
}

// MaxLambda is an upper bound of useful multipliers for options whose value
// per unit of cost is at most maxRatio: above it nothing is chosen.
func MaxLambda(maxRatio float64) float64 { return math.Max(maxRatio, 1e-9) * 1.000001 }
