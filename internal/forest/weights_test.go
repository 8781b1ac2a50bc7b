package forest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestWeightsEqualDuplicates: a row of integer weight k grows the same
// trees as k copies of it. Labels are small integers, so every weighted
// sum is exact and predictions must agree bit for bit. MinLeaf 1, since
// MinLeaf counts distinct rows and copies are distinct.
func TestWeightsEqualDuplicates(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, d = 400, 4
	x := make([][]float64, n)
	yc := make([]float64, n) // classification labels
	yr := make([]float64, n) // regression labels, small integers
	w := make([]float64, n)
	for i := range x {
		x[i] = []float64{rng.Float64(), rng.Float64(), float64(rng.IntN(5)), rng.Float64()}
		if rng.Float64() < 0.3 {
			x[i][3] = math.NaN()
		}
		yc[i] = b2f(rng.Float64() < x[i][0])
		yr[i] = math.Round(4*x[i][1] + x[i][2] + 2*rng.Float64())
		w[i] = float64(rng.IntN(4)) // 0 to 3 copies
	}
	bins, err := ExactBins(x, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	var dx [][]float64
	var dyc, dyr []float64
	for i := range x {
		for range int(w[i]) {
			dx = append(dx, x[i])
			dyc = append(dyc, yc[i])
			dyr = append(dyr, yr[i])
		}
	}
	m, err := NewMatrix(x, names(d), bins)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := NewMatrix(dx, names(d), bins)
	if err != nil {
		t.Fatal(err)
	}
	// Probes have no missing values: where a node saw none in training,
	// missing values go to the child with more distinct rows, which
	// copies change.
	probe := scoringRows(mustTrain(t, x, yc, single(d, 3, 1)), 500, 9)
	for _, row := range probe {
		for j, v := range row {
			if math.IsNaN(v) {
				row[j] = 0.5
			}
		}
	}
	for _, tc := range []struct {
		name   string
		y, dy  []float64
		params Params
	}{
		{"gini", yc, dyc, Params{Trees: 3, MaxDepth: 12, MinLeaf: 1, MaxFeatures: 2, Seed: 3}},
		{"entropy", yc, dyc, Params{Trees: 2, Criterion: Entropy, MaxDepth: 5, MinLeaf: 1, Seed: 4}},
		{"variance", yr, dyr, Params{Trees: 3, Criterion: Variance, MaxDepth: 12, MinLeaf: 1, MaxFeatures: 3, Seed: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params
			p.Weights = w
			weighted, err := Fit(m, tc.y, nil, p)
			if err != nil {
				t.Fatal(err)
			}
			copies, err := Fit(dm, tc.dy, nil, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			a, b := make([]float64, len(probe)), make([]float64, len(probe))
			weighted.PredictBatch(probe, a)
			copies.PredictBatch(probe, b)
			if !slices.Equal(a, b) {
				t.Errorf("weighted rows predict differently from copied rows")
			}
			for k := range weighted.Trees {
				wt, ct := weighted.Trees[k].Nodes, copies.Trees[k].Nodes
				if len(wt) != len(ct) || wt[0].W != ct[0].W {
					t.Errorf("tree %d: %d nodes, root weight %v; copies %d nodes, root weight %v", k, len(wt), wt[0].W, len(ct), ct[0].W)
				}
			}
		})
	}
}

// TestWeightsLeafValues: leaf values are weighted means and shares.
func TestWeightsLeafValues(t *testing.T) {
	// Two rows per side of x0 = 0.5; labels 0, 1 on the left, 2, 4 on the
	// right (1 and 0 as classes). MinLeaf 2 forces the split in the middle,
	// MinLeaf 5 keeps the root a leaf.
	x := [][]float64{{0.1}, {0.2}, {0.8}, {0.9}}
	yr := []float64{0, 1, 2, 4}
	yc := []float64{0, 1, 1, 0}
	for _, tc := range []struct {
		name      string
		crit      Criterion
		y, w      []float64
		minLeaf   int
		left, all float64 // prediction at x0 = 0.1 and the root's value
	}{
		{"variance nil", Variance, yr, nil, 2, 0.5, 7.0 / 4},
		{"variance ones", Variance, yr, []float64{1, 1, 1, 1}, 2, 0.5, 7.0 / 4},
		{"variance 3:1", Variance, yr, []float64{1, 3, 1, 1}, 2, 0.75, 9.0 / 6},
		{"variance zero drops a row", Variance, yr, []float64{0, 1, 1, 1}, 5, 7.0 / 3, 7.0 / 3},
		{"gini 1:4", Gini, yc, []float64{1, 4, 4, 1}, 5, 0.8, 0.8},
		{"gini root", Gini, yc, []float64{2, 1, 1, 0.5}, 5, 2 / 4.5, 2 / 4.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMatrix(x, names(1), mustBins(t, x))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Fit(m, tc.y, nil, Params{Trees: 1, Criterion: tc.crit, MaxDepth: 1, MinLeaf: tc.minLeaf, Weights: tc.w})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Trees[0].Nodes[0].Value; math.Abs(got-tc.all) > 1e-12 {
				t.Errorf("root value %v, want %v", got, tc.all)
			}
			if got := f.Predict([]float64{0.1}); math.Abs(got-tc.left) > 1e-12 {
				t.Errorf("prediction at 0.1: %v, want %v", got, tc.left)
			}
		})
	}
}

func mustBins(t testing.TB, x [][]float64) *Bins {
	t.Helper()
	b, err := ExactBins(x, len(x[0]), 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWeightsShiftSplit: weighting one region's rows moves a depth-1
// tree's prediction there towards their labels, and an all-ones weight
// vector grows the same forest as none.
func TestWeightsShiftSplit(t *testing.T) {
	x, y := noisyNonlinear(2000, 3)
	m, err := NewMatrix(x, names(len(x[0])), mustBins(t, x))
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Trees: 5, Criterion: Variance, Bootstrap: true, Seed: 11}
	plain, err := Fit(m, y, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]float64, len(y))
	for i := range ones {
		ones[i] = 1
	}
	p.Weights = ones
	same, err := Fit(m, y, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved(t, plain), saved(t, same)) {
		t.Error("unit weights grow another forest than no weights")
	}
	// Heavy weight on rows with high labels raises the mean prediction.
	heavy := make([]float64, len(y))
	var mean float64
	for _, v := range y {
		mean += v / float64(len(y))
	}
	for i, v := range y {
		heavy[i] = 1
		if v > mean {
			heavy[i] = 10
		}
	}
	p.Weights = heavy
	up, err := Fit(m, y, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	var a, b float64
	for _, row := range x {
		a += plain.Predict(row)
		b += up.Predict(row)
	}
	if !(b > a) {
		t.Errorf("mean prediction %v with high labels weighted up, %v without", b/2000, a/2000)
	}
}

func TestWeightsErrors(t *testing.T) {
	x, y := noisyNonlinear(50, 4)
	m, err := NewMatrix(x, names(len(x[0])), mustBins(t, x))
	if err != nil {
		t.Fatal(err)
	}
	ones := func(n int) []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = 1
		}
		return w
	}
	with := func(i int, v float64) []float64 { w := ones(50); w[i] = v; return w }
	only0 := make([]float64, 50)
	only0[0] = 1
	for _, tc := range []struct {
		name string
		w    []float64
		rows []int
		want string
	}{
		{"short", ones(49), nil, "49 weights for 50 rows"},
		{"negative", with(3, -1), nil, "weight of row 3 is -1"},
		{"nan", with(4, math.NaN()), nil, "weight of row 4 is NaN"},
		{"inf", with(5, math.Inf(1)), nil, "weight of row 5 is +Inf"},
		{"zero", make([]float64, 50), nil, "total weight 0"},
		{"zero on rows fitted", only0, []int{1, 2}, "total weight 0"},
		{"bad row outside the fit is ignored", with(7, -1), []int{1, 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(m, y, tc.rows, Params{Trees: 1, Criterion: Variance, Weights: tc.w})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("err %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestWeightsZeroWeightSample: a tree whose sample drew only rows of zero
// weight predicts the weighted mean of all rows, not NaN.
func TestWeightsZeroWeightSample(t *testing.T) {
	x := [][]float64{{1}, {2}, {3}, {4}}
	y := []float64{1, 2, 3, 10}
	m, err := NewMatrix(x, names(1), mustBins(t, x))
	if err != nil {
		t.Fatal(err)
	}
	// Subsample 0.25 draws one row per tree; three of four weigh nothing.
	f, err := Fit(m, y, nil, Params{Trees: 40, Criterion: Variance, Subsample: 0.25, Seed: 1, Weights: []float64{0, 0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	for k, tr := range f.Trees {
		if v := tr.Nodes[0].Value; v != 10 {
			t.Fatalf("tree %d: value %v, want 10", k, v)
		}
	}
	var buf bytes.Buffer
	if err := f.Save(&buf); err != nil {
		t.Fatalf("Save: %v", err)
	}
}
