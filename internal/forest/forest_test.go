package forest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/metrics"
)

// names returns feature names x0..x(d-1).
func names(d int) []string {
	s := make([]string, d)
	for i := range s {
		s[i] = fmt.Sprintf("x%d", i)
	}
	return s
}

// gen draws n rows of d features uniform on [0, 1) and labels from label,
// which may also modify the row (to inject missing values).
func gen(n, d int, seed uint64, label func(rng *rand.Rand, row []float64) bool) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = rng.Float64()
		}
		if label(rng, x[i]) {
			y[i] = 1
		}
	}
	return x, y
}

func mustTrain(t testing.TB, x [][]float64, y []float64, p Params) *Forest {
	t.Helper()
	f, err := Train(x, y, names(len(x[0])), p)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	return f
}

func accuracy(f *Forest, x [][]float64, y []float64) float64 {
	ok := 0
	for i, row := range x {
		if (f.Predict(row) > 0.5) == (y[i] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(len(x))
}

func auc(f *Forest, x [][]float64, y []float64) float64 {
	scores := make([]float64, len(x))
	labels := make([]bool, len(x))
	for i, row := range x {
		scores[i] = f.Predict(row)
		labels[i] = y[i] == 1
	}
	return metrics.AUC(scores, labels)
}

// single is one deterministic CART tree: all rows, all features.
func single(d, depth, minLeaf int) Params {
	return Params{Trees: 1, MaxDepth: depth, MinLeaf: minLeaf, MaxFeatures: d}
}

func TestPerfectSplit1D(t *testing.T) {
	for _, tc := range []struct {
		name     string
		boundary float64
		flip     bool // positives below the boundary
	}{
		{"middle", 0.5, false},
		{"low", 0.1, false},
		{"high reversed", 0.83, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 200 distinct values: one bin each, so every midpoint is a
			// candidate.
			x, y := gen(200, 1, 1, func(_ *rand.Rand, r []float64) bool { return (r[0] > tc.boundary) != tc.flip })
			f := mustTrain(t, x, y, single(1, 0, 1))
			if acc := accuracy(f, x, y); acc != 1 {
				t.Errorf("training accuracy %v, want 1", acc)
			}
			nodes := f.Trees[0].Nodes
			if len(nodes) != 3 {
				t.Fatalf("tree has %d nodes, want a root and two leaves: %+v", len(nodes), nodes)
			}
			// The threshold lies between the largest x below the boundary
			// and the smallest above it.
			lo, hi := math.Inf(-1), math.Inf(1)
			for _, r := range x {
				if r[0] <= tc.boundary {
					lo = max(lo, r[0])
				} else {
					hi = min(hi, r[0])
				}
			}
			root := nodes[0]
			if root.Feature != 0 || !(root.Threshold > lo && root.Threshold < hi) {
				t.Errorf("root splits x%d at %v, want x0 in (%v, %v)", root.Feature, root.Threshold, lo, hi)
			}
			if want := (lo + hi) / 2; math.Abs(root.Threshold-want) > 1e-12 {
				t.Errorf("threshold %v, want the midpoint %v", root.Threshold, want)
			}
			left, right := nodes[root.Left], nodes[root.Right]
			if !left.IsLeaf() || !right.IsLeaf() {
				t.Errorf("pure children were split: %+v %+v", left, right)
			}
			wantLeft := 0.0
			if tc.flip {
				wantLeft = 1
			}
			if left.Value != wantLeft || right.Value != 1-wantLeft {
				t.Errorf("leaf values %v, %v; want %v, %v", left.Value, right.Value, wantLeft, 1-wantLeft)
			}
			// Full Gini of the root is removed.
			p := root.Value
			if want := 2 * p * (1 - p); math.Abs(root.Gain-want) > 1e-12 {
				t.Errorf("root gain %v, want %v", root.Gain, want)
			}
		})
	}
}

// xorData draws n points with classes by quadrant, (x0 > 0.5) != (x1 > 0.5),
// keeping a margin of 0.05 around both boundaries, plus a noise feature x2.
// weights are the probabilities of the quadrants (left-bottom, left-top,
// right-bottom, right-top); equal weights give a plain XOR, on which no
// first split has any gain.
func xorData(n int, seed uint64, weights [4]float64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		u, q := rng.Float64(), 0
		for q < 3 && u >= weights[q] {
			u -= weights[q]
			q++
		}
		side := func(high bool) float64 {
			v := 0.45 * rng.Float64()
			if high {
				return 0.55 + v
			}
			return v
		}
		x[i] = []float64{side(q >= 2), side(q%2 == 1), rng.Float64()}
		y[i] = b2f((q >= 2) != (q%2 == 1))
	}
	return x, y
}

func TestPerfectSplitXOR(t *testing.T) {
	balanced := [4]float64{0.25, 0.25, 0.25, 0.25}
	// Skewed so that x0 <= 0.5 is mostly positive and x0 > 0.5 mostly
	// negative: the root has an informative split, on x0 only.
	skewed := [4]float64{0.1, 0.4, 0.1, 0.4}
	for _, tc := range []struct {
		name    string
		weights [4]float64
		depth   int
	}{
		{"stump", balanced, 1},
		{"skewed", skewed, 4},
		{"balanced", balanced, 12}, // greedy Gini peels edges first
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, y := xorData(800, 1, tc.weights)
			f := mustTrain(t, x, y, single(3, tc.depth, 1))
			acc := accuracy(f, x, y)
			if tc.depth == 1 {
				if acc >= 0.8 {
					t.Errorf("training accuracy %v on XOR, want a stump to fail", acc)
				}
				return
			}
			if acc != 1 {
				t.Errorf("training accuracy %v, want 1", acc)
			}
			if xs, ys := xorData(800, 2, tc.weights); accuracy(f, xs, ys) < 0.97 {
				t.Errorf("held-out accuracy %v, want >= 0.97", accuracy(f, xs, ys))
			}
			nodes := f.Trees[0].Nodes
			for i, nd := range nodes {
				if !nd.IsLeaf() && nd.Feature == 2 {
					t.Errorf("node %d splits on the noise feature x2", i)
				}
			}
			if root := nodes[0]; tc.weights == skewed && (root.Feature != 0 || math.Abs(root.Threshold-0.5) > 0.1) {
				t.Errorf("root splits x%d at %v, want x0 near 0.5", root.Feature, root.Threshold)
			}
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// walk calls fn for every node of t with its depth.
func walk(t *Tree, fn func(i, depth int)) {
	var rec func(i, depth int)
	rec = func(i, depth int) {
		fn(i, depth)
		if nd := t.Nodes[i]; !nd.IsLeaf() {
			rec(nd.Left, depth+1)
			rec(nd.Right, depth+1)
		}
	}
	rec(0, 0)
}

func TestLimits(t *testing.T) {
	// Mostly noise, so trees grow as far as the limits allow.
	x, y := gen(600, 4, 3, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < 0.3+0.4*r[0] })
	for _, tc := range []struct {
		p         Params
		wantDepth int // depth reached by some leaf; -1: only check <= limit
	}{
		{Params{Trees: 3, MaxDepth: 3, MinLeaf: 7, Bootstrap: true}, 3},
		{Params{Trees: 3, MaxDepth: 1, MinLeaf: 1}, 1},
		{Params{Trees: 3, MinLeaf: 1, Bootstrap: true}, DefaultMaxDepth},
		{Params{Trees: 3, MaxDepth: 12}, -1}, // default MinLeaf 5
		{Params{Trees: 3, MaxDepth: 6, MinLeaf: 60}, -1},
		{Params{Trees: 3, MaxDepth: 6, MinLeaf: 2, MinGain: 0.01}, -1},
	} {
		t.Run(fmt.Sprintf("%+v", tc.p), func(t *testing.T) {
			f := mustTrain(t, x, y, tc.p)
			rp, _ := tc.p.resolve(4)
			for ti := range f.Trees {
				tr := &f.Trees[ti]
				deepest := 0
				walk(tr, func(i, depth int) {
					nd := tr.Nodes[i]
					if nd.N < rp.MinLeaf {
						t.Errorf("tree %d node %d: %d rows < MinLeaf %d", ti, i, nd.N, rp.MinLeaf)
					}
					if nd.IsLeaf() {
						deepest = max(deepest, depth)
						return
					}
					if depth >= rp.MaxDepth {
						t.Errorf("tree %d node %d: split at depth %d, MaxDepth %d", ti, i, depth, rp.MaxDepth)
					}
					if nd.Value == 0 || nd.Value == 1 {
						t.Errorf("tree %d node %d: pure node (value %v) was split", ti, i, nd.Value)
					}
					if nd.Gain < rp.MinGain-1e-12 {
						t.Errorf("tree %d node %d: gain %v < MinGain %v", ti, i, nd.Gain, rp.MinGain)
					}
					l, r := tr.Nodes[nd.Left], tr.Nodes[nd.Right]
					if l.N+r.N != nd.N {
						t.Errorf("tree %d node %d: children have %d+%d rows, node %d", ti, i, l.N, r.N, nd.N)
					}
				})
				if tc.wantDepth >= 0 && deepest != tc.wantDepth {
					t.Errorf("tree %d: deepest leaf at %d, want %d", ti, deepest, tc.wantDepth)
				}
				if deepest > rp.MaxDepth {
					t.Errorf("tree %d: depth %d > MaxDepth %d", ti, deepest, rp.MaxDepth)
				}
			}
		})
	}
}

// TestSplitsAreOptimal checks every split of a greedy tree against a brute
// force search over all features, thresholds and missing-value directions of
// the rows reaching the node.
func TestSplitsAreOptimal(t *testing.T) {
	const minLeaf = 3
	x, y := gen(240, 4, 21, func(rng *rand.Rand, r []float64) bool {
		r[1] = math.Round(r[1] * 5) // ties
		if rng.Float64() < 0.2 {
			r[2] = math.NaN()
			return rng.Float64() < 0.8
		}
		return rng.Float64() < r[0]*0.6+r[1]*0.08
	})
	f := mustTrain(t, x, y, single(4, 5, minLeaf))
	tr := &f.Trees[0]
	gini := func(n, s float64) float64 { return 2 * s * (n - s) / n } // n × Gini
	checked := 0
	walk(tr, func(i, depth int) {
		nd := tr.Nodes[i]
		if nd.IsLeaf() {
			return
		}
		// Rows reaching node i: route every training row from the root.
		var rows []int
		for r, row := range x {
			j := 0
			for j != i && !tr.Nodes[j].IsLeaf() {
				p := tr.Nodes[j]
				v := row[p.Feature]
				if (math.IsNaN(v) && p.MissingLeft) || v <= p.Threshold {
					j = p.Left
				} else {
					j = p.Right
				}
			}
			if j == i {
				rows = append(rows, r)
			}
		}
		if len(rows) != nd.N {
			t.Fatalf("node %d: %d rows reach it, N = %d", i, len(rows), nd.N)
		}
		var n, s float64
		for _, r := range rows {
			n++
			s += y[r]
		}
		best := math.Inf(-1)
		for fi := 0; fi < 4; fi++ {
			var cands []float64
			for _, r := range rows {
				if v := x[r][fi]; !math.IsNaN(v) {
					cands = append(cands, v) // threshold v: x <= v goes left
				}
			}
			cands = append(cands, math.MaxFloat64)
			for _, th := range cands {
				for _, ml := range []bool{false, true} {
					var ln, ls float64
					for _, r := range rows {
						v := x[r][fi]
						if (math.IsNaN(v) && ml) || v <= th {
							ln++
							ls += y[r]
						}
					}
					if ln < minLeaf || n-ln < minLeaf {
						continue
					}
					best = max(best, (gini(n, s)-gini(ln, ls)-gini(n-ln, s-ls))/n)
				}
			}
		}
		if math.Abs(nd.Gain-best) > 1e-12 {
			t.Errorf("node %d: gain %v, brute force best %v", i, nd.Gain, best)
		}
		checked++
	})
	if checked < 5 {
		t.Errorf("only %d splits checked", checked)
	}
}

func TestLeafOnly(t *testing.T) {
	x, _ := gen(100, 3, 4, func(*rand.Rand, []float64) bool { return false })
	ones := slices.Repeat([]float64{1}, 100)
	noisy := make([]float64, 100)
	for i := range noisy {
		noisy[i] = float64(i % 2)
	}
	for _, tc := range []struct {
		name string
		y    []float64
		p    Params
		want float64
	}{
		{"pure root", ones, Params{Trees: 2, MinLeaf: 1}, 1},
		{"MinGain above max Gini", noisy, Params{Trees: 2, MinLeaf: 1, MinGain: 0.51}, 0.5},
		{"too few rows for MinLeaf", noisy, Params{Trees: 2, MinLeaf: 51}, 0.5},
	} {
		f := mustTrain(t, x, tc.y, tc.p)
		for i, tr := range f.Trees {
			if len(tr.Nodes) != 1 || tr.Nodes[0].Value != tc.want {
				t.Errorf("%s: tree %d = %+v, want a single leaf of %v", tc.name, i, tr.Nodes, tc.want)
			}
		}
		if got := f.Predict(x[0]); got != tc.want {
			t.Errorf("%s: Predict = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMissing(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name     string
		nanLabel bool
	}{
		{"missing positive", true},
		{"missing negative", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// y = x0 > 0.6 where present; a quarter of rows miss x0 and
			// all carry nanLabel. x1 is noise.
			x, y := gen(1000, 2, 5, func(rng *rand.Rand, r []float64) bool {
				if rng.Float64() < 0.25 {
					r[0] = nan
					return tc.nanLabel
				}
				return r[0] > 0.6
			})
			f := mustTrain(t, x, y, Params{Trees: 10, Bootstrap: true, Seed: 1})
			want := b2f(tc.nanLabel)
			for _, x1 := range []float64{0.1, 0.5, 0.9, nan} {
				if got := f.Predict([]float64{nan, x1}); math.Abs(got-want) > 0.1 {
					t.Errorf("Predict(NaN, %v) = %v, want near %v", x1, got, want)
				}
			}
			if got := f.Predict([]float64{0.2, 0.5}); got > 0.1 {
				t.Errorf("Predict(0.2, 0.5) = %v, want near 0", got)
			}
			if got := f.Predict([]float64{0.9, 0.5}); got < 0.9 {
				t.Errorf("Predict(0.9, 0.5) = %v, want near 1", got)
			}
		})
	}

	// Only missing vs present is informative: x0 constant where present.
	x, y := gen(200, 1, 6, func(rng *rand.Rand, r []float64) bool {
		r[0] = 3
		if rng.Float64() < 0.5 {
			r[0] = nan
			return true
		}
		return false
	})
	f := mustTrain(t, x, y, single(1, 0, 1))
	if got := f.Predict([]float64{nan}); got != 1 {
		t.Errorf("present/missing split: Predict(NaN) = %v, want 1", got)
	}
	if got := f.Predict([]float64{3}); got != 0 {
		t.Errorf("present/missing split: Predict(3) = %v, want 0", got)
	}

	// No missing values in training: NaN follows the larger child.
	x, y = gen(400, 1, 7, func(_ *rand.Rand, r []float64) bool { return r[0] > 0.8 })
	f = mustTrain(t, x, y, single(1, 1, 1))
	if got := f.Predict([]float64{nan}); got != 0 {
		t.Errorf("unseen missing: Predict(NaN) = %v, want 0 (the larger child)", got)
	}
}

// saved returns the Save encoding of f.
func saved(t testing.TB, f *Forest) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.Save(&b); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return b.Bytes()
}

func TestDeterminism(t *testing.T) {
	x, y := gen(500, 6, 8, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < r[0]*r[1]+0.2*r[2] })
	d := names(6)
	p := Params{Trees: 7, MaxDepth: 6, MinLeaf: 2, Bootstrap: true, Seed: 11}
	run := func(p Params, workers int) []byte {
		f, err := train(x, y, d, p, workers)
		if err != nil {
			t.Fatal(err)
		}
		return saved(t, f)
	}
	a := run(p, 1)
	if b := run(p, 1); !bytes.Equal(a, b) {
		t.Error("same Seed, sequential: Save bytes differ")
	}
	for _, w := range []int{2, 3, 16} {
		if b := run(p, w); !bytes.Equal(a, b) {
			t.Errorf("%d workers: Save bytes differ from sequential", w)
		}
	}
	if f := mustTrain(t, x, y, p); !bytes.Equal(a, saved(t, f)) {
		t.Error("Train differs from sequential train")
	}
	q := p
	q.Seed = 12
	if b := run(q, 1); bytes.Equal(a, b) {
		t.Error("different Seed: identical Save bytes")
	}
	// Without bootstrap the only randomness is feature sampling.
	q = p
	q.Bootstrap = false
	q.MaxFeatures = 2
	r1 := run(q, 2)
	q.Seed = 12
	if bytes.Equal(r1, run(q, 2)) {
		t.Error("no bootstrap, different Seed: identical Save bytes")
	}
	// Trees of one forest differ from each other.
	f, _ := Load(bytes.NewReader(a))
	if slices.EqualFunc(f.Trees[0].Nodes, f.Trees[1].Nodes, func(a, b Node) bool { return a == b }) {
		t.Error("trees 0 and 1 are identical")
	}
	// The inputs are not modified.
	x2, y2 := gen(500, 6, 8, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < r[0]*r[1]+0.2*r[2] })
	for i := range x {
		if !slices.Equal(x[i], x2[i]) || y[i] != y2[i] {
			t.Fatalf("Train modified row %d", i)
		}
	}
}

// noisyNonlinear draws 10 features uniform on [0, 1) and labels
// Bernoulli(sigmoid(g(x))) for an interaction-heavy g.
func noisyNonlinear(n int, seed uint64) ([][]float64, []float64) {
	return gen(n, 10, seed, func(rng *rand.Rand, r []float64) bool {
		a, b, c, d := 2*r[0]-1, 2*r[1]-1, 2*r[2]-1, 2*r[3]-1
		g := 3*math.Sin(3*a) + 4*b*c + 3*(d*d-1.0/3)
		return rng.Float64() < 1/(1+math.Exp(-g))
	})
}

func TestForestBeatsShallowTree(t *testing.T) {
	x, y := noisyNonlinear(2000, 9)
	xt, yt := noisyNonlinear(2000, 10)
	tree := mustTrain(t, x, y, single(10, 3, 5))
	forest := mustTrain(t, x, y, Params{Trees: 60, Bootstrap: true, Seed: 3})
	ta, fa := auc(tree, xt, yt), auc(forest, xt, yt)
	t.Logf("held-out AUC: depth-3 tree %.4f, forest %.4f", ta, fa)
	if fa < ta+0.03 {
		t.Errorf("forest AUC %.4f does not beat the shallow tree's %.4f by 0.03", fa, ta)
	}
}

func TestForestClearProblem(t *testing.T) {
	// y = x0 + x1 > 1 with 5% labels flipped, 4 noise features.
	clear := func(n int, seed uint64) ([][]float64, []float64) {
		return gen(n, 6, seed, func(rng *rand.Rand, r []float64) bool {
			return (r[0]+r[1] > 1) != (rng.Float64() < 0.05)
		})
	}
	x, y := clear(2000, 12)
	xt, yt := clear(2000, 13)
	f := mustTrain(t, x, y, Params{Trees: 30, Bootstrap: true, Seed: 5})
	if a := auc(f, xt, yt); a < 0.9 {
		t.Errorf("held-out AUC %.4f, want > 0.9", a)
	} else {
		t.Logf("held-out AUC %.4f", a)
	}
}

func TestSaveLoad(t *testing.T) {
	x, y := gen(800, 4, 14, func(rng *rand.Rand, r []float64) bool {
		if rng.Float64() < 0.1 {
			r[1] = math.NaN()
		}
		return rng.Float64() < r[0]
	})
	f := mustTrain(t, x, y, Params{Trees: 8, Bootstrap: true, Seed: 9})
	b := saved(t, f)
	g, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	xt, _ := gen(500, 4, 15, func(rng *rand.Rand, r []float64) bool {
		if rng.Float64() < 0.2 {
			r[rng.IntN(4)] = math.NaN()
		}
		return false
	})
	for _, row := range append(x, xt...) {
		if pf, pg := f.Predict(row), g.Predict(row); pf != pg {
			t.Fatalf("Predict(%v): %v before Save, %v after Load", row, pf, pg)
		}
	}
	if !bytes.Equal(b, saved(t, g)) {
		t.Error("Save(Load(Save(f))) differs from Save(f)")
	}
	if !slices.Equal(f.Importances(), g.Importances()) {
		t.Error("importances differ after Load")
	}
}

func TestLoadRejects(t *testing.T) {
	x, y := gen(300, 3, 16, func(rng *rand.Rand, r []float64) bool { return r[0] > 0.5 })
	base := mustTrain(t, x, y, Params{Trees: 2, MinLeaf: 1, MaxDepth: 3, Seed: 1})
	// encode marshals a modified copy of base directly, bypassing Save's checks.
	encode := func(mod func(f *Forest)) string {
		f := &Forest{Version: base.Version, Task: base.Task, Features: slices.Clone(base.Features)}
		for _, tr := range base.Trees {
			f.Trees = append(f.Trees, Tree{Nodes: slices.Clone(tr.Nodes)})
		}
		mod(f)
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	split := func(f *Forest) *Node { return &f.Trees[1].Nodes[0] } // the root splits
	if split(base).IsLeaf() {
		t.Fatal("test forest's root is a leaf")
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"version 3", encode(func(f *Forest) { f.Version = 3 }), "unsupported version 3"},
		{"version 3, other layout", `{"version":3,"features":["a"],"trees":{"columns":[1,2]}}`, "unsupported version 3"},
		{"unknown task", encode(func(f *Forest) { f.Task = "ranking" }), "unknown task"},
		{"version 1 with task", `{"version":1,"task":"regression","features":["a"],"trees":[{"nodes":[{"f":-1,"v":0.5,"n":3}]}]}`, "version 1 has no task"},
		{"infinite regression value", strings.Replace(encode(func(f *Forest) { f.Task = Regression }), `"v":`, `"v":1e999,"x":`, 1), "Load"},
		{"no version", `{"features":["a"],"trees":[]}`, "no version"},
		{"missing node", encode(func(f *Forest) { split(f).Left = 999 }), "child 999"},
		{"backward child", encode(func(f *Forest) { f.Trees[1].Nodes[2] = Node{Feature: 0, Left: 0, Right: 1} }), "child 0 is not a node after it"},
		{"shared child", encode(func(f *Forest) { split(f).Right = split(f).Left }), "parents"},
		{"feature out of range", encode(func(f *Forest) { split(f).Feature = 3 }), "feature 3 out of range"},
		{"leaf with child", encode(func(f *Forest) {
			n := f.Trees[0].Nodes
			n[len(n)-1].Left = 1
		}), "leaf with children"},
		{"value above 1", encode(func(f *Forest) { f.Trees[0].Nodes[len(f.Trees[0].Nodes)-1].Value = 1.5 }), "outside [0, 1]"},
		{"empty tree", encode(func(f *Forest) { f.Trees[1].Nodes = nil }), "tree 1: no nodes"},
		{"no trees", encode(func(f *Forest) { f.Trees = nil }), "no trees"},
		{"no features", encode(func(f *Forest) { f.Features = nil }), "no features"},
		{"not JSON", `{"version":2,`, "Load"},
		{"trees wrong type", `{"version":2,"features":["a"],"trees":{"x":1}}`, "trees"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Load(strings.NewReader(tc.json))
			if err == nil {
				t.Fatalf("Load accepted %s", tc.json)
			}
			if f != nil {
				t.Errorf("Load returned a forest with error %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	// Save refuses to write what Load would reject.
	bad := &Forest{Version: Version, Task: Classification, Features: []string{"a"}, Trees: []Tree{{Nodes: []Node{{Feature: 0, Left: 5, Right: 6}}}}}
	var buf bytes.Buffer
	if err := bad.Save(&buf); err == nil || buf.Len() != 0 {
		t.Errorf("Save of a broken forest: err %v, wrote %d bytes", err, buf.Len())
	}
}

func TestMerge(t *testing.T) {
	x, y := gen(1000, 5, 17, func(rng *rand.Rand, r []float64) bool { return rng.Float64() < r[0]*r[2] })
	a := mustTrain(t, x[:500], y[:500], Params{Trees: 3, Bootstrap: true, Seed: 1})
	b := mustTrain(t, x[500:], y[500:], Params{Trees: 5, Bootstrap: true, Seed: 2})
	c := mustTrain(t, x[:300], y[:300], Params{Trees: 1, Seed: 3})
	m := &Forest{Version: Version, Task: Classification, Features: slices.Clone(a.Features), Trees: slices.Clone(a.Trees)}
	if err := m.Merge(b, c); err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) != 9 {
		t.Fatalf("merged forest has %d trees, want 9", len(m.Trees))
	}
	for _, row := range x[:100] {
		want := (3*a.Predict(row) + 5*b.Predict(row) + c.Predict(row)) / 9
		if got := m.Predict(row); math.Abs(got-want) > 1e-12 {
			t.Fatalf("merged Predict = %v, want %v", got, want)
		}
	}
	// Merged trees are copies.
	b.Trees[0].Nodes[0].Value = -1
	if m.Trees[3].Nodes[0].Value == -1 {
		t.Error("Merge aliases the other forest's nodes")
	}

	for _, tc := range []struct {
		name     string
		features []string
	}{
		{"renamed", []string{"x0", "x1", "x2", "x3", "y"}},
		{"reordered", []string{"x1", "x0", "x2", "x3", "x4"}},
		{"fewer", []string{"x0", "x1", "x2", "x3"}},
	} {
		o := &Forest{Version: Version, Task: Classification, Features: tc.features, Trees: c.Trees}
		n := len(m.Trees)
		if err := m.Merge(c, o); err == nil {
			t.Errorf("%s: Merge accepted features %q", tc.name, tc.features)
		}
		if len(m.Trees) != n {
			t.Errorf("%s: failed Merge changed the forest from %d to %d trees", tc.name, n, len(m.Trees))
		}
	}
	if err := m.Merge(nil); err == nil {
		t.Error("Merge(nil) accepted")
	}
	reg := &Forest{Version: Version, Task: Regression, Features: slices.Clone(m.Features), Trees: c.Trees}
	if err := m.Merge(reg); err == nil || !strings.Contains(err.Error(), "regression") {
		t.Errorf("Merge of a regression forest into a classification forest: %v", err)
	}
}

func TestImportances(t *testing.T) {
	// Only x3 matters (10% label noise).
	x, y := gen(1500, 6, 18, func(rng *rand.Rand, r []float64) bool { return (r[3] > 0.4) != (rng.Float64() < 0.1) })
	f := mustTrain(t, x, y, Params{Trees: 20, Bootstrap: true, Seed: 4})
	imp := f.Importances()
	var sum float64
	for _, v := range imp {
		if v < 0 {
			t.Errorf("negative importance %v", v)
		}
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("importances sum to %v, want 1", sum)
	}
	if i := argmax(imp); i != 3 {
		t.Errorf("largest importance on x%d, want x3: %v", i, imp)
	}
	if imp[3] < 0.5 {
		t.Errorf("importance of x3 = %v, want > 0.5: %v", imp[3], imp)
	}
	// A forest of leaves has no importances.
	leaf := mustTrain(t, x, make([]float64, len(y)), Params{Trees: 2})
	if got := leaf.Importances(); !slices.Equal(got, make([]float64, 6)) {
		t.Errorf("importances of stumps = %v, want zeros", got)
	}
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func TestTrainErrors(t *testing.T) {
	x, y := gen(20, 2, 19, func(_ *rand.Rand, r []float64) bool { return r[0] > 0.5 })
	ok := Params{Trees: 1}
	for _, tc := range []struct {
		name     string
		x        [][]float64
		y        []float64
		features []string
		p        Params
		want     string
	}{
		{"no rows", nil, nil, names(2), ok, "no rows"},
		{"label count", x, y[:19], names(2), ok, "labels"},
		{"no features", x, y, nil, ok, "no features"},
		{"ragged", append(slices.Clone(x), []float64{1}), append(slices.Clone(y), 1), names(2), ok, "row 20"},
		{"label 2", x, append(slices.Clone(y[:19]), 2), names(2), ok, "label 19"},
		{"infinite", append(slices.Clone(x[:19]), []float64{math.Inf(1), 0}), y, names(2), ok, "Inf"},
		{"duplicate names", x, y, []string{"a", "a"}, ok, "duplicate"},
		{"no trees", x, y, names(2), Params{}, "Trees"},
		{"negative depth", x, y, names(2), Params{Trees: 1, MaxDepth: -1}, "MaxDepth"},
		{"negative min leaf", x, y, names(2), Params{Trees: 1, MinLeaf: -1}, "MinLeaf"},
		{"too many features", x, y, names(2), Params{Trees: 1, MaxFeatures: 3}, "MaxFeatures"},
		{"NaN gain", x, y, names(2), Params{Trees: 1, MinGain: math.NaN()}, "MinGain"},
	} {
		if _, err := Train(tc.x, tc.y, tc.features, tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
}

func TestPredictPanicsOnWidth(t *testing.T) {
	x, y := gen(50, 2, 20, func(_ *rand.Rand, r []float64) bool { return r[0] > 0.5 })
	f := mustTrain(t, x, y, Params{Trees: 1})
	defer func() {
		if recover() == nil {
			t.Error("Predict with 3 values for 2 features did not panic")
		}
	}()
	f.Predict([]float64{1, 2, 3})
}

func TestMidpoint(t *testing.T) {
	next := math.Nextafter(1, 2)
	for _, tc := range []struct{ lo, hi, want float64 }{
		{1, 2, 1.5},
		{-3, -1, -2},
		{1, next, 1}, // adjacent floats: the midpoint rounds to hi, use lo
		{-math.MaxFloat64, math.MaxFloat64, 0},
	} {
		if got := midpoint(tc.lo, tc.hi); got != tc.want || !(got >= tc.lo && got < tc.hi) {
			t.Errorf("midpoint(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// train is Train with an explicit number of worker goroutines.
func train(x [][]float64, y []float64, features []string, p Params, workers int) (*Forest, error) {
	bins, err := ExactBins(x, len(features), p.MaxBins)
	if err != nil {
		return nil, err
	}
	m, err := NewMatrix(x, features, bins)
	if err != nil {
		return nil, err
	}
	return fit(m, y, nil, p, workers)
}

func benchData() ([][]float64, []float64) { return noisyNonlinear(3000, 21) }

func BenchmarkTrain(b *testing.B) {
	x, y := benchData()
	p := Params{Trees: 5, Bootstrap: true, Seed: 1}
	for b.Loop() {
		if _, err := Train(x, y, names(10), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrainSequential(b *testing.B) {
	x, y := benchData()
	p := Params{Trees: 5, Bootstrap: true, Seed: 1}
	for b.Loop() {
		if _, err := train(x, y, names(10), p, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict scores one row with a 100-tree forest of depth 8.
func BenchmarkPredict(b *testing.B) {
	x, y := benchData()
	f, err := Train(x, y, names(10), Params{Trees: 100, Bootstrap: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		f.Predict(x[i%len(x)])
		i++
	}
}
