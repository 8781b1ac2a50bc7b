package forest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults applied by Train for zero Params fields.
const (
	DefaultMaxDepth = 8
	DefaultMinLeaf  = 5
)

// gainTolerance absorbs rounding in impurity decreases, so that a split whose
// exact gain equals MinGain (typically a zero-gain split with MinGain 0) is
// not rejected because of the last bit.
const gainTolerance = 1e-12

// Train grows a random forest of p.Trees CART trees on rows x with labels y
// in {0, 1}, splitting on Gini impurity. features names the columns of x.
// NaN in x marks a missing value; infinite values are rejected. x and y are
// not modified or retained.
//
// At each node Train draws features at random without replacement until it
// has examined p.MaxFeatures that are not constant among the node's rows, and
// takes the split with the largest impurity decrease: a threshold midway
// between consecutive distinct values, with missing values sent to the
// better side (or, if the node has none, to the larger child), or all present
// values against all missing ones (threshold math.MaxFloat64). A node becomes
// a leaf when it is pure, at p.MaxDepth, when no split leaves p.MinLeaf rows
// on each side, or when the best decrease is below p.MinGain.
//
// Trees are grown concurrently on up to GOMAXPROCS goroutines; each tree
// draws from its own PCG stream derived from p.Seed and its index, so the
// result depends only on the inputs and p. Besides a column copy of x, each
// concurrent tree uses one int32 per row and feature.
func Train(x [][]float64, y []float64, features []string, p Params) (*Forest, error) {
	return train(x, y, features, p, runtime.GOMAXPROCS(0))
}

// train is Train with an explicit number of worker goroutines.
func train(x [][]float64, y []float64, features []string, p Params, workers int) (*Forest, error) {
	p, err := p.resolve(len(features))
	if err != nil {
		return nil, err
	}
	ds, err := newDataset(x, y, features)
	if err != nil {
		return nil, err
	}
	trees := make([]Tree, p.Trees)
	workers = max(1, min(workers, p.Trees))
	if workers == 1 {
		for i := range trees {
			trees[i] = grow(ds, p, i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(trees) {
						return
					}
					trees[i] = grow(ds, p, i)
				}
			})
		}
		wg.Wait()
	}
	return &Forest{Version: Version, Features: slices.Clone(features), Trees: trees}, nil
}

// resolve validates p and fills in defaults for d features.
func (p Params) resolve(d int) (Params, error) {
	switch {
	case p.Trees < 1:
		return p, fmt.Errorf("forest: Trees = %d, want >= 1", p.Trees)
	case p.MaxDepth < 0:
		return p, fmt.Errorf("forest: MaxDepth = %d, want >= 0", p.MaxDepth)
	case p.MinLeaf < 0:
		return p, fmt.Errorf("forest: MinLeaf = %d, want >= 0", p.MinLeaf)
	case p.MaxFeatures < 0 || p.MaxFeatures > d:
		return p, fmt.Errorf("forest: MaxFeatures = %d, want 0..%d", p.MaxFeatures, d)
	case math.IsNaN(p.MinGain) || math.IsInf(p.MinGain, 0) || p.MinGain < 0:
		return p, fmt.Errorf("forest: MinGain = %v, want finite >= 0", p.MinGain)
	}
	if p.MaxDepth == 0 {
		p.MaxDepth = DefaultMaxDepth
	}
	if p.MinLeaf == 0 {
		p.MinLeaf = DefaultMinLeaf
	}
	if p.MaxFeatures == 0 {
		p.MaxFeatures = int(math.Ceil(math.Sqrt(float64(d))))
	}
	return p, nil
}

// dataset is the training data, stored by column, with every column's row
// order computed once and shared by all trees.
type dataset struct {
	cols  [][]float64 // cols[f][i] is feature f of row i
	y     []float64
	order [][]int32 // order[f] lists rows by ascending cols[f], NaN last
}

func newDataset(x [][]float64, y []float64, features []string) (*dataset, error) {
	d := len(features)
	switch {
	case len(x) == 0:
		return nil, errors.New("forest: no rows")
	case len(x) != len(y):
		return nil, fmt.Errorf("forest: %d rows but %d labels", len(x), len(y))
	case d == 0:
		return nil, errors.New("forest: no features")
	case len(x) > math.MaxInt32:
		return nil, fmt.Errorf("forest: %d rows, at most %d supported", len(x), math.MaxInt32)
	}
	seen := make(map[string]bool, d)
	for _, name := range features {
		if seen[name] {
			return nil, fmt.Errorf("forest: duplicate feature name %q", name)
		}
		seen[name] = true
	}
	ds := &dataset{cols: make([][]float64, d), y: slices.Clone(y)}
	for f := range ds.cols {
		ds.cols[f] = make([]float64, len(x))
	}
	for i, row := range x {
		if len(row) != d {
			return nil, fmt.Errorf("forest: row %d has %d values, want %d", i, len(row), d)
		}
		if y[i] != 0 && y[i] != 1 {
			return nil, fmt.Errorf("forest: label %d is %v, want 0 or 1", i, y[i])
		}
		for f, v := range row {
			if math.IsInf(v, 0) {
				return nil, fmt.Errorf("forest: row %d feature %q is %v; use NaN for missing", i, features[f], v)
			}
			ds.cols[f][i] = v
		}
	}
	ds.order = make([][]int32, d)
	for f, col := range ds.cols {
		o := make([]int32, len(col))
		for i := range o {
			o[i] = int32(i)
		}
		slices.SortFunc(o, func(a, b int32) int {
			va, vb := col[a], col[b]
			switch {
			case va < vb:
				return -1
			case va > vb:
				return 1
			}
			// Equal, or at least one NaN: NaN sorts last, then by row.
			if na, nb := math.IsNaN(va), math.IsNaN(vb); na != nb {
				if na {
					return 1
				}
				return -1
			}
			return cmp.Compare(a, b)
		})
		ds.order[f] = o
	}
	return ds, nil
}

// stats are the sufficient statistics of a set of rows for the impurity:
// count, sum of y and sum of y². With y in {0, 1} the Gini impurity is
// 2p(1-p) = 2·variance; keeping sumSq lets a regression criterion (variance)
// share the same split search later.
type stats struct {
	n, sum, sumSq float64
}

// add adds a row with label y counted w times.
func (s *stats) add(y, w float64) {
	s.n += w
	s.sum += w * y
	s.sumSq += w * y * y
}

func (s stats) plus(o stats) stats  { return stats{s.n + o.n, s.sum + o.sum, s.sumSq + o.sumSq} }
func (s stats) minus(o stats) stats { return stats{s.n - o.n, s.sum - o.sum, s.sumSq - o.sumSq} }

// cost is n times the Gini impurity: 2·sum·(n-sum)/n for 0/1 labels.
func (s stats) cost() float64 {
	if s.n == 0 {
		return 0
	}
	return 2 * s.sum * (s.n - s.sum) / s.n
}

// split is a candidate split of a node.
type split struct {
	ok          bool
	feature     int
	threshold   float64
	missingLeft bool
	gain        float64 // impurity decrease
}

// grower grows one tree.
//
// The rows in the tree's sample are kept once per feature, ordered by that
// feature (missing values last). A node owns the same range [lo, hi) of every
// ordering; splitting it partitions each range stably into left and right, so
// the children's ranges stay sorted and no sorting happens after the
// dataset's one sort per feature.
type grower struct {
	ds     *dataset
	p      Params
	rng    *rand.Rand
	nodes  []Node
	w      []float64 // w[r] is how many times row r is in the sample
	ord    [][]int32 // ord[f] is the sample's rows ordered by feature f
	goLeft []bool    // goLeft[r] marks rows of the node being split
	feats  []int     // feature permutation, shuffled lazily per node
	tmp    []int32
}

// treeRNG returns the random stream of tree i: two splitmix64 outputs of a
// sequence keyed by seed and i seed a PCG.
func treeRNG(seed uint64, i int) *rand.Rand {
	const golden uint64 = 0x9e3779b97f4a7c15
	base := seed + 2*uint64(i)*golden // wraps, as splitmix64 does
	return rand.New(rand.NewPCG(splitmix64(base+golden), splitmix64(base+golden+golden)))
}

func splitmix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// grow grows tree i of the forest.
func grow(ds *dataset, p Params, i int) Tree {
	n := len(ds.y)
	g := &grower{
		ds:     ds,
		p:      p,
		rng:    treeRNG(p.Seed, i),
		w:      make([]float64, n),
		ord:    make([][]int32, len(ds.cols)),
		goLeft: make([]bool, n),
		feats:  make([]int, len(ds.cols)),
		tmp:    make([]int32, n),
	}
	for f := range g.feats {
		g.feats[f] = f
	}
	if p.Bootstrap {
		for range n {
			g.w[g.rng.IntN(n)]++
		}
	} else {
		for r := range g.w {
			g.w[r] = 1
		}
	}
	inBag := 0
	for _, w := range g.w {
		if w > 0 {
			inBag++
		}
	}
	for f, o := range ds.order {
		g.ord[f] = make([]int32, 0, inBag)
		for _, r := range o {
			if g.w[r] > 0 {
				g.ord[f] = append(g.ord[f], r)
			}
		}
	}
	g.build(0, inBag, 0)
	return Tree{Nodes: g.nodes}
}

// build appends the subtree over the sample rows in [lo, hi) of the
// orderings at the given depth and returns the index of its root.
func (g *grower) build(lo, hi, depth int) int {
	var s stats
	for _, r := range g.ord[0][lo:hi] {
		s.add(g.ds.y[r], g.w[r])
	}
	idx := len(g.nodes)
	g.nodes = append(g.nodes, Node{Feature: -1, Value: s.sum / s.n, N: int(s.n)})
	if depth >= g.p.MaxDepth || s.n < 2*float64(g.p.MinLeaf) || s.cost() <= 0 {
		return idx
	}
	best := g.bestSplit(lo, hi, s)
	if !best.ok || best.gain < g.p.MinGain-gainTolerance {
		return idx
	}
	mid := lo + g.partition(lo, hi, best)
	left := g.build(lo, mid, depth+1)
	right := g.build(mid, hi, depth+1)
	nd := &g.nodes[idx]
	nd.Feature = best.feature
	nd.Threshold = best.threshold
	nd.MissingLeft = best.missingLeft
	nd.Left, nd.Right = left, right
	nd.Gain = max(0, best.gain)
	return idx
}

// goesLeft reports whether value v takes the left branch of sp.
func (sp *split) goesLeft(v float64) bool {
	if math.IsNaN(v) {
		return sp.missingLeft
	}
	return v <= sp.threshold
}

// partition splits the range [lo, hi) of every ordering stably into the rows
// going left and those going right, and returns the number going left.
func (g *grower) partition(lo, hi int, sp split) int {
	col := g.ds.cols[sp.feature]
	nl := 0
	for _, r := range g.ord[0][lo:hi] {
		left := sp.goesLeft(col[r])
		g.goLeft[r] = left
		if left {
			nl++
		}
	}
	for _, o := range g.ord {
		o = o[lo:hi]
		i, nr := 0, 0
		for _, r := range o {
			if g.goLeft[r] {
				o[i] = r
				i++
			} else {
				g.tmp[nr] = r
				nr++
			}
		}
		copy(o[i:], g.tmp[:nr])
	}
	return nl
}

// bestSplit searches features in random order until MaxFeatures features that
// are not constant at the node have been examined, and returns the split with
// the largest impurity decrease. Ties keep the first candidate found.
func (g *grower) bestSplit(lo, hi int, parent stats) split {
	d := len(g.feats)
	parentCost := parent.cost()
	minLeaf := float64(g.p.MinLeaf)
	best := split{gain: math.Inf(-1)}
	consider := func(f int, threshold float64, missingLeft bool, l, r stats) {
		if l.n < minLeaf || r.n < minLeaf {
			return
		}
		gain := (parentCost - l.cost() - r.cost()) / parent.n
		if gain > best.gain {
			best = split{ok: true, feature: f, threshold: threshold, missingLeft: missingLeft, gain: gain}
		}
	}
	y, w := g.ds.y, g.w
	tried := 0
	for k := 0; k < d && tried < g.p.MaxFeatures; k++ {
		j := k + g.rng.IntN(d-k)
		g.feats[k], g.feats[j] = g.feats[j], g.feats[k]
		f := g.feats[k]

		col := g.ds.cols[f]
		o := g.ord[f][lo:hi]
		// Present values come first, in ascending order; missing ones last.
		np := len(o)
		for np > 0 && math.IsNaN(col[o[np-1]]) {
			np--
		}
		if np == 0 {
			continue // all missing: nothing to split on
		}
		var miss stats
		for _, r := range o[np:] {
			miss.add(y[r], w[r])
		}
		if col[o[0]] == col[o[np-1]] && miss.n == 0 {
			continue // constant at this node
		}
		tried++
		present := parent.minus(miss)
		var left stats
		for i := 0; i < np-1; i++ {
			r := o[i]
			left.add(y[r], w[r])
			v, next := col[r], col[o[i+1]]
			if v == next {
				continue
			}
			t := midpoint(v, next)
			right := present.minus(left)
			if miss.n == 0 {
				// No missing values seen here: send them, at predict
				// time, to the larger child.
				consider(f, t, left.n >= right.n, left, right)
				continue
			}
			consider(f, t, true, left.plus(miss), right)
			consider(f, t, false, left, right.plus(miss))
		}
		if miss.n > 0 {
			// All present values left, missing values right.
			consider(f, math.MaxFloat64, false, present, miss)
		}
	}
	return best
}

// midpoint returns a threshold t with lo <= t < hi, halfway when floating
// point allows.
func midpoint(lo, hi float64) float64 {
	t := lo/2 + hi/2
	if t < lo || t >= hi {
		return lo
	}
	return t
}
