// Package policy evaluates treatment policies offline from logged campaign
// history: per-arm average effects, the value of a policy by inverse
// propensity and doubly robust estimation, policies at budgets, bootstrap
// confidence intervals, and Qini and uplift curves. docs/EVALUATION.md
// writes down every formula.
//
// Arms are numbered 0 (control: no offer) to K. A Sample holds, per user,
// the arm received, the outcome, the probability that the user received
// that arm (the propensity, known from a randomized design or logged), and
// the outcome models' out-of-fold predictions for every arm.
package policy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Sample is logged history with outcome predictions.
type Sample struct {
	A  []int       // arm received, 0..K
	Y  []float64   // outcome
	P  []float64   // propensity of the arm received, in (0, 1]
	Mu [][]float64 // Mu[i][a]: predicted outcome of user i under arm a (out of fold)
}

// Arms returns K+1, the number of arms including control.
func (s *Sample) Arms() int {
	if len(s.Mu) == 0 {
		return 0
	}
	return len(s.Mu[0])
}

// Validate checks that s is consistent.
func (s *Sample) Validate() error {
	n := len(s.A)
	if n == 0 {
		return errors.New("policy: empty sample")
	}
	if len(s.Y) != n || len(s.P) != n || len(s.Mu) != n {
		return fmt.Errorf("policy: %d arms, %d outcomes, %d propensities, %d predictions", n, len(s.Y), len(s.P), len(s.Mu))
	}
	k := s.Arms()
	if k < 2 {
		return fmt.Errorf("policy: %d arms, want control and at least one more", k)
	}
	for i := range n {
		if s.A[i] < 0 || s.A[i] >= k {
			return fmt.Errorf("policy: row %d: arm %d out of range", i, s.A[i])
		}
		if !(s.P[i] > 0 && s.P[i] <= 1) {
			return fmt.Errorf("policy: row %d: propensity %v, want (0, 1]", i, s.P[i])
		}
		if len(s.Mu[i]) != k {
			return fmt.Errorf("policy: row %d: %d predictions, want %d", i, len(s.Mu[i]), k)
		}
		if math.IsNaN(s.Y[i]) || math.IsInf(s.Y[i], 0) {
			return fmt.Errorf("policy: row %d: outcome %v", i, s.Y[i])
		}
	}
	return nil
}

// DR returns user i's doubly robust score for arm a:
// Mu[i][a] + 1[A_i = a] (Y_i - Mu[i][a]) / P_i. Its mean over users is an
// unbiased estimate of the mean outcome had everyone received arm a, if
// either the propensities or the outcome predictions are right.
func (s *Sample) DR(i, a int) float64 {
	m := s.Mu[i][a]
	if s.A[i] != a {
		return m
	}
	return m + (s.Y[i]-m)/s.P[i]
}

// IPS returns user i's inverse propensity score for arm a:
// 1[A_i = a] Y_i / P_i.
func (s *Sample) IPS(i, a int) float64 {
	if s.A[i] != a {
		return 0
	}
	return s.Y[i] / s.P[i]
}

// Interval is an estimate with a 95% confidence interval.
type Interval struct {
	Est float64
	Lo  float64
	Hi  float64
}

// Effect is one arm's average outcome and average effect against control.
type Effect struct {
	Arm  int
	N    int      // users who received the arm
	Mean float64  // their mean outcome
	ATE  Interval // doubly robust average effect against control; zero for control
}

// Effects returns every arm's effect. The ATE of arm a is the mean of
// DR(i, a) - DR(i, 0) over all users, with a normal 95% interval from the
// standard deviation of those differences.
func Effects(s *Sample) []Effect {
	k := s.Arms()
	out := make([]Effect, k)
	n := len(s.A)
	for a := range k {
		out[a].Arm = a
	}
	for i := range n {
		out[s.A[i]].N++
		out[s.A[i]].Mean += s.Y[i]
	}
	for a := range k {
		if out[a].N > 0 {
			out[a].Mean /= float64(out[a].N)
		}
		if a == 0 {
			continue
		}
		d := make([]float64, n)
		for i := range n {
			d[i] = s.DR(i, a) - s.DR(i, 0)
		}
		out[a].ATE = normalInterval(d)
	}
	return out
}

// normalInterval returns the mean of d with mean ± 1.96 standard errors.
func normalInterval(d []float64) Interval {
	n := float64(len(d))
	var m, ss float64
	for _, v := range d {
		m += v
	}
	m /= n
	for _, v := range d {
		ss += (v - m) * (v - m)
	}
	se := 0.0
	if n > 1 {
		se = math.Sqrt(ss / (n - 1) / n)
	}
	return Interval{m, m - 1.96*se, m + 1.96*se}
}

// Assign returns the policy that may treat at most a fraction of users:
// users are ranked by their largest predicted effect over arms 1..K, and
// the top floor(fraction n) whose largest effect is positive receive the
// arm with that effect; everyone else gets 0. tau[i][a-1] is the predicted
// effect of arm a on user i. Ties in rank are broken by row order.
func Assign(tau [][]float64, fraction float64) []int {
	n := len(tau)
	best := make([]float64, n)
	arm := make([]int, n)
	for i, t := range tau {
		best[i] = math.Inf(-1)
		for a, v := range t {
			if v > best[i] {
				best[i], arm[i] = v, a+1
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return best[order[x]] > best[order[y]] })
	out := make([]int, n)
	budget := int(math.Floor(fraction*float64(n) + 1e-9))
	for _, i := range order[:min(budget, n)] {
		if best[i] > 0 {
			out[i] = arm[i]
		}
	}
	return out
}

// Incremental returns, per user, the doubly robust and the inverse
// propensity estimate of the user's outcome under the policy minus under
// control: DR(i, pi_i) - DR(i, 0) and IPS(i, pi_i) - IPS(i, 0), zero for
// users the policy leaves alone. Their means estimate the policy's
// incremental value per user.
func Incremental(s *Sample, pi []int) (dr, ips []float64) {
	n := len(s.A)
	dr, ips = make([]float64, n), make([]float64, n)
	for i := range n {
		if a := pi[i]; a != 0 {
			dr[i] = s.DR(i, a) - s.DR(i, 0)
			ips[i] = s.IPS(i, a) - s.IPS(i, 0)
		}
	}
	return dr, ips
}

// Mean returns the mean of v.
func Mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Bootstrap returns percentile 95% intervals for the means of several
// per-user statistics, from b resamples of users with replacement drawn
// from a PCG seeded with seed. Every statistic sees the same resamples.
func Bootstrap(stats [][]float64, b int, seed uint64) []Interval {
	out := make([]Interval, len(stats))
	if len(stats) == 0 {
		return out
	}
	n := len(stats[0])
	rng := rand.New(rand.NewPCG(seed, 0x6f6f7473))
	reps := make([][]float64, len(stats))
	for j := range reps {
		reps[j] = make([]float64, b)
	}
	count := make([]int32, n)
	for r := range b {
		clear(count)
		for range n {
			count[rng.IntN(n)]++
		}
		for j, st := range stats {
			var sum float64
			for i, c := range count {
				if c != 0 {
					sum += float64(c) * st[i]
				}
			}
			reps[j][r] = sum / float64(n)
		}
	}
	for j, st := range stats {
		slices.Sort(reps[j])
		out[j] = Interval{Est: Mean(st), Lo: quantile(reps[j], 0.025), Hi: quantile(reps[j], 0.975)}
	}
	return out
}

// quantile returns the q-quantile of sorted v by linear interpolation.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	return v[lo] + (pos-float64(lo))*(v[hi]-v[lo])
}
