package dbscan

import (
	"math"
	"slices"
)

// tree is a k-d tree over a fixed set of points: the neighbour search of
// DBSCAN, the k-distances that choose eps, and the nearest core point of
// the assignment. A grid of cells of side eps is the other classic index,
// but a point's neighbours span 3^d cells: 4.8 million at the segment
// features' 14 dimensions, where a k-d tree visits the few leaves that
// meet the ball.
type tree struct {
	pts   [][]float64
	idx   []int // points, permuted so that every node's are contiguous
	nodes []node
}

// node is a subtree over idx[lo:hi]: a leaf, or split at idx[mid] on dim.
type node struct {
	lo, hi, mid int
	dim         int
	left, right int // children, -1 for a leaf
	box         []float64
}

const leafSize = 16

// newTree builds the tree of pts (not copied; not to be modified while the
// tree is used). Splits are at the median of the widest dimension, ties
// broken by index, so the tree depends only on the points and their order.
func newTree(pts [][]float64) *tree {
	t := &tree{pts: pts, idx: make([]int, len(pts))}
	for i := range t.idx {
		t.idx[i] = i
	}
	if len(pts) > 0 {
		t.build(0, len(pts))
	}
	return t
}

func (t *tree) build(lo, hi int) int {
	d := len(t.pts[t.idx[lo]])
	// box holds the bounds of the node's points: min in [0, d), max in [d, 2d).
	box := make([]float64, 2*d)
	for k := range d {
		box[k], box[d+k] = math.Inf(1), math.Inf(-1)
	}
	for _, i := range t.idx[lo:hi] {
		for k, v := range t.pts[i] {
			box[k], box[d+k] = min(box[k], v), max(box[d+k], v)
		}
	}
	id := len(t.nodes)
	t.nodes = append(t.nodes, node{lo: lo, hi: hi, left: -1, right: -1, box: box})
	if hi-lo <= leafSize {
		return id
	}
	dim, width := 0, -1.0
	for k := range d {
		if w := box[d+k] - box[k]; w > width {
			dim, width = k, w
		}
	}
	if width == 0 { // all points equal: a leaf, however many
		return id
	}
	part := t.idx[lo:hi]
	slices.SortFunc(part, func(a, b int) int {
		if c := cmpFloat(t.pts[a][dim], t.pts[b][dim]); c != 0 {
			return c
		}
		return a - b
	})
	mid := lo + (hi-lo)/2
	left := t.build(lo, mid)
	right := t.build(mid, hi)
	t.nodes[id].dim, t.nodes[id].mid, t.nodes[id].left, t.nodes[id].right = dim, mid, left, right
	return id
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dist2 is the squared Euclidean distance.
func dist2(a, b []float64) float64 {
	var s float64
	for k, v := range a {
		d := v - b[k]
		s += d * d
	}
	return s
}

// boxDist2 is the squared distance from x to the node's bounding box.
func (n *node) boxDist2(x []float64) float64 {
	d := len(x)
	var s float64
	for k, v := range x {
		if lo := n.box[k]; v < lo {
			s += (lo - v) * (lo - v)
		} else if hi := n.box[d+k]; v > hi {
			s += (v - hi) * (v - hi)
		}
	}
	return s
}

// radius appends to dst the points within distance eps of x (itself
// included when x is one of them), in no particular order.
func (t *tree) radius(x []float64, eps float64, dst []int) []int {
	if len(t.nodes) == 0 {
		return dst
	}
	return t.radiusAt(0, x, eps*eps, dst)
}

func (t *tree) radiusAt(id int, x []float64, e2 float64, dst []int) []int {
	n := &t.nodes[id]
	if n.boxDist2(x) > e2 {
		return dst
	}
	if n.left < 0 {
		for _, i := range t.idx[n.lo:n.hi] {
			if dist2(x, t.pts[i]) <= e2 {
				dst = append(dst, i)
			}
		}
		return dst
	}
	dst = t.radiusAt(n.left, x, e2, dst)
	return t.radiusAt(n.right, x, e2, dst)
}

// count returns how many points are within eps of x, counting up to
// limit only: whether a point is core needs no more.
func (t *tree) count(x []float64, eps float64, limit int) int {
	if len(t.nodes) == 0 {
		return 0
	}
	n := 0
	t.countAt(0, x, eps*eps, limit, &n)
	return n
}

func (t *tree) countAt(id int, x []float64, e2 float64, limit int, n *int) {
	nd := &t.nodes[id]
	if *n >= limit || nd.boxDist2(x) > e2 {
		return
	}
	if nd.left < 0 {
		for _, i := range t.idx[nd.lo:nd.hi] {
			if dist2(x, t.pts[i]) <= e2 {
				if *n++; *n >= limit {
					return
				}
			}
		}
		return
	}
	t.countAt(nd.left, x, e2, limit, n)
	t.countAt(nd.right, x, e2, limit, n)
}

// knn returns the squared distances of the k points nearest to x, itself
// included when x is one of the points, in increasing order (fewer when
// the tree has fewer points); best is scratch space.
func (t *tree) knn(x []float64, k int, best []float64) []float64 {
	best = best[:0]
	if len(t.nodes) == 0 || k <= 0 {
		return best
	}
	return t.knnAt(0, x, k, best)
}

func (t *tree) knnAt(id int, x []float64, k int, best []float64) []float64 {
	n := &t.nodes[id]
	if len(best) == k && n.boxDist2(x) >= best[k-1] {
		return best
	}
	if n.left < 0 {
		for _, i := range t.idx[n.lo:n.hi] {
			d := dist2(x, t.pts[i])
			if len(best) == k && d >= best[k-1] {
				continue
			}
			if len(best) < k {
				best = append(best, d)
			} else {
				best[k-1] = d
			}
			for j := len(best) - 1; j > 0 && best[j] < best[j-1]; j-- {
				best[j], best[j-1] = best[j-1], best[j]
			}
		}
		return best
	}
	// The side of x first: the bound tightens sooner.
	first, second := n.left, n.right
	if x[n.dim] >= t.pts[t.idx[n.mid]][n.dim] {
		first, second = second, first
	}
	best = t.knnAt(first, x, k, best)
	return t.knnAt(second, x, k, best)
}

// nearest returns the point nearest to x and its squared distance, the
// smallest index on a tie; -1 when the tree is empty.
func (t *tree) nearest(x []float64) (int, float64) {
	if len(t.nodes) == 0 {
		return -1, math.Inf(1)
	}
	best, bd := -1, math.Inf(1)
	t.nearestAt(0, x, &best, &bd)
	return best, bd
}

func (t *tree) nearestAt(id int, x []float64, best *int, bd *float64) {
	n := &t.nodes[id]
	if n.boxDist2(x) > *bd {
		return
	}
	if n.left < 0 {
		for _, i := range t.idx[n.lo:n.hi] {
			if d := dist2(x, t.pts[i]); d < *bd || d == *bd && i < *best {
				*best, *bd = i, d
			}
		}
		return
	}
	first, second := n.left, n.right
	if x[n.dim] >= t.pts[t.idx[n.mid]][n.dim] {
		first, second = second, first
	}
	t.nearestAt(first, x, best, bd)
	t.nearestAt(second, x, best, bd)
}
