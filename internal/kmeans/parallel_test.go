package kmeans

import (
	"hash/fnv"
	"math"
	"slices"
	"testing"
)

func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		d2, u, cost, l float64
		want           bool
	}{
		{1, 0.5, 10, 6, true},    // 0.5 < 6·1/10
		{1, 0.7, 10, 6, false},   // 0.7 ≥ 0.6
		{0, 0, 10, 6, false},     // a candidate already
		{5, 0.1, 0, 6, false},    // no cost: nothing to choose
		{100, 0.99, 10, 1, true}, // probability capped at 1
	} {
		if got := Keep(tc.d2, tc.u, tc.cost, tc.l); got != tc.want {
			t.Errorf("Keep(%v, %v, %v, %v) = %v", tc.d2, tc.u, tc.cost, tc.l, got)
		}
	}
}

// unit is a test stand-in for shard.Unit: a hash of (round, point).
func unit(round, i int) float64 {
	h := fnv.New64a()
	h.Write([]byte{byte(round), byte(i), byte(i >> 8), byte(i >> 16)})
	return float64(splitmix64(h.Sum64())>>11) * 0x1p-53
}

// parallelInit runs k-means|| over points split into shards the way the
// workflow does: every shard keeps the points Keep chooses under its own
// cost, the total cost selects among them. It returns the weighted
// candidates.
func parallelInit(points [][]float64, shards, rounds int, l float64) ([][]float64, []float64) {
	shardOf := func(i int) int { return i % shards }
	// Round 0: the point with the smallest draw.
	first := 0
	for i := range points {
		if unit(0, i) < unit(0, first) {
			first = i
		}
	}
	cands := [][]float64{points[first]}
	for r := 1; r <= rounds; r++ {
		local := make([]float64, shards)
		d2 := make([]float64, len(points))
		for i, x := range points {
			d2[i] = NearestDist(x, cands)
			local[shardOf(i)] += d2[i]
		}
		var total float64
		for _, c := range local {
			total += c
		}
		for i, x := range points {
			superset := Keep(d2[i], unit(r, i), local[shardOf(i)], l)
			chosen := Keep(d2[i], unit(r, i), total, l)
			if chosen && !superset {
				panic("a point chosen under the total cost was not kept by its shard")
			}
			if chosen {
				cands = append(cands, x)
			}
		}
	}
	w := make([]float64, len(cands))
	for _, x := range points {
		j, _ := Nearest(x, cands)
		w[j]++
	}
	return cands, w
}

func TestParallelInit(t *testing.T) {
	points, truth := blobs(3, 6000, blobMeans, 1)
	const k, rounds = 4, 5
	l := 2.0 * k
	for _, shards := range []int{1, 3, 8} {
		cands, w := parallelInit(points, shards, rounds, l)
		// About l candidates per round, one first.
		if n := len(cands); n < rounds*int(l)/2 || n > 2*rounds*int(l)+1 {
			t.Errorf("%d shards: %d candidates after %d rounds of l = %v", shards, n, rounds, l)
		}
		var sum float64
		for _, x := range w {
			sum += x
		}
		if sum != float64(len(points)) {
			t.Errorf("weights sum to %v, want %d", sum, len(points))
		}
		c, cost := BestReduce(cands, w, k, 1, 5)
		if ari := AdjustedRand(truth, labelsOf(points, c)); ari < 0.99 {
			t.Errorf("%d shards: ARI of the initial centroids %.4f", shards, ari)
		}
		single := Reduce(cands, w, k, 1)
		if cs := WeightedCost(cands, w, single); cost > cs {
			t.Errorf("best of 5 reductions costs %v, more than the first alone (%v)", cost, cs)
		}
	}
	// The selection does not depend on the number of shards.
	a, _ := parallelInit(points, 1, rounds, l)
	b, _ := parallelInit(points, 7, rounds, l)
	if !slices.EqualFunc(a, b, func(x, y []float64) bool { return slices.Equal(x, y) }) {
		t.Error("candidates differ between 1 and 7 shards")
	}
}

func TestSilhouetteHandComputed(t *testing.T) {
	points := [][]float64{{0}, {1}, {10}, {11}}
	labels := []int{0, 0, 1, 1}
	// Points 0 and 3: a = 1, b = 10.5; points 1 and 2: a = 1, b = 9.5.
	want := (9.5/10.5 + 8.5/9.5) / 2
	if got := Silhouette(points, labels, 2); math.Abs(got-want) > 1e-12 {
		t.Errorf("silhouette %v, want %v", got, want)
	}
	// A singleton scores 0 (point 0: a = 1, b = 5; point 1: a = 1, b = 4);
	// one cluster scores 0.
	if got := Silhouette([][]float64{{0}, {1}, {5}}, []int{0, 0, 1}, 2); math.Abs(got-(4.0/5+3.0/4)/3) > 1e-12 {
		t.Errorf("with a singleton: %v", got)
	}
	if got := Silhouette(points, []int{0, 0, 0, 0}, 1); got != 0 {
		t.Errorf("one cluster: %v", got)
	}
}

func TestChooseK(t *testing.T) {
	points, _ := blobs(9, 800, blobMeans, 1)
	k, scores := ChooseK(points, 2, 7, 1, 3)
	if k != 4 {
		t.Errorf("chose k = %d from %+v, want the 4 blobs", k, scores)
	}
	if len(scores) != 6 || scores[0].K != 2 || scores[5].K != 7 {
		t.Errorf("scores %+v", scores)
	}
	for i := 1; i < len(scores); i++ {
		if scores[i].Cost > scores[i-1].Cost*1.05 {
			t.Errorf("cost rises from k=%d to k=%d: %+v", scores[i-1].K, scores[i].K, scores)
		}
	}
}

func BenchmarkSilhouette(b *testing.B) {
	points, labels := blobs(1, 2000, blobMeans, 1)
	for b.Loop() {
		Silhouette(points, labels, 4)
	}
}
