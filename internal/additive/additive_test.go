package additive

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func TestBSplines(t *testing.T) {
	for _, knots := range []int{3, 6, 10} {
		for _, u := range []float64{-0.5, 0, 0.1, 0.33, 0.5, 0.999, 1, 1.5} {
			b := bsplines(u, knots, nil)
			if len(b) != knots+2 {
				t.Fatalf("knots %d: %d splines, want %d", knots, len(b), knots+2)
			}
			var s float64
			for _, v := range b {
				if v < 0 {
					t.Errorf("knots %d, u %g: negative spline %g", knots, u, v)
				}
				s += v
			}
			if math.Abs(s-1) > 1e-12 {
				t.Errorf("knots %d, u %g: splines sum to %g, want 1", knots, u, s)
			}
		}
	}
	// Continuity at an inner knot (u = 0.2 with 6 knots).
	a, b := bsplines(0.2-1e-9, 6, nil), bsplines(0.2+1e-9, 6, nil)
	for k := range a {
		if math.Abs(a[k]-b[k]) > 1e-6 {
			t.Errorf("spline %d jumps at a knot: %g, %g", k, a[k], b[k])
		}
	}
}

func TestEmpiricalCDF(t *testing.T) {
	tests := []struct {
		sorted []float64
		at     []float64
		want   []float64
	}{
		{[]float64{0, 0, 0, 1}, []float64{-1, 0, 0.5, 1, 2}, []float64{0.375, 0.375, 0.625, 0.875, 0.875}},
		{[]float64{1, 2, 3, 4}, []float64{1, 2.5, 4}, []float64{0.125, 0.5, 0.875}},
	}
	for _, tt := range tests {
		xs, us := empiricalCDF(tt.sorted)
		for k, v := range tt.at {
			if got := cdf(xs, us, v); math.Abs(got-tt.want[k]) > 1e-12 {
				t.Errorf("%v at %g: %g, want %g", tt.sorted, v, got, tt.want[k])
			}
		}
	}
}

// TestGroupLassoKKT checks the solver against the optimality conditions
// of the group lasso: a zero group's gradient is within its penalty, a
// nonzero group's equals minus its penalty along its direction.
func TestGroupLassoKKT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dim, n := 13, 500
	groups := []group{{1, 4}, {4, 8}, {8, 9}, {9, 13}}
	s := newStats(dim)
	z := make([]float64, dim)
	for range n {
		for c := range z {
			z[c] = rng.NormFloat64()
		}
		z[0] = 1
		y := 0.5 + 0.8*z[1] - 0.4*z[2] + 0.3*z[8] + rng.NormFloat64()
		s.addRows(mat.NewDense(1, dim, slices.Clone(z)), []float64{y})
	}
	free := []int{0}
	lmax := lambdaMax(s, free, groups)
	for _, frac := range []float64{1.01, 0.5, 0.2, 0.05} {
		beta := make([]float64, dim)
		lambda := frac * lmax
		newLasso(s, free, groups).solve(lambda, beta)
		var gb mat.VecDense
		gb.MulVec(s.g, mat.NewVecDense(dim, beta))
		grad := func(c int) float64 { return (gb.AtVec(c) - s.b[c]) / s.n }
		if math.Abs(grad(0)) > 1e-6 {
			t.Errorf("lambda %.2f max: intercept gradient %g", frac, grad(0))
		}
		nonzero := 0
		for _, g := range groups {
			pen := lambda * math.Sqrt(float64(g.hi-g.lo))
			var bn, gn float64
			for c := g.lo; c < g.hi; c++ {
				bn += beta[c] * beta[c]
				gn += grad(c) * grad(c)
			}
			bn, gn = math.Sqrt(bn), math.Sqrt(gn)
			if bn == 0 {
				if gn > pen*(1+1e-6) {
					t.Errorf("lambda %.2f max: zero group %v has gradient %g > penalty %g", frac, g, gn, pen)
				}
				continue
			}
			nonzero++
			for c := g.lo; c < g.hi; c++ {
				if want := -pen * beta[c] / bn; math.Abs(grad(c)-want) > 1e-6 {
					t.Errorf("lambda %.2f max: group %v column %d gradient %g, want %g", frac, g, c, grad(c), want)
				}
			}
		}
		if frac > 1 && nonzero != 0 {
			t.Errorf("above lambda max: %d groups nonzero", nonzero)
		}
		if frac == 0.05 && nonzero < 2 {
			t.Errorf("at 0.05 lambda max: %d groups nonzero, want the two planted", nonzero)
		}
	}
}

// plantedEffect is a randomized experiment whose effect depends smoothly
// on x0 and on a one-hot group, with an outcome that depends on x1 and
// four features of no consequence.
func plantedEffect(n int, seed uint64) (x [][]float64, features []string, fold []int, rt [][]float64, ry, tau []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	features = []string{"x0", "x1", "x2", "x3", "x4", "x5", "c=a", "c=b", "c=c"}
	for i := range n {
		row := make([]float64, len(features))
		for j := range 6 {
			row[j] = rng.Float64()
		}
		if i%10 == 0 {
			row[2] = math.NaN()
		}
		row[6+rng.IntN(3)] = 1
		effect := 0.4*row[0]*row[0] + 0.2*row[7]
		treated := rng.IntN(2)
		y := row[1] + float64(treated)*effect + rng.NormFloat64()
		m := row[1] + 0.5*effect
		x = append(x, row)
		fold = append(fold, i%5)
		rt = append(rt, []float64{float64(treated) - 0.5})
		ry = append(ry, y-m)
		tau = append(tau, effect)
	}
	return x, features, fold, rt, ry, tau
}

func TestRecoversSparseEffect(t *testing.T) {
	x, features, fold, rt, ry, tau := plantedEffect(20000, 1)
	rows := every(len(x))
	mds, err := Fit(x, features, rows, fold, rt, ry, Params{})
	if err != nil {
		t.Fatal(err)
	}
	md := mds[0]
	names := md.Selected()
	if !slices.Equal(names, []string{"x0", "c"}) {
		t.Errorf("selected %v, want [x0 c]", names)
	}
	pred := make([]float64, len(x))
	md.PredictBatch(x, pred)
	if r := stat.Correlation(pred, tau, nil); r < 0.95 {
		t.Errorf("effects correlate %.3f with the truth, want >= 0.95", r)
	}
	t.Logf("selected %v at %.2f lambda max; correlation %.3f", names, md.Lambda, stat.Correlation(pred, tau, nil))

	// The encoding predicts the same, and a refit is identical.
	data, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	var back Model
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(len(features)); err != nil {
		t.Fatal(err)
	}
	refit, err := Fit(x, features, rows, fold, rt, ry, Params{})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range x[:500] {
		if back.Predict(row) != pred[i] || refit[0].Predict(row) != pred[i] {
			t.Fatalf("row %d: decoded %g, refit %g, want %g", i, back.Predict(row), refit[0].Predict(row), pred[i])
		}
	}
}

func TestNoEffect(t *testing.T) {
	x, features, fold, rt, _, _ := plantedEffect(5000, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	ry := make([]float64, len(x))
	for i := range ry {
		ry[i] = rng.NormFloat64()
	}
	rows := every(len(x))
	// The path starts at half the penalty that selects nothing, where the
	// noise's best one or two of the seven features enter; never more.
	for _, knots := range DefaultKnots {
		mds, err := Fit(x, features, rows, fold, rt, ry, Params{Knots: []int{knots}})
		if err != nil {
			t.Fatal(err)
		}
		if sel := mds[0].Selected(); len(sel) > 2 {
			t.Errorf("pure noise, %d knots: %v selected, want at most 2 features", knots, sel)
		}
	}
}

// TestJointTreatments plants two treatments whose effects depend on
// different features and checks that the joint fit selects each one's own.
func TestJointTreatments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	features := []string{"x0", "x1", "x2", "x3"}
	n := 30000
	var x [][]float64
	var fold []int
	var rt [][]float64
	var ry []float64
	var tau [2][]float64
	share := [3]float64{0.4, 0.3, 0.3}
	for i := range n {
		row := []float64{rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()}
		eff := [2]float64{0.5 * row[0], 0.3 * math.Sin(3*row[1])}
		arm := 0
		if u := rng.Float64(); u > share[0] {
			arm = 1
			if u > share[0]+share[1] {
				arm = 2
			}
		}
		y := row[3] + rng.NormFloat64()
		m := row[3] + share[1]*eff[0] + share[2]*eff[1]
		r := []float64{-share[1], -share[2]}
		if arm > 0 {
			y += eff[arm-1]
			r[arm-1] += 1
		}
		x = append(x, row)
		fold = append(fold, i%5)
		rt = append(rt, r)
		ry = append(ry, y-m)
		tau[0] = append(tau[0], eff[0])
		tau[1] = append(tau[1], eff[1])
	}
	rows := every(n)
	mds, err := Fit(x, features, rows, fold, rt, ry, Params{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mds) != 2 {
		t.Fatalf("%d models, want 2", len(mds))
	}
	for a, want := range []string{"x0", "x1"} {
		if names := mds[a].Selected(); !slices.Equal(names, []string{want}) {
			t.Errorf("treatment %d: selected %v, want [%s]", a, mds[a].Selected(), want)
		}
		pred := make([]float64, n)
		mds[a].PredictBatch(x, pred)
		if r := stat.Correlation(pred, tau[a], nil); r < 0.95 {
			t.Errorf("treatment %d: effects correlate %.3f with the truth, want >= 0.95", a, r)
		}
	}
}

func TestWithinOneSE(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss [][]float64 // per penalty, per held-out fold
		want []int
	}{
		{"one penalty", [][]float64{{1, 2}}, []int{0}},
		// Penalty 0 is worse on every fold by the same amount: its
		// difference has no spread, so it is out.
		{"consistently worse", [][]float64{{1.1, 2.1, 3.1}, {1, 2, 3}}, []int{1}},
		// The differences from the best: penalty 0 (0.1, -0.05, 0.04)
		// mean 0.03, se 0.036: in; penalty 2 (0.3, 0.3, 0.2) mean
		// 0.267, se 0.027: out.
		{"noise", [][]float64{{1.1, 1.95, 3.04}, {1, 2, 3}, {1.3, 2.3, 3.2}}, []int{0, 1}},
		// Penalty 2 is as close as penalty 0 but smaller than the best's.
		{"denser left out", [][]float64{{1.1, 1.95, 3.04}, {1, 2, 3}, {1.1, 1.95, 3.04}}, []int{0, 1}},
		{"best last", [][]float64{{2, 2}, {1.5, 1.6}, {1, 1}}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withinOneSE(tc.loss); !slices.Equal(got, tc.want) {
				t.Errorf("withinOneSE = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAverageOfResolutions checks that the fit at several resolutions
// predicts the mean of the fits at each one.
func TestAverageOfResolutions(t *testing.T) {
	x, features, fold, rt, ry, _ := plantedEffect(5000, 4)
	rows := every(len(x))
	fit := func(knots ...int) *Model {
		mds, err := Fit(x, features, rows, fold, rt, ry, Params{Knots: knots})
		if err != nil {
			t.Fatal(err)
		}
		return mds[0]
	}
	both, four, six := fit(4, 6), fit(4), fit(6)
	if n := len(both.Terms); n != len(four.Terms)+len(six.Terms)-1 {
		// x0 at each resolution, the one-hot group c once.
		t.Errorf("%d terms, want %d + %d less the shared one-hot group", n, len(four.Terms), len(six.Terms))
	}
	for i, row := range x[:200] {
		want := (four.Predict(row) + six.Predict(row)) / 2
		if got := both.Predict(row); math.Abs(got-want) > 1e-12 {
			t.Fatalf("row %d: %g, want the mean %g", i, got, want)
		}
	}
	if _, err := Fit(x, features, rows, fold, rt, ry, Params{Knots: []int{1}}); err == nil {
		t.Error("1 knot: no error")
	}
}

func BenchmarkFit(b *testing.B) {
	x, features, fold, rt, ry, _ := plantedEffect(20000, 1)
	rows := every(len(x))
	b.ResetTimer()
	for range b.N {
		if _, err := Fit(x, features, rows, fold, rt, ry, Params{}); err != nil {
			b.Fatal(err)
		}
	}
}

// every returns the rows 0 to n-1.
func every(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}
