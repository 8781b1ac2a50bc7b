package forest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// referencePredict is Forest.Predict as it was before the compact layout:
// a walk over Tree.Nodes per tree, summed in tree order. The compact
// layout must reproduce it bit for bit; benchmarks measure against it.
func referencePredict(f *Forest, row []float64) float64 {
	if len(f.Trees) == 0 {
		return math.NaN()
	}
	var s float64
	for i := range f.Trees {
		t := &f.Trees[i]
		j := 0
		for {
			nd := &t.Nodes[j]
			if nd.Feature < 0 {
				s += nd.Value
				break
			}
			v := row[nd.Feature]
			switch {
			case math.IsNaN(v):
				if nd.MissingLeft {
					j = nd.Left
				} else {
					j = nd.Right
				}
			case v <= nd.Threshold:
				j = nd.Left
			default:
				j = nd.Right
			}
		}
	}
	return s / float64(len(f.Trees))
}

// withMissing draws n rows of d uniform features where each value is NaN
// with probability miss; the label depends on the first four features, and
// a missing x0 raises the positive rate, so trees send NaN either way.
func withMissing(n, d int, miss float64, seed uint64) ([][]float64, []float64) {
	return gen(n, d, seed, func(rng *rand.Rand, r []float64) bool {
		g := 3*math.Sin(6*r[0]) + 4*(r[1]-0.5)*(r[2]-0.5)*4 + 2*r[3] - 1
		for j := range r {
			if rng.Float64() < miss {
				r[j] = math.NaN()
			}
		}
		if math.IsNaN(r[0]) {
			g += 2
		}
		return rng.Float64() < 1/(1+math.Exp(-g))
	})
}

// scoringRows returns rows that exercise every comparison of f: random
// values, NaN, each split's threshold exactly and its neighbours, signed
// zeros and extremes.
func scoringRows(f *Forest, n int, seed uint64) [][]float64 {
	d := len(f.Features)
	var thr [][]float64 // per feature, thresholds used
	thr = make([][]float64, d)
	for _, t := range f.Trees {
		for _, nd := range t.Nodes {
			if nd.Feature >= 0 {
				thr[nd.Feature] = append(thr[nd.Feature], nd.Threshold)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	special := []float64{math.NaN(), 0, math.Copysign(0, -1), -1e300, 1e300, math.Inf(1), math.Inf(-1)}
	rows := make([][]float64, n)
	for i := range rows {
		r := make([]float64, d)
		for j := range r {
			switch u := rng.Float64(); {
			case u < 0.1:
				r[j] = math.NaN()
			case u < 0.4 && len(thr[j]) > 0:
				t := thr[j][rng.IntN(len(thr[j]))]
				r[j] = [...]float64{t, math.Nextafter(t, math.Inf(-1)), math.Nextafter(t, math.Inf(1))}[rng.IntN(3)]
			case u < 0.42:
				r[j] = special[rng.IntN(len(special))]
			default:
				r[j] = rng.Float64()*1.2 - 0.1
			}
		}
		rows[i] = r
	}
	return rows
}

// toVersion1 rewrites a classification forest's encoding as version 1 (no
// task, no node weights) and loads it.
func toVersion1(t testing.TB, f *Forest) *Forest {
	t.Helper()
	g, err := Load(bytes.NewReader(toVersion1Bytes(t, f)))
	if err != nil {
		t.Fatalf("Load version 1: %v", err)
	}
	return g
}

// toVersion1Bytes is f's encoding rewritten as version 1.
func toVersion1Bytes(t testing.TB, f *Forest) []byte {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(saved(t, f), &raw); err != nil {
		t.Fatal(err)
	}
	raw["version"] = 1
	delete(raw, "task")
	for _, tr := range raw["trees"].([]any) {
		for _, nd := range tr.(map[string]any)["nodes"].([]any) {
			delete(nd.(map[string]any), "w")
		}
	}
	data, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// identityForests returns forests of every kind prediction meets: trained
// with missing values (both MissingLeft directions), deep, regression,
// merged, loaded from JSON of versions 2 and 1, and hand-built trees whose
// node order is not the trainer's.
func identityForests(t testing.TB) map[string]*Forest {
	x, y := withMissing(4000, 6, 0.15, 1)
	cls := mustTrain(t, x, y, Params{Trees: 40, MaxDepth: 8, MinLeaf: 5, Bootstrap: true, Seed: 1})
	deep := mustTrain(t, x, y, Params{Trees: 10, MaxDepth: 14, MinLeaf: 1, Bootstrap: true, Seed: 2})
	ry := make([]float64, len(x))
	for i, r := range x {
		ry[i] = 100*y[i] + 3*float64(i%7) - 20 // negative and positive values
		if !math.IsNaN(r[1]) {
			ry[i] += 50 * r[1]
		}
	}
	reg := mustTrain(t, x, ry, Params{Trees: 30, Criterion: Variance, MinLeaf: 3, Bootstrap: true, Seed: 3})
	merged := mustTrain(t, x, y, Params{Trees: 5, Seed: 4, Subsample: 0.5})
	if err := merged.Merge(cls, deep); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(bytes.NewReader(saved(t, cls)))
	if err != nil {
		t.Fatal(err)
	}
	// Children in reverse order (right before left, numbered breadth
	// first), a leaf-only tree, and NaN going left and right.
	hand := &Forest{Version: Version, Task: Regression, Features: names(6), Trees: []Tree{
		{Nodes: []Node{
			{Feature: 2, Threshold: 0.5, Left: 2, Right: 1, MissingLeft: true},
			{Feature: 0, Threshold: 0.25, Left: 4, Right: 3},
			{Feature: 5, Threshold: -0.0, Left: 6, Right: 5, MissingLeft: true},
			{Feature: -1, Value: 1.5},
			{Feature: -1, Value: -2.25},
			{Feature: -1, Value: 1e-300},
			{Feature: -1, Value: math.Copysign(0, -1)},
		}},
		{Nodes: []Node{{Feature: -1, Value: 0.1}}},
	}}
	return map[string]*Forest{
		"classification": cls, "deep": deep, "regression": reg, "merged": merged,
		"loaded": loaded, "version1": toVersion1(t, cls), "hand-built": hand,
	}
}

func TestPredictIdenticalToReference(t *testing.T) {
	forests := identityForests(t)
	// The trained forests must exercise both NaN directions, or the test
	// proves nothing about them.
	var left, right int
	for _, tr := range forests["classification"].Trees {
		for _, nd := range tr.Nodes {
			if nd.Feature >= 0 {
				if nd.MissingLeft {
					left++
				} else {
					right++
				}
			}
		}
	}
	if left == 0 || right == 0 {
		t.Fatalf("classification forest sends NaN left at %d splits and right at %d; want both", left, right)
	}
	if v := forests["version1"]; v.Trees[0].Nodes[0].W != 0 {
		t.Fatalf("version-1 forest has node weight %v, want 0", v.Trees[0].Nodes[0].W)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for name, f := range forests {
		rows := scoringRows(f, 20000, 11)
		want := make([]float64, len(rows))
		for i, r := range rows {
			want[i] = referencePredict(f, r)
		}
		for i, r := range rows {
			if got := f.Predict(r); math.Float64bits(got) != math.Float64bits(want[i]) {
				t.Fatalf("%s: Predict(row %d) = %v (%#x), reference %v (%#x)", name, i, got, math.Float64bits(got), want[i], math.Float64bits(want[i]))
			}
		}
		for _, procs := range []int{1, 2, 5} {
			runtime.GOMAXPROCS(procs)
			got := make([]float64, len(rows))
			f.PredictBatch(rows, got)
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s, GOMAXPROCS %d: PredictBatch row %d = %v, reference %v", name, procs, i, got[i], want[i])
				}
			}
		}
	}
}

func TestPredictFollowsChangedTrees(t *testing.T) {
	x, y := noisyNonlinear(500, 3)
	a := mustTrain(t, x, y, Params{Trees: 3, Bootstrap: true, Seed: 1})
	b := mustTrain(t, x, y, Params{Trees: 4, MaxDepth: 3, Bootstrap: true, Seed: 2})
	row := x[0]
	check := func(what string) {
		t.Helper()
		if got, want := a.Predict(row), referencePredict(a, row); got != want {
			t.Errorf("%s: Predict = %v, reference %v", what, got, want)
		}
		got := make([]float64, 1)
		a.PredictBatch([][]float64{row}, got)
		if want := referencePredict(a, row); got[0] != want {
			t.Errorf("%s: PredictBatch = %v, reference %v", what, got[0], want)
		}
	}
	check("trained")
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	check("after Merge")
	a.Trees = a.Trees[:2]
	check("after truncating Trees")
	a.Trees = []Tree{b.Trees[3], b.Trees[0]}
	check("after replacing Trees")
	if referencePredict(a, row) == referencePredict(b, row) {
		t.Fatal("test forests predict alike; the checks above prove nothing")
	}
}

// TestPredictConcurrent: goroutines predicting with a forest that has not
// built its compact layout yet all get the reference's values (run with
// -race: the layout is built lazily).
func TestPredictConcurrent(t *testing.T) {
	x, y := withMissing(2000, 6, 0.1, 3)
	trained := mustTrain(t, x, y, Params{Trees: 20, Bootstrap: true, Seed: 5})
	f, err := Load(bytes.NewReader(saved(t, trained)))
	if err != nil {
		t.Fatal(err)
	}
	rows := x[:600]
	want := make([]float64, len(rows))
	for i, r := range rows {
		want[i] = referencePredict(f, r)
	}
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			got := make([]float64, len(rows))
			if g%2 == 0 {
				f.PredictBatch(rows, got)
			} else {
				for i, r := range rows {
					got[i] = f.Predict(r)
				}
			}
			for i := range got {
				if got[i] != want[i] {
					errs <- fmt.Sprintf("goroutine %d row %d: %v, reference %v", g, i, got[i], want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestPredictBatchEdges(t *testing.T) {
	x, y := noisyNonlinear(300, 5)
	f := mustTrain(t, x, y, Params{Trees: 2, Seed: 1})
	f.PredictBatch(nil, nil) // no rows: nothing to do, no panic
	empty := &Forest{Version: Version, Task: Classification, Features: names(10)}
	out := []float64{1, 2}
	empty.PredictBatch(x[:2], out)
	if !math.IsNaN(out[0]) || !math.IsNaN(out[1]) {
		t.Errorf("forest without trees: PredictBatch = %v, want NaN", out)
	}
	bad := &Forest{Version: Version, Task: Classification, Features: names(1), Trees: []Tree{{Nodes: []Node{
		{Feature: 0, Left: 1, Right: 2}, {Feature: 0, Left: 2, Right: 3}, {Feature: -1}, {Feature: -1},
	}}}}
	for _, tc := range []struct {
		name, want string
		fn         func()
	}{
		{"short out", "3 rows and 2 outputs", func() { f.PredictBatch(x[:3], make([]float64, 2)) }},
		{"wide row", "11 values", func() { f.PredictBatch([][]float64{x[0], make([]float64, 11)}, make([]float64, 2)) }},
		{"shared child", "more than one parent", func() { bad.Predict([]float64{0}) }},
		{"child before parent", "not a node after it", func() {
			(&Forest{Features: names(1), Trees: []Tree{{Nodes: []Node{{Feature: 0, Left: 0, Right: 1}, {Feature: -1}}}}}).Predict([]float64{0})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s := fmt.Sprint(r); r == nil || !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.fn()
		})
	}
}

// benchForest is a trained forest and rows to score.
type benchForest struct {
	name string
	f    *Forest
	rows [][]float64
}

// benchForests are the shapes prediction meets: the pipeline's propensity
// forest (35 features, 100 trees of depth 8, leaves of 20, grown on 50,000
// users) and the bench-forest script's (20 features, 100 trees of depth
// 12, leaves of 20, grown on 200,000 rows).
func benchForests(b *testing.B) []benchForest {
	shape := func(name string, n, d, depth int) benchForest {
		x, y := withMissing(n, d, 0.02, 5)
		f := mustTrain(b, x, y, Params{Trees: 100, MaxDepth: depth, MinLeaf: 20, Bootstrap: true, Seed: 9})
		rows, _ := withMissing(20000, d, 0.02, 6)
		nodes := 0
		for _, t := range f.Trees {
			nodes += len(t.Nodes)
		}
		b.Logf("%s: %d trees, %.0f nodes a tree", name, len(f.Trees), float64(nodes)/float64(len(f.Trees)))
		return benchForest{name, f, rows}
	}
	return []benchForest{shape("depth8", 50000, 35, 8), shape("depth12", 200000, 20, 12)}
}

// BenchmarkForestPredict scores 20,000 rows per op: the reference walk
// over Tree.Nodes row by row, Predict row by row, and PredictBatch on one
// goroutine and on GOMAXPROCS. On a shared machine the load drifts between
// sub-benchmarks, so "paired" runs the four in turn in every iteration and
// reports how many times faster than the reference each one was (ratio of
// their summed wall times): the figures to quote.
func BenchmarkForestPredict(b *testing.B) {
	for _, bf := range benchForests(b) {
		out := make([]float64, len(bf.rows))
		impls := []struct {
			name string
			fn   func()
		}{
			{"reference", func() {
				for i, r := range bf.rows {
					out[i] = referencePredict(bf.f, r)
				}
			}},
			{"predict", func() {
				for i, r := range bf.rows {
					out[i] = bf.f.Predict(r)
				}
			}},
			{"batch1", func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				bf.f.PredictBatch(bf.rows, out)
			}},
			{"batch", func() { bf.f.PredictBatch(bf.rows, out) }},
		}
		for _, im := range impls {
			b.Run(bf.name+"/"+im.name, func(b *testing.B) {
				for b.Loop() {
					im.fn()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bf.rows)), "ns/row")
			})
		}
		b.Run(bf.name+"/paired", func(b *testing.B) {
			sum := make([]time.Duration, len(impls))
			for b.Loop() {
				for k, im := range impls {
					start := time.Now()
					im.fn()
					sum[k] += time.Since(start)
				}
			}
			for k, im := range impls[1:] {
				b.ReportMetric(sum[0].Seconds()/sum[k+1].Seconds(), "x_"+im.name)
			}
		})
	}
}

// BenchmarkLoad decodes the JSON of a 100-tree forest of depth 8 (the
// pipeline's propensity shape; decide loads it, and 9 like it for the
// uplift models, in every shard).
func BenchmarkLoad(b *testing.B) {
	x, y := withMissing(50000, 35, 0.02, 5)
	f := mustTrain(b, x, y, Params{Trees: 100, MaxDepth: 8, MinLeaf: 20, Bootstrap: true, Seed: 9})
	data := saved(b, f)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Load(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadOnePass: Load's one-pass decoding reads what the checked path
// reads, for forests of both versions.
func TestLoadOnePass(t *testing.T) {
	for name, f := range identityForests(t) {
		if f.Version != Version || f.Task == "" {
			continue // the hand-built forest: Save fills in, not Load's concern
		}
		ins := [][]byte{saved(t, f)}
		if f.Task == Classification { // version 1 had no regression
			ins = append(ins, toVersion1Bytes(t, f))
		}
		for _, in := range ins {
			a, err := Load(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("%s: Load: %v", name, err)
			}
			b, err := loadChecked(in)
			if err != nil {
				t.Fatalf("%s: loadChecked: %v", name, err)
			}
			if !bytes.Equal(saved(t, a), saved(t, b)) {
				t.Errorf("%s: Load and loadChecked differ", name)
			}
		}
	}
}
