package forest

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Prediction walks a compact copy of the trees, built from Forest.Trees on
// first use and kept in the forest, for three reasons found by profiling
// (BenchmarkForestPredict):
//
//   - A Node is 72 bytes, of which a walk reads four fields; a flatNode is
//     16, so a tree of depth 8 fits in 8 KB (the L1 cache) and one of depth
//     12 in the L2, and a walk touches a quarter of the cache lines.
//   - A walk that stops at its leaf mispredicts about every other branch,
//     since a row's way down is data. In the compact layout a leaf leads to
//     itself, so every walk of a tree takes the same number of steps (the
//     depth of its deepest leaf) and picks each child by arithmetic on a
//     comparison, without a branch; walks taken side by side (group) then
//     overlap their loads.
//   - Missing values need no test at each node: a row is widened to 2d
//     values, the first d with NaN as -Inf (which goes left at any finite
//     threshold) and the last d with NaN as +Inf (which goes right), and a
//     node whose missing values go right reads the second copy.
//
// Leaf values and thresholds are copied bit for bit and every row adds its
// trees' values in tree order, so predictions are bit-identical to a walk
// over Tree.Nodes (TestPredictIdenticalToReference).

// flatNode is a node of the compact layout. A row x (widened) goes from a
// split node to its left child kids when x[col] <= thr and to its right
// child kids+1 otherwise. A leaf has col 0, thr +Inf and kids its own
// index, so every row stays there.
type flatNode struct {
	thr  float64
	col  int32
	kids uint32
}

// compiled is the compact layout of a forest's trees.
type compiled struct {
	d      int        // features; widened rows have 2d values
	nodes  []flatNode // every tree's nodes, tree after tree
	vals   []float64  // leaf values by node index; zero at split nodes
	roots  []uint32   // index of each tree's root in nodes
	depths []int32    // steps from each tree's root to its deepest leaf
	// src and ntrees identify the Trees slice the layout was built from,
	// so that a forest whose Trees were replaced or appended to after a
	// prediction is compiled anew (Forest.compiled).
	src    *Tree
	ntrees int
}

// compile builds the compact layout of trees over d features. Children are
// placed in pairs (left, then right), each tree's nodes in depth-first
// order of the pairs, so a subtree's nodes stay together. It returns an
// error for a tree that Load would reject for its shape: a feature out of
// range, a threshold that is not finite, child indices that do not follow
// their parent or fall outside the tree, or a node with more than one
// parent.
func compile(trees []Tree, d int) (*compiled, error) {
	total := 0
	for _, t := range trees {
		total += len(t.Nodes)
	}
	if total > math.MaxUint32 || 2*d > math.MaxInt32 {
		return nil, fmt.Errorf("%d nodes over %d features, too many", total, d)
	}
	c := &compiled{
		d: d, nodes: make([]flatNode, 0, total), vals: make([]float64, 0, total),
		roots: make([]uint32, len(trees)), depths: make([]int32, len(trees)), ntrees: len(trees),
	}
	if len(trees) > 0 {
		c.src = &trees[0]
	}
	type pending struct{ src, dst, depth int } // a source node, its slot and depth
	var stack []pending
	for ti := range trees {
		t := &trees[ti]
		if len(t.Nodes) == 0 {
			return nil, fmt.Errorf("tree %d: no nodes", ti)
		}
		base := len(c.nodes)
		c.roots[ti] = uint32(base)
		c.nodes = append(c.nodes, flatNode{})
		c.vals = append(c.vals, 0)
		stack = append(stack[:0], pending{0, base, 0})
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			nd := &t.Nodes[p.src]
			if nd.Feature < 0 {
				c.nodes[p.dst] = flatNode{thr: math.Inf(1), kids: uint32(p.dst)}
				c.vals[p.dst] = nd.Value
				c.depths[ti] = max(c.depths[ti], int32(p.depth))
				continue
			}
			switch {
			case nd.Feature >= d:
				return nil, fmt.Errorf("tree %d: node %d: feature %d out of range [0, %d)", ti, p.src, nd.Feature, d)
			case math.IsNaN(nd.Threshold) || math.IsInf(nd.Threshold, 0):
				return nil, fmt.Errorf("tree %d: node %d: threshold %v", ti, p.src, nd.Threshold)
			}
			for _, ch := range []int{nd.Left, nd.Right} {
				if ch <= p.src || ch >= len(t.Nodes) {
					return nil, fmt.Errorf("tree %d: node %d: child %d is not a node after it", ti, p.src, ch)
				}
			}
			// A tree of n nodes whose nodes have one parent each emits n
			// nodes; more means a shared child.
			if len(c.nodes)+2-base > len(t.Nodes) {
				return nil, fmt.Errorf("tree %d: a node has more than one parent", ti)
			}
			col := int32(nd.Feature)
			if !nd.MissingLeft {
				col += int32(d)
			}
			l := len(c.nodes)
			c.nodes[p.dst] = flatNode{thr: nd.Threshold, col: col, kids: uint32(l)}
			c.nodes = append(c.nodes, flatNode{}, flatNode{})
			c.vals = append(c.vals, 0, 0)
			// Right below left on the stack: the left subtree is laid out
			// first.
			stack = append(stack, pending{nd.Right, l + 1, p.depth + 1}, pending{nd.Left, l, p.depth + 1})
		}
	}
	return c, nil
}

// widen writes row's values to x[:d] with NaN as -Inf and to x[d:2d] with
// NaN as +Inf.
func widen(row, x []float64) {
	d := len(row)
	lo, hi := x[:d], x[d:2*d]
	for f, v := range row {
		lo[f], hi[f] = v, v
		if v != v {
			lo[f], hi[f] = math.Inf(-1), math.Inf(1)
		}
	}
}

// step returns the child of split node n that a row with value v goes to,
// or n itself at a leaf.
func step(n *flatNode, v float64) uint32 {
	return n.kids + b2u(v > n.thr)
}

// b2u returns 1 for true and 0 for false; the compiler turns it into a
// flag read, not a branch that would mispredict on data.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// group is the number of walks predict and predictBlock take side by side
// (trees of one row, rows of one tree): they are independent, so the
// processor overlaps their loads and comparisons.
const group = 8

// predictBlock writes its eight walks out; this fails to compile if group
// changes.
var _ = [1]int{}[group-8]

// predict is Forest.Predict on the compact layout: the sum over trees, in
// tree order, divided by their number. It walks group trees side by side,
// each for the steps of the deepest of them (leaves lead to themselves),
// then adds their leaf values in tree order. x is scratch of 2d values.
func (c *compiled) predict(row, x []float64) float64 {
	x = x[:2*c.d]
	widen(row, x)
	var s float64
	for t := 0; t < len(c.roots); t += group {
		var idx [group]uint32
		k := copy(idx[:], c.roots[t:])
		depth := slices.Max(c.depths[t : t+k])
		for range depth {
			for g := range idx {
				n := &c.nodes[idx[g]]
				idx[g] = step(n, x[n.col])
			}
		}
		// Slots past the last tree hold index 0 (a node of the first
		// tree): walked, but not added.
		for _, i := range idx[:k] {
			s += c.vals[i]
		}
	}
	return s / float64(len(c.roots))
}

// predictBlock sets out[j] to the prediction of rows[j]. It walks one tree
// over every row of the block before the next tree, so that the tree stays
// in cache, group rows side by side; each row still adds its trees' values
// in tree order, as predict does. scratch holds the widened rows of each
// group transposed, column by column, so a step reads a value from one
// array rather than through the row's slice; it has at least
// ceil(len(rows)/group)*2d elements.
func (c *compiled) predictBlock(rows [][]float64, out []float64, scratch [][group]float64) {
	out = out[:len(rows)]
	clear(out)
	w := 2 * c.d
	groups := (len(rows) + group - 1) / group
	scratch = scratch[:groups*w]
	var x []float64
	if len(rows) > 0 {
		x = make([]float64, w)
	}
	// A last partial group repeats its last row; its extra slots are not
	// added.
	for gi := range groups {
		cols := scratch[gi*w : (gi+1)*w]
		for g := range group {
			widen(rows[min(gi*group+g, len(rows)-1)], x)
			for f, v := range x {
				cols[f][g] = v
			}
		}
	}
	nodes := c.nodes
	for t, root := range c.roots {
		depth := int(c.depths[t])
		for gi := range groups {
			cols := scratch[gi*w : (gi+1)*w]
			// Written out so that the eight indices stay in registers.
			i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
			for range depth {
				n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
				i0 = step(n0, cols[n0.col][0])
				i1 = step(n1, cols[n1.col][1])
				i2 = step(n2, cols[n2.col][2])
				i3 = step(n3, cols[n3.col][3])
				n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
				i4 = step(n4, cols[n4.col][4])
				i5 = step(n5, cols[n5.col][5])
				i6 = step(n6, cols[n6.col][6])
				i7 = step(n7, cols[n7.col][7])
			}
			idx := [group]uint32{i0, i1, i2, i3, i4, i5, i6, i7}
			o := out[gi*group : min((gi+1)*group, len(out))]
			for g := range o {
				o[g] += c.vals[idx[g]]
			}
		}
	}
	n := float64(len(c.roots))
	for j := range out {
		out[j] /= n
	}
}

// blockRows is the number of rows PredictBatch walks through one tree
// before the next: their transposed values (256 rows of 35 features, twice)
// are 140 KB, within an L2 cache next to a tree.
const blockRows = 256

// compiled returns the compact layout of f's trees, building it on first
// use. Concurrent callers may each build it; they build the same layout
// and the last one stored wins. It panics if a tree is malformed (see
// compile): Train and Load never return such a forest.
func (f *Forest) compiled() *compiled {
	c := f.flat.Load()
	if c != nil && c.ntrees == len(f.Trees) && c.d == len(f.Features) && (c.ntrees == 0 || c.src == &f.Trees[0]) {
		return c
	}
	c, err := compile(f.Trees, len(f.Features))
	if err != nil {
		panic(fmt.Sprintf("forest: Predict: %v", err))
	}
	f.flat.Store(c)
	return c
}

// PredictBatch sets out[i] to f.Predict(rows[i]) for every row, bit for bit,
// using up to GOMAXPROCS goroutines over blocks of rows; the result does
// not depend on their number. It panics if len(out) != len(rows) or a row's
// length differs from the number of features, as Predict does.
func (f *Forest) PredictBatch(rows [][]float64, out []float64) {
	if len(out) != len(rows) {
		panic(fmt.Sprintf("forest: PredictBatch with %d rows and %d outputs", len(rows), len(out)))
	}
	for _, row := range rows {
		if len(row) != len(f.Features) {
			panic(fmt.Sprintf("forest: PredictBatch with %d values, forest has %d features", len(row), len(f.Features)))
		}
	}
	if len(rows) == 0 {
		return
	}
	if len(f.Trees) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return
	}
	c := f.compiled()
	blocks := (len(rows) + blockRows - 1) / blockRows
	workers := min(runtime.GOMAXPROCS(0), blocks)
	// Workers take blocks in turn; each block's output depends only on its
	// rows, so the order they are taken in does not matter.
	var next atomic.Int64
	work := func() {
		scratch := make([][group]float64, blockRows/group*2*c.d)
		for {
			b := int(next.Add(1)-1) * blockRows
			if b >= len(rows) {
				return
			}
			e := min(b+blockRows, len(rows))
			c.predictBlock(rows[b:e], out[b:e], scratch)
		}
	}
	if workers <= 1 {
		work()
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(work)
	}
	wg.Wait()
}
