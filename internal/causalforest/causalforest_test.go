package causalforest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/promoflow/promoflow/internal/forest"
)

// planted is a randomized experiment with a known effect: five uniform
// features, half the rows treated, a binary outcome whose base rate
// depends on x0 and x1 and whose effect on x0 and x2 (a step and a ramp),
// so that a learner must find the effect's features among the base rate's.
type planted struct {
	x     [][]float64
	t     []float64
	y     []float64
	tau   []float64
	rows  []int
	m     *forest.Matrix
	names []string
}

func newPlanted(t *testing.T, n int, seed uint64) *planted {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	p := &planted{names: []string{"x0", "x1", "x2", "x3", "x4"}}
	for i := range n {
		x := make([]float64, 5)
		for f := range x {
			x[f] = rng.Float64()
		}
		base := 0.1 + 0.3*x[0] + 0.2*x[1]
		tau := 0.1 * x[2]
		if x[0] > 0.5 {
			tau += 0.1
		}
		tr := float64(rng.IntN(2))
		y := 0.0
		if rng.Float64() < base+tr*tau {
			y = 1
		}
		p.x = append(p.x, x)
		p.t = append(p.t, tr)
		p.y = append(p.y, y)
		p.tau = append(p.tau, tau)
		p.rows = append(p.rows, i)
	}
	bins, err := forest.ExactBins(p.x, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.m, err = forest.NewMatrix(p.x, p.names, bins); err != nil {
		t.Fatal(err)
	}
	return p
}

func corr(a, b []float64) float64 {
	var sa, sb, saa, sbb, sab float64
	for i := range a {
		sa += a[i]
		sb += b[i]
		saa += a[i] * a[i]
		sbb += b[i] * b[i]
		sab += a[i] * b[i]
	}
	n := float64(len(a))
	return (sab/n - sa*sb/n/n) / math.Sqrt((saa/n-sa*sa/n/n)*(sbb/n-sb*sb/n/n))
}

func rf(minLeaf int, seed uint64) forest.Params {
	return forest.Params{Trees: 100, Criterion: forest.Variance, MaxDepth: 10, MinLeaf: minLeaf, MaxFeatures: 2, Bootstrap: true, Seed: seed}
}

// TestPlantedEffect fits, on a planted-effect experiment, a T-learner of
// two random forests and a causal forest on residuals from a 2-fold
// cross-fitted outcome forest: the causal forest's effects on fresh rows
// correlate with the true effects better than the T-learner's, and its
// mean effect is near the true mean.
func TestPlantedEffect(t *testing.T) {
	train, test := newPlanted(t, 20000, 1), newPlanted(t, 5000, 2)
	// Nuisance m(x) cross-fitted over two halves; e(x) = 0.5 is known.
	mhat := make([]float64, len(train.y))
	for k := range 2 {
		var fit, pred []int
		for _, i := range train.rows {
			if i%2 == k {
				pred = append(pred, i)
			} else {
				fit = append(fit, i)
			}
		}
		f, err := forest.Fit(train.m, train.y, fit, rf(50, uint64(k)))
		if err != nil {
			t.Fatal(err)
		}
		xs := make([][]float64, len(pred))
		for j, i := range pred {
			xs[j] = train.x[i]
		}
		out := make([]float64, len(xs))
		f.PredictBatch(xs, out)
		for j, i := range pred {
			mhat[i] = out[j]
		}
	}
	rt, ry := make([]float64, len(train.y)), make([]float64, len(train.y))
	for i := range rt {
		rt[i] = train.t[i] - 0.5
		ry[i] = train.y[i] - mhat[i]
	}
	cf, err := Fit(train.m, rt, ry, train.rows, Params{Trees: 200, MinLeaf: 50, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.Validate(5); err != nil {
		t.Fatal(err)
	}
	var treated, control []int
	for i, v := range train.t {
		if v == 1 {
			treated = append(treated, i)
		} else {
			control = append(control, i)
		}
	}
	f1, err := forest.Fit(train.m, train.y, treated, rf(50, 4))
	if err != nil {
		t.Fatal(err)
	}
	f0, err := forest.Fit(train.m, train.y, control, rf(50, 5))
	if err != nil {
		t.Fatal(err)
	}
	n := len(test.x)
	p1, p0, pc := make([]float64, n), make([]float64, n), make([]float64, n)
	f1.PredictBatch(test.x, p1)
	f0.PredictBatch(test.x, p0)
	cf.PredictBatch(test.x, pc)
	pt := make([]float64, n)
	var meanCF, meanTrue float64
	for i := range pt {
		pt[i] = p1[i] - p0[i]
		meanCF += pc[i] / float64(n)
		meanTrue += test.tau[i] / float64(n)
	}
	cc, ct := corr(pc, test.tau), corr(pt, test.tau)
	t.Logf("correlation with the true effect: causal forest %.3f, T-learner %.3f; mean effect %.4f (true %.4f)", cc, ct, meanCF, meanTrue)
	if cc < ct+0.05 {
		t.Errorf("causal forest correlates %.3f with the truth, T-learner %.3f: want at least 0.05 better", cc, ct)
	}
	if math.Abs(meanCF-meanTrue) > 0.02 {
		t.Errorf("mean effect %.4f, true %.4f", meanCF, meanTrue)
	}
	// Deterministic for a seed, whatever the parallelism; and encodable.
	again, err := Fit(train.m, rt, ry, train.rows, Params{Trees: 200, MinLeaf: 50, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(cf)
	b2, _ := json.Marshal(again)
	if string(b1) != string(b2) {
		t.Error("two fits with one seed differ")
	}
	var dec Forest
	if err := json.Unmarshal(b1, &dec); err != nil {
		t.Fatal(err)
	}
	if got, want := dec.Predict(test.x[0]), cf.Predict(test.x[0]); got != want {
		t.Errorf("decoded forest predicts %v, want %v", got, want)
	}
}

// TestHonestLeaves checks the invariants of a fit: every split keeps both
// groups on both sides among the estimation rows (so every leaf has
// statistics), and a constant effect is recovered.
func TestHonestLeaves(t *testing.T) {
	p := newPlanted(t, 4000, 7)
	rt, ry := make([]float64, len(p.y)), make([]float64, len(p.y))
	for i := range rt {
		rt[i] = p.t[i] - 0.5
		ry[i] = 0.3*rt[i] + 0.01*math.Sin(float64(i))
	}
	cf, err := Fit(p.m, rt, ry, p.rows, Params{Trees: 20, MinLeaf: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for ti, tr := range cf.Trees {
		for i, nd := range tr.Nodes {
			if nd.Feature < 0 && nd.Stats == nil {
				t.Fatalf("tree %d leaf %d has no estimation rows", ti, i)
			}
		}
	}
	if got := cf.Predict(p.x[0]); math.Abs(got-0.3) > 0.01 {
		t.Errorf("constant effect 0.3 estimated %.4f", got)
	}
	if _, err := Fit(p.m, rt[:10], ry, p.rows, Params{}); err == nil {
		t.Error("short residuals accepted")
	}
}
