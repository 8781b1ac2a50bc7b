package kmeans

import (
	"fmt"
	"math"
)

// k-means|| (Bahmani et al., "Scalable k-means++", VLDB 2012) chooses
// initial centroids in a few passes over sharded data. Round 0 picks one
// point uniformly at random. Every later round r computes, for every point
// x, its squared distance d(x) to the candidates chosen so far and the
// total cost φ = Σ d(x), and keeps x as a new candidate with probability
// min(1, ℓ·d(x)/φ), where ℓ (the oversampling factor, about 2k) is the
// expected number of candidates per round. After the rounds, each
// candidate is weighted by the number of points nearest to it, and Reduce
// turns the weighted candidates into k centroids.
//
// The draw of round r for point x is a uniform u(x) computed from a hash of
// (seed, round, x's id), so it does not depend on the shard x lives in.
// Since φ is only known once every shard has reported, a shard keeps the
// points that would be chosen under its own, smaller cost (Keep with the
// shard's cost): a superset of the final choice, about ℓ points. Once the
// workflow has summed the shards' costs, Keep with the global cost selects
// the candidates from those supersets. Only the supersets (as objects) and
// the costs (as numbers) leave the shards.

// Keep reports whether a point at squared distance dist2 from the current
// candidates, with uniform draw u in [0, 1), is chosen as a candidate in a
// round with total cost cost and oversampling factor l: u < l·dist2/cost.
// With cost 0 (every point is a candidate already) nothing is chosen. A
// point kept under a cost is kept under any smaller cost.
func Keep(dist2, u, cost, l float64) bool {
	if !(cost > 0) {
		return false
	}
	return u*cost < l*dist2
}

// NearestDist returns the squared distance from x to the nearest of
// centers, or +Inf if there are none.
func NearestDist(x []float64, centers [][]float64) float64 {
	if len(centers) == 0 {
		return math.Inf(1)
	}
	_, d := Nearest(x, centers)
	return d
}

// WeightedCost is the weighted sum of squared distances of points to their
// nearest centroid.
func WeightedCost(points [][]float64, weights []float64, centroids [][]float64) float64 {
	var cost float64
	for i, x := range points {
		if weights[i] == 0 {
			continue
		}
		_, d := Nearest(x, centroids)
		cost += float64(weights[i] * d)
	}
	return cost
}

// BestReduce runs Reduce restarts times (restarts < 1 counts as 1) with
// seeds seed, seed+1, … and returns the centroids of the lowest weighted
// cost over the candidates (the earliest on ties), with that cost. Its
// panics are Reduce's.
func BestReduce(candidates [][]float64, weights []float64, k int, seed uint64, restarts int) ([][]float64, float64) {
	restarts = max(restarts, 1)
	var best [][]float64
	bestCost := math.Inf(1)
	for r := 0; r < restarts; r++ {
		c := Reduce(candidates, weights, k, seed+uint64(r))
		if cost := WeightedCost(candidates, weights, c); best == nil || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost
}

// Silhouette returns the mean silhouette coefficient of a labelling: for
// each point, (b − a) / max(a, b) where a is its mean distance to the other
// points of its cluster and b the smallest mean distance to the points of
// another cluster; 0 for points alone in their cluster. It is between −1
// and 1, higher for compact, well separated clusters. It takes O(n²)
// distance computations. It panics if len(labels) != len(points) or a label
// is outside [0, k).
func Silhouette(points [][]float64, labels []int, k int) float64 {
	if len(labels) != len(points) {
		panic(fmt.Sprintf("kmeans.Silhouette: %d points, %d labels", len(points), len(labels)))
	}
	n := len(points)
	if n == 0 || k < 2 {
		return 0
	}
	size := make([]int, k)
	for _, l := range labels {
		size[l]++
	}
	sum := make([]float64, k)
	var total float64
	for i, x := range points {
		clear(sum)
		for j, y := range points {
			if i != j {
				sum[labels[j]] += math.Sqrt(sqDist(x, y))
			}
		}
		own := labels[i]
		if size[own] < 2 {
			continue
		}
		a := sum[own] / float64(size[own]-1)
		b := math.Inf(1)
		for c := range k {
			if c != own && size[c] > 0 {
				b = min(b, sum[c]/float64(size[c]))
			}
		}
		if math.IsInf(b, 1) {
			continue
		}
		if m := max(a, b); m > 0 {
			total += (b - a) / m
		}
	}
	return total / float64(n)
}

// Labels returns the index of the nearest centroid of every point.
func Labels(points, centroids [][]float64) []int {
	out := make([]int, len(points))
	for i, x := range points {
		out[i], _ = Nearest(x, centroids)
	}
	return out
}

// KScore is the quality of one k: the cost of the best of a few k-means
// runs and the mean silhouette of its labelling.
type KScore struct {
	K          int     `json:"k"`
	Cost       float64 `json:"cost"`
	Silhouette float64 `json:"silhouette"`
}

// ChooseK clusters points (a sample) for every k in [kmin, kmax] with Best
// (restarts runs from seed) and returns the k of the highest mean
// silhouette — the criterion: points much closer to their own segment than
// to the next one — ties going to the smaller k, with every k's score. It
// panics if kmin < 2, kmax < kmin or there are fewer than kmax points.
func ChooseK(points [][]float64, kmin, kmax int, seed uint64, restarts int) (int, []KScore) {
	if kmin < 2 || kmax < kmin || len(points) < kmax {
		panic(fmt.Sprintf("kmeans.ChooseK: k in [%d, %d] for %d points", kmin, kmax, len(points)))
	}
	best := -1
	var scores []KScore
	for k := kmin; k <= kmax; k++ {
		c, cost := Best(points, k, seed, restarts)
		s := KScore{K: k, Cost: cost, Silhouette: Silhouette(points, Labels(points, c), k)}
		scores = append(scores, s)
		if best < 0 || s.Silhouette > scores[best].Silhouette {
			best = len(scores) - 1
		}
	}
	return scores[best].K, scores
}
