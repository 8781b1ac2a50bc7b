// Package kmeans is the arithmetic of distributed k-means (Lloyd's algorithm
// with k-means++ / k-means|| initialisation). It knows nothing of Temporal or
// storage: a caller splits the points into shards, builds one Partial per
// shard with Add, merges the partials in shard order with Merge and turns the
// total into new centroids with Update.
//
// Everything is deterministic. Sums are accumulated in float64 in the order
// the points are given, randomness comes from a PCG generator seeded from the
// caller's seed, and every product that feeds a sum is explicitly rounded so
// that the compiler may not fuse it into an FMA on architectures that have
// one: the same input in the same order gives bit-identical output on every
// platform.
//
// Inputs are expected to be finite. Shape errors (ragged points, centroids of
// the wrong dimension, k < 1) are programming errors and panic, except in
// Merge, which combines data that crossed a process boundary and returns an
// error instead.
package kmeans

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// DefaultMaxIter is the iteration cap Best passes to Lloyd.
const DefaultMaxIter = 300

// DefaultTol is the relative cost-change tolerance Best passes to Lloyd.
const DefaultTol = 1e-6

// Reduce runs at most reduceIters weighted Lloyd steps after seeding and
// stops earlier once the weighted cost changes by less than reduceTol.
const (
	reduceIters = 50
	reduceTol   = 1e-9
)

// Partial is one shard's contribution to a Lloyd iteration; it travels in
// Temporal payloads, so it has JSON tags and no per-point data. Build it with
// NewPartial and Add, combine partials with Merge, and finish an iteration
// with Update. The JSON encoding round-trips float64 values exactly; a
// non-finite Cost (from non-finite input) cannot be encoded.
type Partial struct {
	// Sums[j] is the coordinate-wise sum of the points assigned to cluster
	// j (k rows of length d).
	Sums [][]float64 `json:"sums"`
	// Counts[j] is the number of points assigned to cluster j (length k).
	Counts []int64 `json:"counts"`
	// Cost is the sum of squared distances of the points to their nearest
	// centroid.
	Cost float64 `json:"cost"`
}

// NewPartial returns an empty Partial for k clusters in d dimensions. It
// panics if k or d is negative.
func NewPartial(k, d int) Partial {
	if k < 0 || d < 0 {
		panic(fmt.Sprintf("kmeans.NewPartial: k = %d, d = %d", k, d))
	}
	return Partial{Sums: matrix(k, d), Counts: make([]int64, k)}
}

// Nearest returns the index of the centroid nearest to x and the squared
// Euclidean distance to it (summed in coordinate order). Ties go to the
// lowest index. It panics if centroids is empty or a centroid's length
// differs from len(x).
func Nearest(x []float64, centroids [][]float64) (int, float64) {
	if len(centroids) == 0 {
		panic("kmeans.Nearest: no centroids")
	}
	best, bestD := 0, sqDist(x, centroids[0])
	for j := 1; j < len(centroids); j++ {
		if d := sqDist(x, centroids[j]); d < bestD {
			best, bestD = j, d
		}
	}
	return best, bestD
}

// Add assigns x to its nearest centroid (see Nearest) and accumulates it:
// x is added to that cluster's sum, its count is incremented and the squared
// distance is added to Cost. It panics if len(centroids) differs from the
// Partial's k or len(x) from its d.
func (p *Partial) Add(x []float64, centroids [][]float64) {
	if len(centroids) != len(p.Counts) || len(centroids) != len(p.Sums) {
		panic(fmt.Sprintf("kmeans.Partial.Add: %d centroids for a partial with %d sums and %d counts",
			len(centroids), len(p.Sums), len(p.Counts)))
	}
	j, d := Nearest(x, centroids)
	s := p.Sums[j]
	if len(s) != len(x) {
		panic(fmt.Sprintf("kmeans.Partial.Add: point of dimension %d, partial of dimension %d", len(x), len(s)))
	}
	for i, xi := range x {
		s[i] += xi
	}
	p.Counts[j]++
	p.Cost += d
}

// Merge adds q into p: sums, counts and cost. Both partials must have the
// same shape (k rows of the same d, and k counts); otherwise Merge returns an
// error and leaves p unchanged. Merging partials in a fixed (shard) order
// makes the result deterministic; the total equals a single Partial over all
// points up to floating-point reassociation of the sums.
func (p *Partial) Merge(q Partial) error {
	pk, pd, err := shape(*p)
	if err != nil {
		return fmt.Errorf("kmeans: merge into malformed partial: %w", err)
	}
	qk, qd, err := shape(q)
	if err != nil {
		return fmt.Errorf("kmeans: merge of malformed partial: %w", err)
	}
	if pk != qk || pd != qd {
		return fmt.Errorf("kmeans: merge shape mismatch: partial is k=%d d=%d, merged partial is k=%d d=%d", pk, pd, qk, qd)
	}
	for j, row := range q.Sums {
		s := p.Sums[j]
		for i, v := range row {
			s[i] += v
		}
		p.Counts[j] += q.Counts[j]
	}
	p.Cost += q.Cost
	return nil
}

// shape returns k and d of p, or an error if p is ragged or its counts do
// not match its sums. A partial with k = 0 has d = 0.
func shape(p Partial) (k, d int, err error) {
	k = len(p.Sums)
	if len(p.Counts) != k {
		return 0, 0, fmt.Errorf("%d sums but %d counts", k, len(p.Counts))
	}
	if k == 0 {
		return 0, 0, nil
	}
	d = len(p.Sums[0])
	for j, row := range p.Sums {
		if len(row) != d {
			return 0, 0, fmt.Errorf("sums row %d has length %d, row 0 has %d", j, len(row), d)
		}
	}
	return k, d, nil
}

// Update returns the new centroids of a Lloyd iteration: row j is
// total.Sums[j] / total.Counts[j], or a copy of prev[j] when cluster j
// received no points. prev is not modified and the result shares no memory
// with it. It panics if total's shape differs from prev's.
func Update(prev [][]float64, total Partial) [][]float64 {
	k := len(prev)
	if len(total.Sums) != k || len(total.Counts) != k {
		panic(fmt.Sprintf("kmeans.Update: %d centroids, partial has %d sums and %d counts", k, len(total.Sums), len(total.Counts)))
	}
	d := 0
	if k > 0 {
		d = len(prev[0])
	}
	out := matrix(k, d)
	for j, c := range prev {
		if len(c) != d || len(total.Sums[j]) != d {
			panic(fmt.Sprintf("kmeans.Update: centroid %d has length %d and sum length %d, want %d", j, len(c), len(total.Sums[j]), d))
		}
		n := total.Counts[j]
		if n <= 0 {
			copy(out[j], c)
			continue
		}
		fn := float64(n)
		for i, s := range total.Sums[j] {
			out[j][i] = s / fn
		}
	}
	return out
}

// Converged reports whether the cost changed by less than tol relative to
// the previous cost: |prevCost - cost| < tol * |prevCost|, or the two are
// equal (so a cost of exactly zero twice is converged, and tol = 0 means
// "until the cost stops changing"). An infinite or NaN prevCost (such as
// the +Inf a loop starts with) is never converged.
func Converged(prevCost, cost, tol float64) bool {
	if math.IsNaN(prevCost) || math.IsInf(prevCost, 0) || math.IsNaN(cost) {
		return false
	}
	if prevCost == cost {
		return true
	}
	return math.Abs(prevCost-cost) < tol*math.Abs(prevCost)
}

// PlusPlus chooses k initial centroids from points by greedy k-means++: the
// first uniformly at random, each next one as the best (lowest resulting
// cost) of 2+⌊ln k⌋ candidates drawn with probability proportional to the
// squared distance to the nearest centroid chosen so far. If fewer than k
// distinct points exist, the remaining centroids duplicate chosen ones. The
// result is a fresh k x d matrix. It panics if k < 1 or points is empty.
func PlusPlus(points [][]float64, k int, seed uint64) [][]float64 {
	return plusPlus("kmeans.PlusPlus", points, nil, k, newRand(seed))
}

// Reduce is the final step of a k-means||-style initialisation: it reduces
// a small set of weighted candidate centers (typically the oversampled
// candidates, each weighted by the number of points nearest to it) to k
// centers by weighted greedy k-means++ followed by weighted Lloyd steps (at
// most 50, stopping when the weighted cost changes by less than 1e-9
// relatively). Candidates with zero weight are never chosen. It panics if
// k < 1, candidates is empty, len(weights) != len(candidates), a weight is
// negative or not finite, or all weights are zero.
func Reduce(candidates [][]float64, weights []float64, k int, seed uint64) [][]float64 {
	const fn = "kmeans.Reduce"
	if len(weights) != len(candidates) {
		panic(fmt.Sprintf("%s: %d candidates, %d weights", fn, len(candidates), len(weights)))
	}
	var total float64
	for i, w := range weights {
		if !(w >= 0) || math.IsInf(w, 1) {
			panic(fmt.Sprintf("%s: weight %d is %v", fn, i, w))
		}
		total += w
	}
	if len(candidates) > 0 && !(total > 0) {
		panic(fmt.Sprintf("%s: all weights are zero", fn))
	}
	c := plusPlus(fn, candidates, weights, k, newRand(seed))
	d := len(c[0])
	sums := matrix(k, d)
	wsum := make([]float64, k)
	prev := math.Inf(1)
	for it := 0; it < reduceIters; it++ {
		for j := range sums {
			clear(sums[j])
		}
		clear(wsum)
		var cost float64
		for i, x := range candidates {
			w := weights[i]
			if w == 0 {
				continue
			}
			j, dist := Nearest(x, c)
			s := sums[j]
			for a, xa := range x {
				s[a] += float64(w * xa)
			}
			wsum[j] += w
			cost += float64(w * dist)
		}
		if Converged(prev, cost, reduceTol) {
			break
		}
		prev = cost
		next := matrix(k, d)
		for j := range c {
			if wsum[j] > 0 {
				for a, s := range sums[j] {
					next[j][a] = s / wsum[j]
				}
			} else {
				copy(next[j], c[j])
			}
		}
		c = next
	}
	return c
}

// Lloyd is the in-process reference k-means: PlusPlus(points, k, seed), then
// Lloyd iterations until Converged(previous cost, cost, tol) or maxIter
// assignment passes (maxIter < 1 counts as 1). Each iteration is exactly what
// the distributed workflow does: one Partial over all points against the
// current centroids, then Update. The returned centroids are the ones the
// returned cost was measured against (the final pass is not followed by an
// update), and iters is the number of assignment passes made. It panics if
// k < 1 or points is empty.
func Lloyd(points [][]float64, k int, seed uint64, maxIter int, tol float64) (centroids [][]float64, cost float64, iters int) {
	c := plusPlus("kmeans.Lloyd", points, nil, k, newRand(seed))
	d := len(c[0])
	maxIter = max(maxIter, 1)
	prev := math.Inf(1)
	for it := 1; ; it++ {
		p := NewPartial(k, d)
		for _, x := range points {
			p.Add(x, c)
		}
		if it >= maxIter || Converged(prev, p.Cost, tol) {
			return c, p.Cost, it
		}
		prev = p.Cost
		c = Update(c, p)
	}
}

// Best runs Lloyd restarts times (restarts < 1 counts as 1) with seeds seed,
// seed+1, …, seed+restarts-1, DefaultMaxIter and DefaultTol, and returns the
// centroids and cost of the cheapest run (the earliest on ties). Best(points,
// k, seed, 1) therefore equals Lloyd(points, k, seed, DefaultMaxIter,
// DefaultTol). It panics if k < 1 or points is empty.
func Best(points [][]float64, k int, seed uint64, restarts int) ([][]float64, float64) {
	restarts = max(restarts, 1)
	var best [][]float64
	bestCost := math.Inf(1)
	for r := 0; r < restarts; r++ {
		c, cost, _ := Lloyd(points, k, seed+uint64(r), DefaultMaxIter, DefaultTol)
		if best == nil || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost
}

// AdjustedRand returns the adjusted Rand index of two labelings of the same
// points: 1 for identical partitions (whatever the label values), about 0
// for independent random labelings, and negative for worse than chance. It
// is symmetric and matches scikit-learn's adjusted_rand_score, including its
// convention that two labelings with no disagreeing pair (for example both
// all-one-cluster, or both all-singletons, or empty) score 1. Labels are
// arbitrary ints. It panics if len(a) != len(b).
func AdjustedRand(a, b []int) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kmeans.AdjustedRand: labelings of length %d and %d", len(a), len(b)))
	}
	n := int64(len(a))
	type pair struct{ a, b int }
	na := make(map[int]int64)
	nb := make(map[int]int64)
	nab := make(map[pair]int64)
	for i := range a {
		na[a[i]]++
		nb[b[i]]++
		nab[pair{a[i], b[i]}]++
	}
	// Ordered pair counts, as in sklearn's pair_confusion_matrix:
	// same-same (tp), split in b only (fn), split in a only (fp), both (tn).
	var sumSq, sumA, sumB int64
	for p, c := range nab {
		sumSq += c * c
		sumA += c * na[p.a]
		sumB += c * nb[p.b]
	}
	tp := sumSq - n
	fp := sumB - sumSq // together in b, apart in a
	fn := sumA - sumSq // together in a, apart in b
	tn := n*n - fp - fn - sumSq
	if fp == 0 && fn == 0 {
		return 1
	}
	ftp, ffp, ffn, ftn := float64(tp), float64(fp), float64(fn), float64(tn)
	return 2 * (ftp*ftn - ffn*ffp) / ((ftp+ffn)*(ffn+ftn) + (ftp+ffp)*(ffp+ftn))
}

// Sort returns the centroids in a canonical order — lexicographic by
// coordinates (first coordinate, then the next, …; NaN first; equal rows keep
// their order) — so a result does not depend on the order initialisation
// produced. It also returns the permutation: sorted[i] is a copy of
// centroids[perm[i]]; a label j computed against the unsorted centroids
// becomes i where perm[i] == j. centroids is not modified.
func Sort(centroids [][]float64) (sorted [][]float64, perm []int) {
	perm = make([]int, len(centroids))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(x, y int) int {
		return slices.Compare(centroids[x], centroids[y])
	})
	sorted = make([][]float64, len(centroids))
	for i, j := range perm {
		sorted[i] = slices.Clone(centroids[j])
	}
	return sorted, perm
}

// plusPlus is greedy (weighted) k-means++ seeding. w == nil means unit
// weights; otherwise w has been validated by the caller (non-negative,
// finite, positive total).
func plusPlus(fn string, points [][]float64, w []float64, k int, rng *rand.PCG) [][]float64 {
	n := len(points)
	if k < 1 {
		panic(fmt.Sprintf("%s: k = %d", fn, k))
	}
	if n == 0 {
		panic(fmt.Sprintf("%s: no points", fn))
	}
	d := len(points[0])
	for i, x := range points {
		if len(x) != d {
			panic(fmt.Sprintf("%s: point %d has dimension %d, point 0 has %d", fn, i, len(x), d))
		}
	}
	weight := func(i int) float64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	centers := matrix(k, d)
	minD := make([]float64, n)  // squared distance to the nearest chosen center
	trial := make([]float64, n) // scratch for a candidate's distances
	bestTrial := make([]float64, n)
	cum := make([]float64, n)

	// First center: drawn by weight alone.
	var acc float64
	for i := range points {
		acc += weight(i)
		cum[i] = acc
	}
	first := sample(cum, rng)
	copy(centers[0], points[first])
	for i, x := range points {
		minD[i] = sqDist(x, centers[0])
	}

	trials := 2 + int(math.Log(float64(k)))
	for c := 1; c < k; c++ {
		acc = 0
		for i, di := range minD {
			acc += float64(weight(i) * di)
			cum[i] = acc
		}
		if math.IsNaN(acc) || math.IsInf(acc, 0) {
			panic(fmt.Sprintf("%s: non-finite distances (non-finite or huge coordinates)", fn))
		}
		if acc == 0 {
			// Every weighted point coincides with a center: fewer distinct
			// points than k. Fall back to drawing by weight (duplicates).
			for i := range points {
				acc += weight(i)
				cum[i] = acc
			}
		}
		bestIdx, bestPot := -1, math.Inf(1)
		for t := 0; t < trials; t++ {
			idx := sample(cum, rng)
			cand := points[idx]
			var pot float64
			for i, x := range points {
				di := min(minD[i], sqDist(x, cand))
				trial[i] = di
				pot += float64(weight(i) * di)
			}
			if bestIdx < 0 || pot < bestPot {
				bestIdx, bestPot = idx, pot
				trial, bestTrial = bestTrial, trial
			}
		}
		copy(centers[c], points[bestIdx])
		minD, bestTrial = bestTrial, minD
	}
	return centers
}

// sample draws an index i with probability proportional to cum[i]-cum[i-1]
// from the non-decreasing cumulative sums cum (cum[n-1] > 0). Indices with a
// zero increment are never drawn.
func sample(cum []float64, rng *rand.PCG) int {
	n := len(cum)
	u := unitFloat(rng) * cum[n-1]
	i := sort.Search(n, func(i int) bool { return cum[i] > u })
	if i == n { // u rounded up to the total: take the last positive increment
		i = n - 1
		for i > 0 && cum[i] == cum[i-1] {
			i--
		}
	}
	return i
}

// sqDist is the squared Euclidean distance, summed in coordinate order.
func sqDist(x, c []float64) float64 {
	if len(c) != len(x) {
		panicDim(len(x), len(c))
	}
	c = c[:len(x)]
	var s float64
	for i, xi := range x {
		t := xi - c[i]
		s += float64(t * t) // explicit rounding: no FMA, same bits everywhere
	}
	return s
}

func panicDim(dx, dc int) {
	panic(fmt.Sprintf("kmeans: point of dimension %d, centroid of dimension %d", dx, dc))
}

// matrix returns a zero k x d matrix backed by one allocation; rows have
// capacity d so appending to one cannot overwrite the next.
func matrix(k, d int) [][]float64 {
	back := make([]float64, k*d)
	m := make([][]float64, k)
	for j := range m {
		m[j] = back[j*d : (j+1)*d : (j+1)*d]
	}
	return m
}

// newRand returns the package's PCG generator for seed. Both PCG words are
// derived from seed by splitmix64 so that nearby seeds (as Best uses) give
// unrelated streams.
func newRand(seed uint64) *rand.PCG {
	a := splitmix64(seed)
	return rand.NewPCG(a, splitmix64(a))
}

// unitFloat returns a uniform float64 in [0, 1) from the top 53 bits of the
// next PCG output. It is written out (rather than using rand.Rand.Float64)
// so that the sequence depends only on PCG, which math/rand/v2 specifies.
func unitFloat(rng *rand.PCG) float64 {
	return float64(rng.Uint64()>>11) * 0x1p-53
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
