package budget

import (
	"math"
	"math/rand/v2"
	"testing"
)

// solve runs the solver on users split into shards, as the workflow does.
func solve(users [][]Option, shards int, budget float64) float64 {
	maxRatio := 0.0
	for _, opts := range users {
		for _, o := range opts {
			if o.Cost > 0 {
				maxRatio = math.Max(maxRatio, o.Value/o.Cost)
			}
		}
	}
	s := NewSolver(budget, MaxLambda(maxRatio))
	for {
		grid := s.Grid()
		total := NewCurve(grid)
		for sh := 0; sh < shards; sh++ {
			c := NewCurve(grid)
			for i := sh; i < len(users); i += shards {
				c.Add(users[i])
			}
			if err := total.Merge(c); err != nil {
				panic(err)
			}
		}
		if s.Next(total) {
			return s.Lambda()
		}
	}
}

func spend(users [][]Option, lambda float64) (cost, value float64) {
	for _, opts := range users {
		if j := Choose(opts, lambda); j >= 0 {
			cost += opts[j].Cost
			value += opts[j].Value
		}
	}
	return cost, value
}

func randomUsers(rng *rand.Rand, n, offers int) [][]Option {
	users := make([][]Option, n)
	for i := range users {
		for j := 0; j < offers; j++ {
			users[i] = append(users[i], Option{Value: rng.Float64()*10 - 2, Cost: 0.5 + rng.Float64()*5})
		}
	}
	return users
}

// bruteForce is the exact optimum of a tiny instance: every user takes one of
// its options or none.
func bruteForce(users [][]Option, budget float64) float64 {
	best := 0.0
	var walk func(i int, cost, value float64)
	walk = func(i int, cost, value float64) {
		if cost > budget {
			return
		}
		if i == len(users) {
			best = math.Max(best, value)
			return
		}
		walk(i+1, cost, value)
		for _, o := range users[i] {
			walk(i+1, cost+o.Cost, value+o.Value)
		}
	}
	walk(0, 0, 0)
	return best
}

func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		users := randomUsers(rng, 7, 2)
		budget := rng.Float64() * 20
		lambda := solve(users, 3, budget)
		cost, value := spend(users, lambda)
		if cost > budget+1e-9 {
			t.Fatalf("trial %d: cost %.4f over budget %.4f", trial, cost, budget)
		}
		// The Lagrangian choice is optimal for the budget it spends; against
		// the true optimum it loses at most one user's best value.
		opt := bruteForce(users, budget)
		maxValue := 0.0
		for _, opts := range users {
			for _, o := range opts {
				maxValue = math.Max(maxValue, o.Value)
			}
		}
		if value < opt-maxValue-1e-9 || value > opt+1e-9 {
			t.Errorf("trial %d: value %.4f, optimum %.4f (gap allowed %.4f)", trial, value, opt, maxValue)
		}
	}
}

func TestBudgetUsedWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	users := randomUsers(rng, 20000, 4)
	for _, budget := range []float64{100, 2000, 15000} {
		lambda := solve(users, 8, budget)
		cost, _ := spend(users, lambda)
		if cost > budget || cost < 0.99*budget {
			t.Errorf("budget %.0f: spent %.2f (%.2f%%)", budget, cost, 100*cost/budget)
		}
	}
	// A budget larger than everything worth doing does not bind.
	lambda := solve(users, 8, 1e9)
	if lambda != 0 {
		t.Errorf("non-binding budget: λ = %v, want 0", lambda)
	}
	_, v0 := spend(users, 0)
	if _, v := spend(users, lambda); v != v0 {
		t.Error("non-binding budget did not take every positive offer")
	}
}

func TestShardCountIrrelevant(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	users := randomUsers(rng, 3000, 3)
	want := solve(users, 1, 1500)
	for _, shards := range []int{2, 7, 16} {
		if got := solve(users, shards, 1500); got != want {
			t.Errorf("%d shards: λ = %v, 1 shard: %v", shards, got, want)
		}
	}
}

func TestChoose(t *testing.T) {
	opts := []Option{{Value: 5, Cost: 4}, {Value: 3, Cost: 1}, {Value: -1, Cost: 0}}
	for _, tc := range []struct {
		lambda float64
		want   int
	}{{0, 0}, {0.5, 0}, {0.67, 1}, {1, 1}, {3, -1}} {
		if got := Choose(opts, tc.lambda); got != tc.want {
			t.Errorf("Choose(λ=%v) = %d, want %d", tc.lambda, got, tc.want)
		}
	}
	if Choose([]Option{{Value: 1, Cost: 1}, {Value: 1, Cost: 1}}, 0) != 0 {
		t.Error("tie not broken toward the lower index")
	}
}

// TestAddSkipsExactly: Add's early stop gives bit for bit the sums of
// choosing at every grid point, special values and odd grids included.
func TestAddSkipsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e-300, -1e-300, 5e-324, 1e300}
	draw := func(neg bool) float64 {
		switch r := rng.IntN(10); {
		case r == 0:
			return special[rng.IntN(len(special))]
		case r == 1 && neg:
			return -rng.Float64()
		default:
			return rng.ExpFloat64() * 10
		}
	}
	var users [][]Option
	for range 3000 {
		opts := make([]Option, rng.IntN(5))
		for i := range opts {
			opts[i] = Option{Value: draw(true) - 5, Cost: draw(rng.IntN(20) == 0), Revenue: draw(true)}
		}
		users = append(users, opts)
	}
	for _, tc := range []struct {
		name string
		grid []float64
	}{
		{"full range", Grid(0, 50, 64)},
		{"refined", Grid(0.731, 0.734, 64)},
		{"descending", []float64{3, 2, 1, 0.5, 0}},
		{"negative start", []float64{-1, 0, 1, 2}},
		{"NaN", []float64{0, 1, math.NaN(), 2, 3}},
		{"infinite end", []float64{0, 1, math.Inf(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := NewCurve(tc.grid), NewCurve(tc.grid)
			for _, opts := range users {
				got.Add(opts)
				for k, l := range want.Lambdas {
					if j := Choose(opts, l); j >= 0 {
						want.Cost[k] += opts[j].Cost
						want.Value[k] += opts[j].Value
						want.Revenue[k] += opts[j].Revenue
						want.Chosen[k]++
					}
				}
			}
			for k := range tc.grid {
				for _, pair := range [][2]float64{{got.Cost[k], want.Cost[k]}, {got.Value[k], want.Value[k]}, {got.Revenue[k], want.Revenue[k]}} {
					if math.Float64bits(pair[0]) != math.Float64bits(pair[1]) {
						t.Fatalf("λ[%d]: %v, want %v", k, pair[0], pair[1])
					}
				}
				if got.Chosen[k] != want.Chosen[k] {
					t.Fatalf("λ[%d]: %d chosen, want %d", k, got.Chosen[k], want.Chosen[k])
				}
			}
		})
	}
}
