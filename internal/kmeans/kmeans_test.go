package kmeans

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// blobMeans are four well-separated cluster centres in 3-D (pairwise
// distances ≥ 10, standard deviation 1 per coordinate).
var blobMeans = [][]float64{
	{0, 0, 0},
	{10, 0, 0},
	{0, 10, 0},
	{0, 0, 10},
}

// blobs returns n points drawn round-robin from the Gaussian blobs around
// means (sd per coordinate), with their true labels.
func blobs(seed uint64, n int, means [][]float64, sd float64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	points := make([][]float64, n)
	labels := make([]int, n)
	for i := range points {
		l := i % len(means)
		x := make([]float64, len(means[l]))
		for a, m := range means[l] {
			x[a] = m + sd*rng.NormFloat64()
		}
		points[i], labels[i] = x, l
	}
	return points, labels
}

// uniform returns n points uniform in [0,1)^d: no cluster structure, so
// Lloyd needs many iterations and has many local minima.
func uniform(seed uint64, n, d int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 11))
	points := make([][]float64, n)
	for i := range points {
		points[i] = make([]float64, d)
		for a := range points[i] {
			points[i][a] = rng.Float64()
		}
	}
	return points
}

func labelsOf(points, centroids [][]float64) []int {
	l := make([]int, len(points))
	for i, x := range points {
		l[i], _ = Nearest(x, centroids)
	}
	return l
}

func dist(x, y []float64) float64 { return math.Sqrt(sqDist(x, y)) }

// matchMeans checks that every true mean has a distinct centroid within tol
// and returns, for each true mean, the index of its centroid.
func matchMeans(t *testing.T, centroids, means [][]float64, tol float64) []int {
	t.Helper()
	if len(centroids) != len(means) {
		t.Fatalf("%d centroids, want %d", len(centroids), len(means))
	}
	match := make([]int, len(means))
	used := make(map[int]bool)
	for m, mu := range means {
		j, _ := Nearest(mu, centroids)
		if used[j] {
			t.Errorf("centroid %d is nearest to two true means; centroids %v", j, centroids)
		}
		used[j] = true
		match[m] = j
		if d := dist(centroids[j], mu); d > tol {
			t.Errorf("true mean %v: nearest centroid %v at distance %.4g > %g", mu, centroids[j], d, tol)
		}
	}
	return match
}

func TestLloydRecoversBlobs(t *testing.T) {
	points, truth := blobs(1, 10000, blobMeans, 1)
	// Per-blob sample means: with a perfect clustering the centroids are
	// exactly these (up to summation order).
	sample := make([][]float64, len(blobMeans))
	for m := range sample {
		sample[m] = make([]float64, 3)
	}
	for i, x := range points {
		for a := range x {
			sample[truth[i]][a] += x[a] / float64(len(points)/len(blobMeans))
		}
	}
	for _, seed := range []uint64{1, 2, 3, 42, 1 << 60} {
		c, cost, iters := Lloyd(points, 4, seed, 100, 1e-9)
		ari := AdjustedRand(truth, labelsOf(points, c))
		if ari <= 0.99 {
			t.Errorf("seed %d: ARI = %.6f, want > 0.99", seed, ari)
		}
		match := matchMeans(t, c, blobMeans, 0.1)
		for m, j := range match {
			if d := dist(c[j], sample[m]); d > 1e-9 {
				t.Errorf("seed %d: centroid %v is %.3g from the blob's sample mean %v", seed, c[j], d, sample[m])
			}
		}
		// Cost of a perfect clustering ≈ n·d·sd² = 30000.
		if cost < 28000 || cost > 32000 {
			t.Errorf("seed %d: cost = %.1f, want ≈ 30000", seed, cost)
		}
		if iters < 2 || iters > 100 {
			t.Errorf("seed %d: iters = %d", seed, iters)
		}
		// Determinism: same input → bit-identical output.
		c2, cost2, iters2 := Lloyd(points, 4, seed, 100, 1e-9)
		if !reflect.DeepEqual(c, c2) || cost != cost2 || iters != iters2 {
			t.Errorf("seed %d: Lloyd is not deterministic", seed)
		}
	}
}

func TestLloydReturnsMeasuredCentroids(t *testing.T) {
	points := uniform(5, 2000, 4)
	for _, maxIter := range []int{0, 1, 3, 1000} {
		c, cost, iters := Lloyd(points, 5, 9, maxIter, 0)
		if maxIter >= 1 && maxIter < 1000 && iters != maxIter {
			t.Errorf("maxIter %d: iters = %d", maxIter, iters)
		}
		if maxIter == 0 && iters != 1 {
			t.Errorf("maxIter 0: iters = %d, want 1", iters)
		}
		p := NewPartial(5, 4)
		for _, x := range points {
			p.Add(x, c)
		}
		if p.Cost != cost {
			t.Errorf("maxIter %d: returned cost %v, cost of returned centroids %v", maxIter, cost, p.Cost)
		}
		if maxIter == 1 && !reflect.DeepEqual(c, PlusPlus(points, 5, 9)) {
			t.Errorf("maxIter 1: centroids are not the PlusPlus seeds")
		}
		if maxIter == 1000 {
			// tol 0 runs to a fixed point: one more update changes nothing.
			if next := Update(c, p); !reflect.DeepEqual(next, c) {
				t.Errorf("tol 0 stopped before a fixed point after %d iterations", iters)
			}
		}
	}
}

// shardings split n point indices into 8 shards, each keeping the original
// relative order.
var shardings = []struct {
	name  string
	shard func(i, n int, rng *rand.Rand) int
}{
	{"round-robin", func(i, n int, _ *rand.Rand) int { return i % 8 }},
	{"random", func(i, n int, rng *rand.Rand) int { return rng.IntN(8) }},
	// Contiguous, uneven, shard 3 empty.
	{"contiguous-uneven", func(i, n int, _ *rand.Rand) int {
		bounds := []int{n / 20, n / 5, n / 3, n / 3, n / 2, 2 * n / 3, 9 * n / 10}
		s := 0
		for s < len(bounds) && i >= bounds[s] {
			s++
		}
		return s
	}},
}

func TestDistributedEquivalence(t *testing.T) {
	const shards = 8
	blobPoints, _ := blobs(3, 4000, blobMeans, 1.5)
	datasets := []struct {
		name   string
		points [][]float64
		k      int
	}{
		{"blobs", blobPoints, 4},
		{"uniform", uniform(4, 3000, 8), 6},
	}
	for _, ds := range datasets {
		for _, sh := range shardings {
			t.Run(ds.name+"/"+sh.name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(99, 1))
				parts := make([][][]float64, shards)
				for i, x := range ds.points {
					s := sh.shard(i, len(ds.points), rng)
					parts[s] = append(parts[s], x)
				}
				d := len(ds.points[0])
				single := PlusPlus(ds.points, ds.k, 17)
				dist := slices.Clone(single)
				moved := false
				for it := 0; it < 15; it++ {
					whole := NewPartial(ds.k, d)
					for _, x := range ds.points {
						whole.Add(x, single)
					}
					total := NewPartial(ds.k, d)
					for s := range parts {
						p := NewPartial(ds.k, d)
						for _, x := range parts[s] {
							p.Add(x, dist)
						}
						// The partial travels as JSON; it must survive exactly.
						p = jsonRoundTrip(t, p)
						if err := total.Merge(p); err != nil {
							t.Fatal(err)
						}
					}
					if !slices.Equal(whole.Counts, total.Counts) {
						t.Fatalf("iteration %d: counts %v (single) vs %v (sharded)", it, whole.Counts, total.Counts)
					}
					if math.Abs(whole.Cost-total.Cost) > 1e-12*whole.Cost {
						t.Fatalf("iteration %d: cost %v (single) vs %v (sharded)", it, whole.Cost, total.Cost)
					}
					nextSingle, nextDist := Update(single, whole), Update(dist, total)
					for j := range nextSingle {
						for a := range nextSingle[j] {
							if diff := math.Abs(nextSingle[j][a] - nextDist[j][a]); diff > 1e-12 {
								t.Fatalf("iteration %d: centroid %d coord %d: %v (single) vs %v (sharded), diff %.3g",
									it, j, a, nextSingle[j][a], nextDist[j][a], diff)
							}
						}
					}
					if !reflect.DeepEqual(nextSingle, single) {
						moved = true
					}
					single, dist = nextSingle, nextDist
				}
				if !moved {
					t.Fatal("centroids never moved: the test compared nothing")
				}
			})
		}
	}
}

func jsonRoundTrip(t *testing.T, p Partial) Partial {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Partial
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("JSON round trip changed the partial:\n%+v\n%+v", p, q)
	}
	return q
}

func TestPartialJSON(t *testing.T) {
	p := NewPartial(2, 2)
	p.Add([]float64{0.1, 1e-300}, [][]float64{{0, 0}, {5, 5}})
	p.Add([]float64{math.Pi, 1.0 / 3}, [][]float64{{0, 0}, {5, 5}})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"sums":`, `"counts":`, `"cost":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	jsonRoundTrip(t, p)
}

func TestShardedDeterminism(t *testing.T) {
	points := uniform(8, 5000, 8)
	c := PlusPlus(points, 6, 3)
	run := func() Partial {
		total := NewPartial(6, 8)
		for s := 0; s < 8; s++ {
			p := NewPartial(6, 8)
			for i := s; i < len(points); i += 8 {
				p.Add(points[i], c)
			}
			if err := total.Merge(p); err != nil {
				t.Fatal(err)
			}
		}
		return total
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same shards, same order: partials differ")
	}
}

func TestMergeShapes(t *testing.T) {
	ragged := NewPartial(2, 3)
	ragged.Sums[1] = ragged.Sums[1][:2]
	shortCounts := NewPartial(2, 3)
	shortCounts.Counts = shortCounts.Counts[:1]
	for _, tc := range []struct {
		name    string
		q       Partial
		wantErr bool
	}{
		{"same shape", NewPartial(2, 3), false},
		{"more clusters", NewPartial(3, 3), true},
		{"fewer clusters", NewPartial(1, 3), true},
		{"other dimension", NewPartial(2, 4), true},
		{"ragged sums", ragged, true},
		{"counts shorter than sums", shortCounts, true},
		{"zero value", Partial{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPartial(2, 3)
			p.Add([]float64{1, 2, 3}, [][]float64{{0, 0, 0}, {9, 9, 9}})
			before := jsonRoundTrip(t, p)
			q := tc.q
			if len(q.Counts) > 0 {
				q.Counts[0] = 5 // a change Merge would make visible
				q.Cost = 7
			}
			err := p.Merge(q)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Merge error = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && !reflect.DeepEqual(p, before) {
				t.Errorf("failed Merge modified the partial: %+v", p)
			}
			if err == nil && (p.Counts[0] != 6 || p.Cost != 7+14) {
				t.Errorf("Merge result %+v", p)
			}
		})
	}
	var zero Partial
	if err := zero.Merge(NewPartial(1, 1)); err == nil {
		t.Error("merging into a zero Partial: no error")
	}
}

func TestMergeSums(t *testing.T) {
	c := [][]float64{{0, 0}, {10, 10}}
	p, q := NewPartial(2, 2), NewPartial(2, 2)
	p.Add([]float64{1, 2}, c)
	p.Add([]float64{9, 9}, c)
	q.Add([]float64{-1, 0}, c)
	if err := p.Merge(q); err != nil {
		t.Fatal(err)
	}
	want := Partial{
		Sums:   [][]float64{{0, 2}, {9, 9}},
		Counts: []int64{2, 1},
		Cost:   5 + 2 + 1,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("merged = %+v, want %+v", p, want)
	}
}

func TestUpdate(t *testing.T) {
	prev := [][]float64{{1, 1}, {5, 5}, {9, 9}}
	total := Partial{
		Sums:   [][]float64{{2, 4}, {0, 0}, {27, 30}},
		Counts: []int64{2, 0, 3},
	}
	got := Update(prev, total)
	want := [][]float64{{1, 2}, {5, 5}, {9, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Update = %v, want %v", got, want)
	}
	got[1][0] = -1
	if prev[1][0] != 5 {
		t.Error("Update's result aliases prev")
	}
	if !reflect.DeepEqual(prev, [][]float64{{1, 1}, {5, 5}, {9, 9}}) {
		t.Errorf("Update modified prev: %v", prev)
	}
}

func TestUpdateEmptyClusterInLloydStep(t *testing.T) {
	// Centroid 2 is far from every point: it gets nothing and must stay.
	points := [][]float64{{0, 0}, {0, 2}, {10, 0}, {10, 2}}
	c := [][]float64{{1, 1}, {9, 1}, {100, 100}}
	p := NewPartial(3, 2)
	for _, x := range points {
		p.Add(x, c)
	}
	got := Update(c, p)
	want := [][]float64{{0, 1}, {10, 1}, {100, 100}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Update = %v, want %v", got, want)
	}
	if !slices.Equal(p.Counts, []int64{2, 2, 0}) || p.Cost != 4*2 {
		t.Errorf("partial = %+v", p)
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		x         []float64
		centroids [][]float64
		want      int
		wantD     float64
	}{
		{"single", []float64{1, 1}, [][]float64{{4, 5}}, 0, 25},
		{"clear winner", []float64{0, 0}, [][]float64{{3, 4}, {1, 0}, {0, 2}}, 1, 1},
		{"tie between 1 and 2", []float64{0, 0}, [][]float64{{5, 5}, {1, 0}, {0, 1}}, 1, 1},
		{"tie between all", []float64{0}, [][]float64{{-2}, {2}, {-2}, {2}}, 0, 4},
		{"duplicate centroids", []float64{3, 3}, [][]float64{{0, 0}, {3, 3}, {3, 3}}, 1, 0},
		{"tie after a worse one", []float64{0}, [][]float64{{9}, {-1}, {1}}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, d := Nearest(tc.x, tc.centroids)
			if j != tc.want || d != tc.wantD {
				t.Errorf("Nearest = (%d, %v), want (%d, %v)", j, d, tc.want, tc.wantD)
			}
		})
	}
}

func TestPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Nearest no centroids", func() { Nearest([]float64{1}, nil) }},
		{"Nearest dimension", func() { Nearest([]float64{1, 2}, [][]float64{{1, 2}, {1}}) }},
		{"Add wrong k", func() { p := NewPartial(2, 1); p.Add([]float64{1}, [][]float64{{1}}) }},
		{"Add wrong d", func() { p := NewPartial(1, 2); p.Add([]float64{1}, [][]float64{{1}}) }},
		{"Update wrong k", func() { Update([][]float64{{1}}, NewPartial(2, 1)) }},
		{"PlusPlus k=0", func() { PlusPlus([][]float64{{1}}, 0, 1) }},
		{"PlusPlus no points", func() { PlusPlus(nil, 1, 1) }},
		{"PlusPlus ragged", func() { PlusPlus([][]float64{{1}, {1, 2}}, 1, 1) }},
		{"Reduce weights length", func() { Reduce([][]float64{{1}}, nil, 1, 1) }},
		{"Reduce negative weight", func() { Reduce([][]float64{{1}, {2}}, []float64{1, -1}, 1, 1) }},
		{"Reduce NaN weight", func() { Reduce([][]float64{{1}}, []float64{math.NaN()}, 1, 1) }},
		{"Reduce zero weights", func() { Reduce([][]float64{{1}, {2}}, []float64{0, 0}, 1, 1) }},
		{"AdjustedRand lengths", func() { AdjustedRand([]int{1}, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

func TestConverged(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		prev, cost, tol float64
		want            bool
	}{
		{inf, 100, 0.1, false},
		{100, 99.5, 1e-2, true},
		{100, 99, 1e-2, false}, // exactly tol: not < tol
		{100, 98, 1e-2, false},
		{100, 101, 1e-1, true}, // an increase counts by its size
		{5, 5, 0, true},
		{0, 0, 0, true},
		{0, 1e-300, 0.5, false},
		{math.NaN(), 1, 1, false},
		{1, math.NaN(), 1, false},
	} {
		if got := Converged(tc.prev, tc.cost, tc.tol); got != tc.want {
			t.Errorf("Converged(%v, %v, %v) = %v, want %v", tc.prev, tc.cost, tc.tol, got, tc.want)
		}
	}
}

func TestPlusPlus(t *testing.T) {
	points, _ := blobs(6, 2000, blobMeans, 1)
	for seed := uint64(0); seed < 20; seed++ {
		c := PlusPlus(points, 4, seed)
		// Every centroid is one of the points, and greedy k-means++ puts one
		// in each well-separated blob.
		for _, x := range c {
			if !slices.ContainsFunc(points, func(p []float64) bool { return slices.Equal(p, x) }) {
				t.Fatalf("seed %d: centroid %v is not an input point", seed, x)
			}
		}
		matchMeans(t, c, blobMeans, 5)
		if !reflect.DeepEqual(c, PlusPlus(points, 4, seed)) {
			t.Fatalf("seed %d: not deterministic", seed)
		}
	}
	if reflect.DeepEqual(PlusPlus(points, 4, 1), PlusPlus(points, 4, 2)) {
		t.Error("seeds 1 and 2 give the same centroids")
	}
	// Fewer distinct points than k: all distinct points chosen, rest duplicates.
	few := [][]float64{{1, 1}, {2, 2}, {1, 1}}
	c := PlusPlus(few, 4, 1)
	if len(c) != 4 {
		t.Fatalf("len = %d", len(c))
	}
	sorted, _ := Sort(c)
	seen := map[[2]float64]bool{}
	for _, x := range sorted {
		seen[[2]float64{x[0], x[1]}] = true
	}
	if len(seen) != 2 {
		t.Errorf("PlusPlus on 2 distinct points, k=4: %v", c)
	}
}

// candidates imitates k-means|| oversampling: m random points as candidates,
// each weighted by the number of points nearest to it.
func candidates(points [][]float64, m int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	cand := make([][]float64, m)
	for i, j := range rng.Perm(len(points))[:m] {
		cand[i] = points[j]
	}
	w := make([]float64, m)
	for _, x := range points {
		j, _ := Nearest(x, cand)
		w[j]++
	}
	return cand, w
}

func TestReduceBlobs(t *testing.T) {
	points, truth := blobs(7, 8000, blobMeans, 1)
	cand, w := candidates(points, 120, 5)
	for _, seed := range []uint64{1, 2, 3} {
		c := Reduce(cand, w, 4, seed)
		matchMeans(t, c, blobMeans, 0.3)
		if ari := AdjustedRand(truth, labelsOf(points, c)); ari <= 0.99 {
			t.Errorf("seed %d: ARI of Reduce's centres = %.4f", seed, ari)
		}
		// One distributed Lloyd step from Reduce's centres lands on the blobs.
		p := NewPartial(4, 3)
		for _, x := range points {
			p.Add(x, c)
		}
		matchMeans(t, Update(c, p), blobMeans, 0.1)
		if !reflect.DeepEqual(c, Reduce(cand, w, 4, seed)) {
			t.Errorf("seed %d: Reduce is not deterministic", seed)
		}
	}
}

func TestReduceWeights(t *testing.T) {
	cand := [][]float64{{0}, {1}, {10}, {12}, {1000}}
	w := []float64{1, 3, 2, 2, 0} // the far candidate has no weight
	for seed := uint64(0); seed < 10; seed++ {
		c, _ := Sort(Reduce(cand, w, 2, seed))
		// Weighted means: (0·1 + 1·3)/4 and (10·2 + 12·2)/4; unweighted
		// would give 0.5 and 11, and a chosen zero-weight candidate 1000.
		want := [][]float64{{0.75}, {11}}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("seed %d: Reduce = %v, want %v", seed, c, want)
		}
	}
	// Fewer weighted candidates than k: still k centres, no panic.
	c := Reduce([][]float64{{1, 1}, {2, 2}}, []float64{1, 1}, 3, 1)
	if len(c) != 3 {
		t.Errorf("Reduce with 2 candidates, k=3: %v", c)
	}
}

func TestAdjustedRand(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []int
		want float64
	}{
		// Examples from scikit-learn's adjusted_rand_score documentation.
		{"identical", []int{0, 0, 1, 1}, []int{0, 0, 1, 1}, 1},
		{"swapped labels", []int{0, 0, 1, 1}, []int{1, 1, 0, 0}, 1},
		{"split a cluster", []int{0, 0, 1, 2}, []int{0, 0, 1, 1}, 4.0 / 7},
		{"split a cluster (reversed)", []int{0, 0, 1, 1}, []int{0, 0, 1, 2}, 4.0 / 7},
		{"all vs singletons", []int{0, 0, 0, 0}, []int{0, 1, 2, 3}, 0},
		{"worse than chance", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, -0.5},
		// sklearn's special cases.
		{"empty", nil, nil, 1},
		{"both one cluster", []int{3, 3, 3}, []int{7, 7, 7}, 1},
		{"both singletons", []int{0, 1, 2}, []int{5, 4, 3}, 1},
		{"single point", []int{0}, []int{9}, 1},
		// Hand-computed: n=6, a = {0,1,2}{3,4,5}, b = {0,1}{2,3}{4,5}.
		// Σ C(n_ij,2) = 2; Σ C(a_i,2) = 6; Σ C(b_j,2) = 3; C(6,2) = 15.
		// ARI = (2 − 6·3/15) / ((6+3)/2 − 6·3/15) = 0.8/3.3.
		{"hand computed", []int{0, 0, 0, 1, 1, 1}, []int{0, 0, 1, 1, 2, 2}, 0.8 / 3.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AdjustedRand(tc.a, tc.b)
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("AdjustedRand = %.12f, want %.12f", got, tc.want)
			}
			if sym := AdjustedRand(tc.b, tc.a); sym != got {
				t.Errorf("not symmetric: %v vs %v", got, sym)
			}
		})
	}
	if got := AdjustedRand([]int{0, 0, 1, 2}, []int{0, 0, 1, 1}); math.Abs(got-0.5714285714) > 1e-10 {
		t.Errorf("sklearn example: %.10f, want 0.5714285714", got)
	}
}

func TestAdjustedRandPermutedLabels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := make([]int, 1000)
	for i := range a {
		a[i] = rng.IntN(7)
	}
	relabel := []int{-5, 1 << 40, 3, 0, 2, -1, 99}
	b := make([]int, len(a))
	for i, l := range a {
		b[i] = relabel[l]
	}
	if got := AdjustedRand(a, b); got != 1 {
		t.Errorf("relabelled copy: ARI = %v, want 1", got)
	}
	b[0] = relabel[(a[0]+1)%7]
	if got := AdjustedRand(a, b); got >= 1 || got < 0.99 {
		t.Errorf("one point moved: ARI = %v, want just below 1", got)
	}
}

func TestAdjustedRandRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{2, 5, 20} {
		a, b := make([]int, 20000), make([]int, 20000)
		for i := range a {
			a[i], b[i] = rng.IntN(k), rng.IntN(k)
		}
		if got := AdjustedRand(a, b); math.Abs(got) > 0.005 {
			t.Errorf("k=%d: independent random labelings: ARI = %v, want ≈ 0", k, got)
		}
	}
}

// ariBrute is the textbook adjusted Rand index by explicit enumeration of
// unordered pairs (Hubert & Arabie): an independent reference.
func ariBrute(a, b []int) float64 {
	n := len(a)
	var both, inA, inB float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			sa, sb := a[i] == a[j], b[i] == b[j]
			if sa && sb {
				both++
			}
			if sa {
				inA++
			}
			if sb {
				inB++
			}
		}
	}
	pairs := float64(n) * float64(n-1) / 2
	expected := inA * inB / pairs
	maxIndex := (inA + inB) / 2
	return (both - expected) / (maxIndex - expected)
}

func TestAdjustedRandMatchesPairCounting(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		n := 2 + rng.IntN(60)
		ka, kb := 1+rng.IntN(6), 1+rng.IntN(6)
		a, b := make([]int, n), make([]int, n)
		for i := range a {
			a[i], b[i] = rng.IntN(ka), rng.IntN(kb)
		}
		want := ariBrute(a, b)
		if math.IsNaN(want) { // 0/0: no disagreeing pair, sklearn says 1
			want = 1
		}
		if got := AdjustedRand(a, b); math.Abs(got-want) > 1e-12 {
			t.Fatalf("a=%v b=%v: AdjustedRand = %v, pair counting = %v", a, b, got, want)
		}
	}
}

func TestBest(t *testing.T) {
	// Uniform data has many local minima, so restarts differ.
	points := uniform(12, 1500, 2)
	const k, seed, restarts = 8, 100, 10
	c, cost := Best(points, k, seed, restarts)
	costs := make([]float64, restarts)
	runs := make([][][]float64, restarts)
	for r := range costs {
		runs[r], costs[r], _ = Lloyd(points, k, seed+uint64(r), DefaultMaxIter, DefaultTol)
		if cost > costs[r] {
			t.Errorf("Best cost %v > run %d cost %v", cost, r, costs[r])
		}
	}
	first := slices.Index(costs, slices.Min(costs))
	if cost != costs[first] || !reflect.DeepEqual(c, runs[first]) {
		t.Errorf("Best = cost %v, want run %d with cost %v and its centroids", cost, first, costs[first])
	}
	if slices.Min(costs) == slices.Max(costs) {
		t.Error("all restarts had the same cost: the test cannot tell Best from one run")
	}
	c1, cost1 := Best(points, k, seed, 1)
	l1, lcost1, _ := Lloyd(points, k, seed, DefaultMaxIter, DefaultTol)
	if !reflect.DeepEqual(c1, l1) || cost1 != lcost1 {
		t.Error("Best with 1 restart differs from Lloyd with the same seed")
	}
}

func TestSort(t *testing.T) {
	c := [][]float64{{2, 1}, {1, 5}, {2, 0}, {1, 5}, {-3, 9}}
	sorted, perm := Sort(c)
	want := [][]float64{{-3, 9}, {1, 5}, {1, 5}, {2, 0}, {2, 1}}
	if !reflect.DeepEqual(sorted, want) {
		t.Errorf("Sort = %v, want %v", sorted, want)
	}
	if !slices.Equal(perm, []int{4, 1, 3, 2, 0}) { // stable for the equal rows
		t.Errorf("perm = %v", perm)
	}
	for i, j := range perm {
		if !slices.Equal(sorted[i], c[j]) {
			t.Errorf("sorted[%d] = %v, c[perm[%d]] = %v", i, sorted[i], i, c[j])
		}
	}
	sorted[0][0] = 100
	if c[4][0] != -3 {
		t.Error("Sort's result aliases its input")
	}
	// Results that differ only by init order sort to the same thing.
	points, _ := blobs(2, 2000, blobMeans, 1)
	a, _, _ := Lloyd(points, 4, 1, 100, 0)
	b, _, _ := Lloyd(points, 4, 2, 100, 0)
	sa, _ := Sort(a)
	sb, _ := Sort(b)
	for j := range sa {
		if d := dist(sa[j], sb[j]); d > 1e-9 {
			t.Errorf("sorted centroid %d: %v vs %v", j, sa[j], sb[j])
		}
	}
}

func BenchmarkPartialAdd(b *testing.B) {
	const n, d, k = 100_000, 8, 6
	points := uniform(1, n, d)
	c := PlusPlus(points[:1000], k, 1)
	b.ResetTimer()
	for b.Loop() {
		p := NewPartial(k, d)
		for _, x := range points {
			p.Add(x, c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/point")
}

func BenchmarkLloyd(b *testing.B) {
	const n, d, k = 20_000, 8, 6
	points := uniform(2, n, d)
	var iters int
	for b.Loop() {
		_, _, iters = Lloyd(points, k, 1, 50, 1e-6)
	}
	b.ReportMetric(float64(iters), "iters")
}
