package forest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestRegressionStep(t *testing.T) {
	// y is a step function of x0 with three levels; x1 is noise.
	step := func(v float64) float64 {
		switch {
		case v < 0.3:
			return -2
		case v < 0.7:
			return 5
		}
		return 1
	}
	for _, tc := range []struct {
		name  string
		noise float64
		p     Params
		tol   float64
	}{
		{"exact tree", 0, Params{Trees: 1, Criterion: Variance, MaxFeatures: 2, MinLeaf: 1}, 0},
		{"noisy forest", 0.5, Params{Trees: 30, Criterion: Variance, Bootstrap: true, Seed: 2}, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 3))
			var x [][]float64
			var y []float64
			for range 2000 {
				// x0 on a grid of 200 values: a bin per value.
				r := []float64{math.Floor(200*rng.Float64()) / 200, rng.Float64()}
				x = append(x, r)
				y = append(y, step(r[0])+tc.noise*rng.NormFloat64())
			}
			f := mustTrain(t, x, y, tc.p)
			if f.Task != Regression {
				t.Fatalf("task %q", f.Task)
			}
			for _, v := range []float64{0.05, 0.2, 0.35, 0.5, 0.6, 0.8, 0.95} {
				if got := f.Predict([]float64{v, 0.5}); math.Abs(got-step(v)) > tc.tol {
					t.Errorf("Predict(%v) = %v, want %v ± %v", v, got, step(v), tc.tol)
				}
			}
			if tc.noise == 0 {
				nodes := f.Trees[0].Nodes
				if len(nodes) != 5 {
					t.Errorf("exact step tree has %d nodes, want 5 (two splits, three leaves)", len(nodes))
				}
				for i, nd := range nodes {
					if !nd.IsLeaf() && nd.Feature != 0 {
						t.Errorf("node %d splits on x%d", i, nd.Feature)
					}
				}
			}
		})
	}
}

func TestEntropyAndGiniAgreeOnSeparable(t *testing.T) {
	x, y := gen(200, 3, 30, func(_ *rand.Rand, r []float64) bool { return r[1] > 0.4 })
	for _, c := range []Criterion{Gini, Entropy} {
		f := mustTrain(t, x, y, Params{Trees: 1, Criterion: c, MaxFeatures: 3, MinLeaf: 1})
		root := f.Trees[0].Nodes[0]
		if root.Feature != 1 || accuracy(f, x, y) != 1 {
			t.Errorf("%s: root splits x%d, accuracy %v; want x1 and 1", c, root.Feature, accuracy(f, x, y))
		}
		p := root.Value
		want := 2 * p * (1 - p)
		if c == Entropy {
			want = -(p*math.Log2(p) + (1-p)*math.Log2(1-p))
		}
		if math.Abs(root.Gain-want) > 1e-12 {
			t.Errorf("%s: root gain %v, want the full impurity %v", c, root.Gain, want)
		}
	}
}

func TestClassWeight(t *testing.T) {
	// Rare positives; weighting them 9x moves leaf values up.
	x, y := gen(3000, 2, 31, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < 0.1 })
	plain := mustTrain(t, x, y, Params{Trees: 1, MaxDepth: 1, MinLeaf: 1})
	weighted := mustTrain(t, x, y, Params{Trees: 1, MaxDepth: 1, MinLeaf: 1, ClassWeight: [2]float64{1, 9}})
	p := plain.Trees[0].Nodes[0].Value
	w := weighted.Trees[0].Nodes[0].Value
	if want := 9 * p / (9*p + 1 - p); math.Abs(w-want) > 1e-12 {
		t.Errorf("weighted root value %v, want %v (plain %v)", w, want, p)
	}
	if root := weighted.Trees[0].Nodes[0]; root.N != 3000 || math.Abs(root.W-(3000-3000*p+9*3000*p)) > 1e-6 {
		t.Errorf("root N %d W %v", root.N, root.W)
	}
}

func TestSubsample(t *testing.T) {
	x, y := gen(1000, 3, 32, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < r[0] })
	for _, tc := range []struct {
		p    Params
		want int // distinct rows at the root
	}{
		{Params{Trees: 3, Subsample: 0.3, Seed: 1}, 300},
		{Params{Trees: 3, Seed: 1}, 1000},
	} {
		f := mustTrain(t, x, y, tc.p)
		for i, tr := range f.Trees {
			if tr.Nodes[0].N != tc.want || tr.Nodes[0].W != float64(tc.want) {
				t.Errorf("%+v: tree %d root has %d rows, weight %v; want %d", tc.p, i, tr.Nodes[0].N, tr.Nodes[0].W, tc.want)
			}
		}
	}
	// Bootstrap: n draws, about 63% distinct.
	f := mustTrain(t, x, y, Params{Trees: 3, Bootstrap: true, Seed: 1})
	for i, tr := range f.Trees {
		if r := tr.Nodes[0]; r.W != 1000 || r.N < 580 || r.N > 680 {
			t.Errorf("bootstrap tree %d: root N %d W %v, want W 1000 and N near 632", i, r.N, r.W)
		}
	}
}

func TestFitRows(t *testing.T) {
	// Fit on a subset equals Train on that subset when the bins agree.
	x, y := gen(600, 3, 33, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < r[2] })
	bins, err := ExactBins(x, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(x, names(3), bins)
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	var xs [][]float64
	var ys []float64
	for i := 0; i < 600; i += 3 {
		rows = append(rows, i)
		xs = append(xs, x[i])
		ys = append(ys, y[i])
	}
	p := Params{Trees: 4, Bootstrap: true, Seed: 5}
	a, err := Fit(m, y, rows, p)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := NewMatrix(xs, names(3), bins)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(ms, ys, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved(t, a), saved(t, b)) {
		t.Error("Fit on rows differs from Fit on the same rows copied out")
	}
	if _, err := Fit(m, y, []int{0, 600}, p); err == nil {
		t.Error("Fit accepted row 600 of 600")
	}
	if _, err := Fit(m, y[:10], nil, p); err == nil {
		t.Error("Fit accepted 10 labels for 600 rows")
	}
}

func TestOOB(t *testing.T) {
	x, y := noisyNonlinear(3000, 34)
	xt, yt := noisyNonlinear(3000, 35)
	f := mustTrain(t, x, y, Params{Trees: 40, Bootstrap: true, OOB: true, Seed: 6})
	if f.OOB == nil || f.OOB.N < 2990 {
		t.Fatalf("OOB %+v, want nearly every row", f.OOB)
	}
	held := auc(f, xt, yt)
	t.Logf("OOB AUC %.4f, held-out AUC %.4f", f.OOB.AUC, held)
	if math.Abs(f.OOB.AUC-held) > 0.03 {
		t.Errorf("OOB AUC %.4f far from held-out AUC %.4f", f.OOB.AUC, held)
	}
	if f.OOB.LogLoss <= 0 || f.OOB.LogLoss > math.Log(2) {
		t.Errorf("OOB log loss %v", f.OOB.LogLoss)
	}
	// Without bootstrap or subsampling no row is out of bag.
	g := mustTrain(t, x, y, Params{Trees: 2, OOB: true})
	if g.OOB == nil || g.OOB.N != 0 {
		t.Errorf("OOB without sampling: %+v", g.OOB)
	}
	// Regression: R² of a smooth function.
	rng := rand.New(rand.NewPCG(1, 2))
	var xr [][]float64
	var yr []float64
	for range 2000 {
		v := rng.Float64()
		xr = append(xr, []float64{v, rng.Float64()})
		yr = append(yr, math.Sin(6*v)+0.1*rng.NormFloat64())
	}
	r := mustTrain(t, xr, yr, Params{Trees: 30, Criterion: Variance, Bootstrap: true, OOB: true, Seed: 1})
	if r.OOB.R2 < 0.9 || r.OOB.MSE > 0.03 {
		t.Errorf("regression OOB %+v, want R² > 0.9", r.OOB)
	}
	// The estimate does not depend on the number of workers.
	a, _ := train(x, y, names(10), Params{Trees: 9, Bootstrap: true, OOB: true, Seed: 2}, 1)
	b, _ := train(x, y, names(10), Params{Trees: 9, Bootstrap: true, OOB: true, Seed: 2}, 4)
	if *a.OOB != *b.OOB {
		t.Errorf("OOB with 1 worker %+v, with 4 %+v", a.OOB, b.OOB)
	}
}

func TestSketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// Four shards of a skewed distribution with missing values and a
	// heavy atom at 0.
	var all []float64
	shards := make([]*Sketch, 4)
	missing := 0.0
	for s := range shards {
		shards[s] = NewSketch(256)
		for range 20000 + 5000*s {
			var v float64
			switch u := rng.Float64(); {
			case u < 0.05:
				v = math.NaN()
				missing++
			case u < 0.3:
				v = 0
			default:
				v = math.Exp(2 * rng.NormFloat64())
			}
			shards[s].Add(v)
			if !math.IsNaN(v) {
				all = append(all, v)
			}
		}
	}
	merged := NewSketch(256)
	for _, s := range shards {
		merged.Merge(s)
	}
	sort.Float64s(all)
	n := float64(len(all))
	if merged.Total() != n || merged.Missing != missing {
		t.Fatalf("merged total %v missing %v, want %v and %v", merged.Total(), merged.Missing, n, missing)
	}
	if len(merged.Values) > 256+1 {
		t.Errorf("merged sketch keeps %d points, want about 256", len(merged.Values))
	}
	// Each point's cumulative weight is the true rank of its value, within
	// twice the compression error.
	var cum float64
	for j, v := range merged.Values {
		cum += merged.Weights[j]
		rank := float64(sort.Search(len(all), func(i int) bool { return all[i] > v }))
		if math.Abs(cum-rank) > 2*n/256 {
			t.Fatalf("point %d (%v): cumulative weight %v, true rank %v", j, v, cum, rank)
		}
	}
	bins, err := NewBins([]*Sketch{merged}, 64)
	if err != nil {
		t.Fatal(err)
	}
	c := bins.Cuts[0]
	if len(c) < 40 || len(c) > 63 {
		t.Errorf("%d cuts for 64 bins", len(c))
	}
	// Bins hold about n/64 values each, except the atom at 0.
	counts := make([]int, len(c)+1)
	for _, v := range all {
		counts[bins.Bin(0, v)]++
	}
	for b, k := range counts {
		if b > 0 && (float64(k) > 3*n/64 || float64(k) < n/64/4) {
			t.Errorf("bin %d holds %d of %v values", b, k, n)
		}
	}
	if bins.Bin(0, math.NaN()) != MissingBin {
		t.Error("NaN not in the missing bin")
	}
	// Merging is deterministic and exact summaries stay exact.
	small := NewSketch(16)
	for _, v := range []float64{3, 1, 2, 2, 3, 3} {
		small.Add(v)
	}
	other := NewSketch(16)
	other.Add(5)
	small.Merge(other)
	if !slices.Equal(small.Values, []float64{1, 2, 3, 5}) || !slices.Equal(small.Weights, []float64{1, 2, 3, 1}) {
		t.Errorf("exact sketch %v %v", small.Values, small.Weights)
	}
	b, _ := NewBins([]*Sketch{small}, 0)
	if !slices.Equal(b.Cuts[0], []float64{1.5, 2.5, 4}) {
		t.Errorf("cuts of few values %v, want midpoints", b.Cuts[0])
	}
}

func TestBinsKeepGaps(t *testing.T) {
	// Two clusters with a gap: some cut falls in the gap even with few
	// bins, so a stump separates them perfectly.
	rng := rand.New(rand.NewPCG(8, 8))
	var x [][]float64
	var y []float64
	for range 5000 {
		v := 0.45 * rng.Float64()
		if rng.Float64() < 0.37 {
			v += 0.55
		}
		x = append(x, []float64{v})
		y = append(y, b2f(v > 0.5))
	}
	for _, maxBins := range []int{8, 32, 255} {
		f := mustTrain(t, x, y, Params{Trees: 1, MaxDepth: 1, MinLeaf: 1, MaxBins: maxBins})
		if acc := accuracy(f, x, y); acc != 1 {
			t.Errorf("%d bins: stump accuracy %v, want 1", maxBins, acc)
		}
	}
}

func TestBinsErrors(t *testing.T) {
	for _, tc := range []struct {
		bins *Bins
		want string
	}{
		{nil, "nil bins"},
		{&Bins{Cuts: [][]float64{{1}}}, "bins for 1 features"},
		{&Bins{Cuts: [][]float64{{2, 1}, {}}}, "ascending"},
		{&Bins{Cuts: [][]float64{{math.NaN()}, {}}}, "finite"},
		{&Bins{Cuts: [][]float64{make([]float64, 255), {}}}, "255 cuts"},
	} {
		if err := tc.bins.Validate(2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.bins, err, tc.want)
		}
	}
	if _, err := NewBins([]*Sketch{NewSketch(0)}, 300); err == nil {
		t.Error("NewBins accepted 300 bins")
	}
}

func TestLoadVersion1(t *testing.T) {
	v1 := `{"version":1,"features":["a","b"],"trees":[{"nodes":[{"f":1,"t":0.5,"l":1,"r":2,"v":0.5,"g":0.1,"n":10},{"f":-1,"v":0.2,"n":5},{"f":-1,"v":0.8,"n":5}]}]}`
	f, err := Load(strings.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != Version || f.Task != Classification {
		t.Errorf("loaded version %d task %q", f.Version, f.Task)
	}
	if got := f.Predict([]float64{0, 0.7}); got != 0.8 {
		t.Errorf("Predict = %v, want 0.8", got)
	}
	if imp := f.Importances(); !slices.Equal(imp, []float64{0, 1}) {
		t.Errorf("importances %v", imp)
	}
	if !strings.Contains(string(saved(t, f)), `"version":2`) {
		t.Error("Save of a loaded version-1 forest does not write version 2")
	}
}

func TestSaveLoadRegression(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var x [][]float64
	var y []float64
	for range 500 {
		r := []float64{rng.Float64(), rng.Float64(), rng.Float64()}
		if rng.Float64() < 0.1 {
			r[1] = math.NaN()
		}
		x = append(x, r)
		y = append(y, 100*r[0]-30+rng.NormFloat64())
	}
	f := mustTrain(t, x, y, Params{Trees: 5, Criterion: Variance, Bootstrap: true, OOB: true, Seed: 3})
	g, err := Load(bytes.NewReader(saved(t, f)))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range x {
		if f.Predict(row) != g.Predict(row) {
			t.Fatalf("Predict(%v) differs after Load", row)
		}
	}
	if g.Task != Regression || *g.OOB != *f.OOB {
		t.Errorf("loaded task %q OOB %+v, want regression and %+v", g.Task, g.OOB, f.OOB)
	}
}

func ExampleNewBins() {
	// Two shards sketch their values; the workflow merges the sketches
	// and every shard bins with the same cuts.
	a, b := NewSketch(0), NewSketch(0)
	for _, v := range []float64{1, 2, 2, 9} {
		a.Add(v)
	}
	for _, v := range []float64{2, 5, math.NaN()} {
		b.Add(v)
	}
	a.Merge(b)
	bins, _ := NewBins([]*Sketch{a}, 0)
	fmt.Println(bins.Cuts[0], bins.Bin(0, 4), bins.Bin(0, math.NaN()))
	// Output: [1.5 3.5 7] 2 255
}

// BenchmarkFitRegression grows 20 regression trees on 20,000 rows binned
// once.
func BenchmarkFitRegression(b *testing.B) {
	x, y := noisyNonlinear(20000, 40)
	bins, err := ExactBins(x, 10, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewMatrix(x, names(10), bins)
	if err != nil {
		b.Fatal(err)
	}
	p := Params{Trees: 20, Criterion: Variance, MaxDepth: 10, MinLeaf: 20, Bootstrap: true, Seed: 1}
	for b.Loop() {
		if _, err := Fit(m, y, nil, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSketch adds 100,000 values to a sketch and merges it into
// another.
func BenchmarkSketch(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	v := make([]float64, 100000)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	for b.Loop() {
		s, t := NewSketch(0), NewSketch(0)
		for _, x := range v {
			s.Add(x)
		}
		t.Merge(s)
	}
}
