package forest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/promoflow/promoflow/internal/metrics"
)

// Defaults applied by Train and Fit for zero Params fields.
const (
	DefaultMaxDepth = 8
	DefaultMinLeaf  = 5
)

// gainTolerance absorbs rounding in impurity decreases, so that a split whose
// exact gain equals MinGain (typically a zero-gain split with MinGain 0) is
// not rejected because of the last bit.
const gainTolerance = 1e-12

// Criterion is the impurity a tree minimises.
type Criterion string

// Criteria. Gini and Entropy grow classification trees on labels in {0, 1};
// Variance grows regression trees on any finite labels.
const (
	Gini     Criterion = "gini"
	Entropy  Criterion = "entropy"
	Variance Criterion = "variance"
)

// Params control training.
type Params struct {
	Trees       int       // trees to grow
	Criterion   Criterion // "" means Gini
	MaxDepth    int       // 0 means DefaultMaxDepth
	MinLeaf     int       // minimum distinct sample rows per leaf; 0 means DefaultMinLeaf
	MaxFeatures int       // non-constant features tried per split; 0 means ceil(sqrt(d))
	MinGain     float64   // minimum impurity decrease (per unit of node weight) to split
	Bootstrap   bool      // draw each tree's rows with replacement (else without)
	Subsample   float64   // rows drawn per tree as a share of the rows; 0 means 1
	// ClassWeight weighs rows of label 0 and 1 (classification only); zeros
	// mean 1. Leaf values become weighted shares of positives.
	ClassWeight [2]float64
	// Weights weighs each row of the Matrix (indexed like y; nil means all
	// 1), multiplying its bootstrap multiplicity and class weight, so leaf
	// values become weighted means or shares. Weights must be finite and
	// >= 0, with a positive sum over the rows fitted; rows of weight 0 are
	// left out of every tree. MinLeaf, and the larger child that unseen
	// missing values go to, still count distinct rows, whatever their
	// weight.
	Weights []float64
	MaxBins int    // bins per feature when Train computes them; 0 means MaxBins
	OOB     bool   // compute out-of-bag estimates into Forest.OOB
	Seed    uint64 // all randomness derives from it
}

// Train grows a random forest on rows x with labels y; features names the
// columns. It bins x by its own exact quantiles (p.MaxBins) and calls Fit.
// NaN in x marks a missing value; infinite values are rejected. x and y are
// not modified or retained.
func Train(x [][]float64, y []float64, features []string, p Params) (*Forest, error) {
	if len(x) == 0 {
		return nil, errors.New("forest: no rows")
	}
	if len(features) == 0 {
		return nil, errors.New("forest: no features")
	}
	if err := checkRows(x, len(features)); err != nil {
		return nil, err
	}
	bins, err := ExactBins(x, len(features), p.MaxBins)
	if err != nil {
		return nil, err
	}
	m, err := NewMatrix(x, features, bins)
	if err != nil {
		return nil, err
	}
	return Fit(m, y, nil, p)
}

func checkRows(x [][]float64, d int) error {
	for i, row := range x {
		if len(row) != d {
			return fmt.Errorf("forest: row %d has %d values, want %d", i, len(row), d)
		}
		for f, v := range row {
			if math.IsInf(v, 0) {
				return fmt.Errorf("forest: row %d feature %d is %v; use NaN for missing", i, f, v)
			}
		}
	}
	return nil
}

// Matrix is a feature matrix reduced to bins, stored by column: the form
// trees are grown from. One Matrix can serve many forests (other labels,
// other row subsets).
type Matrix struct {
	features []string
	bins     *Bins
	cols     [][]uint8 // cols[f][i] is the bin of feature f of row i
}

// NewMatrix bins rows x by bins. NaN is missing; infinite values are
// rejected.
func NewMatrix(x [][]float64, features []string, bins *Bins) (*Matrix, error) {
	d := len(features)
	switch {
	case len(x) == 0:
		return nil, errors.New("forest: no rows")
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
	if err := bins.Validate(d); err != nil {
		return nil, err
	}
	if err := checkRows(x, d); err != nil {
		return nil, err
	}
	m := &Matrix{features: slices.Clone(features), bins: bins, cols: make([][]uint8, d)}
	for f := range m.cols {
		c := make([]uint8, len(x))
		for i, row := range x {
			c[i] = bins.Bin(f, row[f])
		}
		m.cols[f] = c
	}
	return m, nil
}

// Rows returns the number of rows of m.
func (m *Matrix) Rows() int { return len(m.cols[0]) }

// Features returns the feature names of m.
func (m *Matrix) Features() []string { return slices.Clone(m.features) }

// Fit grows a random forest on the rows of m listed in rows (all rows when
// rows is nil) with labels y, one per row of m.
//
// Each tree draws its sample (p.Subsample of the rows, with replacement if
// p.Bootstrap) and grows depth first. At each node it draws features at
// random without replacement until it has examined p.MaxFeatures that are
// not constant at the node; for each it builds a histogram of the node's
// rows over the feature's bins and considers every boundary between
// non-empty bins, with missing values sent to the better side (or, if the
// node has none, to the larger child), and all present values against all
// missing ones (threshold math.MaxFloat64). It takes the split with the
// largest impurity decrease. A node becomes a leaf when it is pure, at
// p.MaxDepth, when no split leaves p.MinLeaf rows on each side, or when the
// best decrease is below p.MinGain.
//
// Trees are grown concurrently on up to GOMAXPROCS goroutines; tree i draws
// from its own PCG stream derived from p.Seed and i, so the forest depends
// only on the inputs and p, never on the number of goroutines.
func Fit(m *Matrix, y []float64, rows []int, p Params) (*Forest, error) {
	return fit(m, y, rows, p, runtime.GOMAXPROCS(0))
}

// fit is Fit with an explicit number of worker goroutines.
func fit(m *Matrix, y []float64, rows []int, p Params, workers int) (*Forest, error) {
	p, err := p.resolve(len(m.features))
	if err != nil {
		return nil, err
	}
	if len(y) != m.Rows() {
		return nil, fmt.Errorf("forest: %d rows but %d labels", m.Rows(), len(y))
	}
	base := make([]int32, 0, len(rows))
	if rows == nil {
		for i := range y {
			base = append(base, int32(i))
		}
	} else {
		for _, r := range rows {
			if r < 0 || r >= len(y) {
				return nil, fmt.Errorf("forest: row %d out of range [0, %d)", r, len(y))
			}
			base = append(base, int32(r))
		}
	}
	if len(base) == 0 {
		return nil, errors.New("forest: no rows")
	}
	task := Classification
	if p.Criterion == Variance {
		task = Regression
	}
	for _, r := range base {
		v := y[r]
		if task == Classification && v != 0 && v != 1 {
			return nil, fmt.Errorf("forest: label %d is %v, want 0 or 1", r, v)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("forest: label %d is %v", r, v)
		}
	}
	job := &job{m: m, y: y, base: base, p: p, task: task}
	if p.Weights != nil {
		if job.fallback, err = checkWeights(p.Weights, y, base); err != nil {
			return nil, err
		}
	}
	trees := make([]Tree, p.Trees)
	var oob *oobSums
	if p.OOB {
		oob = &oobSums{sum: make([]float64, len(y)), n: make([]int32, len(y))}
	}
	workers = max(1, min(workers, p.Trees))
	results := make(chan grown, workers)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			g := newGrower(job)
			for i := range next {
				results <- g.grow(i)
			}
		})
	}
	go func() {
		for i := range trees {
			next <- i
		}
		close(next)
		wg.Wait()
		close(results)
	}()
	// Out-of-bag sums are added in tree order, so they do not depend on
	// which goroutine finishes first.
	pending := map[int]grown{}
	commit := 0
	for r := range results {
		trees[r.i] = r.tree
		pending[r.i] = r
		for {
			c, ok := pending[commit]
			if !ok {
				break
			}
			if oob != nil {
				for k, row := range c.oobRows {
					oob.sum[row] += float64(c.oobPred[k])
					oob.n[row]++
				}
			}
			delete(pending, commit)
			commit++
		}
	}
	f := &Forest{Version: Version, Task: task, Features: slices.Clone(m.features), Trees: trees}
	if oob != nil {
		f.OOB = oob.estimate(y, base, task)
	}
	return f, nil
}

// checkWeights validates per-row weights for the rows in base and returns
// the weighted mean label over them, the value of a tree whose sample
// drew only rows of zero weight.
func checkWeights(w, y []float64, base []int32) (float64, error) {
	if len(w) != len(y) {
		return 0, fmt.Errorf("forest: %d weights for %d rows", len(w), len(y))
	}
	var sw, swy float64
	for _, r := range base {
		v := w[r]
		if !(v >= 0) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("forest: weight of row %d is %v, want finite >= 0", r, v)
		}
		sw += v
		swy += v * y[r]
	}
	if !(sw > 0) || math.IsInf(sw, 0) {
		return 0, fmt.Errorf("forest: rows fitted have total weight %v, want finite > 0", sw)
	}
	return swy / sw, nil
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
	case !(p.Subsample >= 0 && p.Subsample <= 1):
		return p, fmt.Errorf("forest: Subsample = %v, want [0, 1]", p.Subsample)
	case p.MaxBins < 0 || p.MaxBins > MaxBins:
		return p, fmt.Errorf("forest: MaxBins = %d, want 0..%d", p.MaxBins, MaxBins)
	}
	for _, w := range p.ClassWeight {
		if !(w >= 0) || math.IsInf(w, 0) {
			return p, fmt.Errorf("forest: ClassWeight = %v, want finite >= 0", p.ClassWeight)
		}
	}
	switch p.Criterion {
	case "":
		p.Criterion = Gini
	case Gini, Entropy, Variance:
	default:
		return p, fmt.Errorf("forest: Criterion %q, want gini, entropy or variance", p.Criterion)
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
	if p.Subsample == 0 {
		p.Subsample = 1
	}
	for i, w := range p.ClassWeight {
		if w == 0 {
			p.ClassWeight[i] = 1
		}
	}
	return p, nil
}

// job is what every tree of one Fit shares.
type job struct {
	m    *Matrix
	y    []float64
	base []int32 // rows to sample from
	p    Params
	task Task
	// fallback is the value of a root with zero weight (possible only
	// with Params.Weights): the weighted mean label of base.
	fallback float64
}

// grown is one finished tree and its out-of-bag predictions.
type grown struct {
	i       int
	tree    Tree
	oobRows []int32
	oobPred []float32
}

// stats are the sufficient statistics of a set of sample rows: distinct
// rows, weight, weighted sum of labels and of squared labels.
type stats struct {
	n          int
	w, wy, wyy float64
}

func (s *stats) add(o *stats) {
	s.n += o.n
	s.w += o.w
	s.wy += o.wy
	s.wyy += o.wyy
}

func (s stats) minus(o stats) stats {
	return stats{s.n - o.n, s.w - o.w, s.wy - o.wy, s.wyy - o.wyy}
}

// cost is the node's weight times its impurity under c.
func (s stats) cost(c Criterion) float64 {
	if s.w <= 0 {
		return 0
	}
	switch c {
	case Entropy:
		p := s.wy / s.w
		if p <= 0 || p >= 1 {
			return 0
		}
		return -s.w * (p*math.Log2(p) + (1-p)*math.Log2(1-p))
	case Variance:
		return max(0, s.wyy-s.wy*s.wy/s.w)
	default:
		return 2 * s.wy * (s.w - s.wy) / s.w
	}
}

// pure reports whether a node cannot be improved by any split.
func (s stats) pure(c Criterion) bool {
	if c == Variance {
		return s.cost(c) <= 1e-12*math.Abs(s.wyy)
	}
	return s.wy <= 0 || s.wy >= s.w
}

// split is a candidate split of a node.
type split struct {
	ok          bool
	feature     int
	bin         int // values in bins <= bin go left; -1: present left, missing right
	missingLeft bool
	gain        float64
	left, right stats
}

// grower grows trees, reusing its buffers from tree to tree.
type grower struct {
	*job
	rng   *rand.Rand
	nodes []Node
	cnt   []uint16  // cnt[r]: times row r is in the sample
	wt    []float64 // wt[r]: weight of row r in the sample
	rows  []int32   // the sample's distinct rows; nodes own ranges of it
	tmp   []int32
	feats []int
	hist  [MaxBins + 1]stats
	// The node's rows' weights, weighted labels and squared labels, in the
	// order of g.rows, gathered once per node for every feature's pass.
	nw, nwy, nwyy []float64
}

func newGrower(j *job) *grower {
	n := len(j.y)
	g := &grower{job: j, cnt: make([]uint16, n), wt: make([]float64, n), feats: make([]int, len(j.m.cols))}
	return g
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

// grow grows tree i.
func (g *grower) grow(i int) grown {
	g.rng = treeRNG(g.p.Seed, i)
	for f := range g.feats {
		g.feats[f] = f
	}
	base := g.base
	k := max(1, int(math.Round(g.p.Subsample*float64(len(base)))))
	if g.p.Bootstrap {
		for range k {
			r := base[g.rng.IntN(len(base))]
			if g.cnt[r] < math.MaxUint16 {
				g.cnt[r]++
			}
		}
	} else if k == len(base) {
		for _, r := range base {
			g.cnt[r] = 1
		}
	} else {
		// A partial Fisher-Yates shuffle of positions picks k distinct rows.
		pos := make([]int32, len(base))
		for j := range pos {
			pos[j] = int32(j)
		}
		for j := range k {
			s := j + g.rng.IntN(len(pos)-j)
			pos[j], pos[s] = pos[s], pos[j]
			g.cnt[base[pos[j]]] = 1
		}
	}
	g.rows = g.rows[:0]
	var root stats
	for _, r := range base {
		c := g.cnt[r]
		if c == 0 {
			continue
		}
		w := float64(c)
		if g.task == Classification {
			w *= g.p.ClassWeight[int(g.y[r])]
		}
		if g.p.Weights != nil {
			w *= g.p.Weights[r]
			if w == 0 {
				continue // a row of weight 0 is left out, as if not drawn
			}
		}
		g.wt[r] = w
		g.rows = append(g.rows, r)
		y := g.y[r]
		root.add(&stats{1, w, w * y, w * y * y})
	}
	if cap(g.tmp) < len(g.rows) {
		g.tmp = make([]int32, len(g.rows))
		g.nw = make([]float64, len(g.rows))
		g.nwy = make([]float64, len(g.rows))
		g.nwyy = make([]float64, len(g.rows))
	}
	g.nodes = nil
	splitBins := []int{}
	g.build(0, len(g.rows), 0, root, &splitBins)
	out := grown{i: i, tree: Tree{Nodes: g.nodes}}
	if g.p.OOB {
		for _, r := range base {
			if g.cnt[r] == 0 {
				out.oobRows = append(out.oobRows, r)
				out.oobPred = append(out.oobPred, float32(g.predictBinned(splitBins, r)))
			}
		}
	}
	for _, r := range base {
		g.cnt[r] = 0
		g.wt[r] = 0
	}
	return out
}

// predictBinned predicts row r of the matrix with the tree just grown, using
// the split bins recorded while growing it.
func (g *grower) predictBinned(splitBins []int, r int32) float64 {
	i := 0
	for {
		nd := &g.nodes[i]
		if nd.Feature < 0 {
			return nd.Value
		}
		b := int(g.m.cols[nd.Feature][r])
		var left bool
		switch {
		case b == MissingBin:
			left = nd.MissingLeft
		case splitBins[i] < 0:
			left = true
		default:
			left = b <= splitBins[i]
		}
		if left {
			i = nd.Left
		} else {
			i = nd.Right
		}
	}
}

// build appends the subtree over the sample rows g.rows[lo:hi], whose
// statistics are s, and returns the index of its root.
func (g *grower) build(lo, hi, depth int, s stats, splitBins *[]int) int {
	idx := len(g.nodes)
	v := g.fallback // only a root can weigh nothing: splits keep weight on both sides
	if s.w > 0 {
		v = s.wy / s.w
	}
	g.nodes = append(g.nodes, Node{Feature: -1, Value: v, N: s.n, W: s.w})
	*splitBins = append(*splitBins, 0)
	if s.w <= 0 || depth >= g.p.MaxDepth || s.n < 2*g.p.MinLeaf || s.pure(g.p.Criterion) {
		return idx
	}
	best := g.bestSplit(lo, hi, s)
	if !best.ok || best.gain < g.p.MinGain-gainTolerance {
		return idx
	}
	mid := lo + g.partition(lo, hi, best)
	left := g.build(lo, mid, depth+1, best.left, splitBins)
	right := g.build(mid, hi, depth+1, best.right, splitBins)
	nd := &g.nodes[idx]
	nd.Feature = best.feature
	if best.bin < 0 {
		nd.Threshold = math.MaxFloat64
	} else {
		nd.Threshold = g.m.bins.Threshold(best.feature, best.bin)
	}
	(*splitBins)[idx] = best.bin
	nd.MissingLeft = best.missingLeft
	nd.Left, nd.Right = left, right
	nd.Gain = max(0, best.gain)
	return idx
}

// partition reorders g.rows[lo:hi] stably into the rows going left and those
// going right, and returns the number going left.
func (g *grower) partition(lo, hi int, sp split) int {
	col := g.m.cols[sp.feature]
	rows := g.rows[lo:hi]
	i, nr := 0, 0
	for _, r := range rows {
		b := int(col[r])
		var left bool
		switch {
		case b == MissingBin:
			left = sp.missingLeft
		case sp.bin < 0:
			left = true
		default:
			left = b <= sp.bin
		}
		if left {
			rows[i] = r
			i++
		} else {
			g.tmp[nr] = r
			nr++
		}
	}
	copy(rows[i:], g.tmp[:nr])
	return i
}

// bestSplit searches features in random order until MaxFeatures features that
// are not constant at the node have been examined, and returns the split with
// the largest impurity decrease. Ties keep the first candidate found.
func (g *grower) bestSplit(lo, hi int, parent stats) split {
	d := len(g.feats)
	crit := g.p.Criterion
	parentCost := parent.cost(crit)
	minLeaf := g.p.MinLeaf
	best := split{gain: math.Inf(-1)}
	consider := func(f, bin int, missingLeft bool, l, r stats) {
		if l.n < minLeaf || r.n < minLeaf || l.w <= 0 || r.w <= 0 {
			return
		}
		gain := (parentCost - l.cost(crit) - r.cost(crit)) / parent.w
		if gain > best.gain {
			best = split{ok: true, feature: f, bin: bin, missingLeft: missingLeft, gain: gain, left: l, right: r}
		}
	}
	rows := g.rows[lo:hi]
	regression := crit == Variance
	nw, nwy, nwyy := g.nw[:len(rows)], g.nwy[:len(rows)], g.nwyy[:len(rows)]
	for j, r := range rows {
		w := g.wt[r]
		nw[j] = w
		nwy[j] = w * g.y[r]
		nwyy[j] = nwy[j] * g.y[r]
	}
	tried := 0
	for k := 0; k < d && tried < g.p.MaxFeatures; k++ {
		j := k + g.rng.IntN(d-k)
		g.feats[k], g.feats[j] = g.feats[j], g.feats[k]
		f := g.feats[k]
		col := g.m.cols[f]
		nb := len(g.m.bins.Cuts[f]) + 1
		h := &g.hist
		for b := range nb {
			h[b] = stats{}
		}
		h[MissingBin] = stats{}
		if regression {
			for j, r := range rows {
				hb := &h[col[r]]
				hb.n++
				hb.w += nw[j]
				hb.wy += nwy[j]
				hb.wyy += nwyy[j]
			}
		} else {
			for j, r := range rows {
				hb := &h[col[r]]
				hb.n++
				hb.w += nw[j]
				hb.wy += nwy[j]
			}
			for b := range nb {
				h[b].wyy = h[b].wy // y² = y for labels in {0, 1}
			}
			h[MissingBin].wyy = h[MissingBin].wy
		}
		miss := h[MissingBin]
		nonEmpty := 0
		for b := range nb {
			if h[b].n > 0 {
				nonEmpty++
			}
		}
		if nonEmpty == 0 || nonEmpty == 1 && miss.n == 0 {
			continue // all missing, or constant at this node
		}
		tried++
		present := parent.minus(miss)
		var left stats
		seen := 0
		for b := 0; b < nb && seen < nonEmpty-1; b++ {
			if h[b].n == 0 {
				continue
			}
			seen++
			left.add(&h[b])
			right := present.minus(left)
			if miss.n == 0 {
				// No missing values seen here: send them, at predict
				// time, to the larger child.
				consider(f, b, left.n >= right.n, left, right)
				continue
			}
			lm := left
			lm.add(&miss)
			consider(f, b, true, lm, right)
			rm := right
			rm.add(&miss)
			consider(f, b, false, left, rm)
		}
		if miss.n > 0 && nonEmpty > 0 {
			// All present values left, missing values right.
			consider(f, -1, false, present, miss)
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

// oobSums accumulate out-of-bag predictions per row.
type oobSums struct {
	sum []float64
	n   []int32
}

// estimate summarises the out-of-bag predictions of the rows that were out
// of the bag of at least one tree.
func (o *oobSums) estimate(y []float64, base []int32, task Task) *OOB {
	est := &OOB{}
	var scores []float64
	var labels []bool
	var sse, sy, syy float64
	for _, r := range base {
		if o.n[r] == 0 {
			continue
		}
		p := o.sum[r] / float64(o.n[r])
		est.N++
		if task == Classification {
			scores = append(scores, p)
			labels = append(labels, y[r] == 1)
			q := min(max(p, metrics.LogLossEps), 1-metrics.LogLossEps)
			if y[r] == 1 {
				est.LogLoss -= math.Log(q)
			} else {
				est.LogLoss -= math.Log1p(-q)
			}
		} else {
			sse += (y[r] - p) * (y[r] - p)
			sy += y[r]
			syy += y[r] * y[r]
		}
	}
	if est.N == 0 {
		return est
	}
	n := float64(est.N)
	if task == Classification {
		est.LogLoss /= n
		if a := metrics.AUC(scores, labels); !math.IsNaN(a) {
			est.AUC = a
		}
	} else {
		est.MSE = sse / n
		if ss := syy - sy*sy/n; ss > 0 {
			est.R2 = 1 - sse/ss
		}
	}
	return est
}

// Bins returns the bins m was binned with (shared, not copied: do not
// modify).
func (m *Matrix) Bins() *Bins { return m.bins }

// Col returns the bins of feature f, one per row (MissingBin for a missing
// value). The slice is m's own: callers must not modify it.
func (m *Matrix) Col(f int) []uint8 { return m.cols[f] }

// Append adds the rows of o after m's: the rows of several shards binned by
// the same bins become one matrix. It returns an error, leaving m
// unchanged, if o has other features or other bins.
func (m *Matrix) Append(o *Matrix) error {
	if !slices.Equal(m.features, o.features) {
		return fmt.Errorf("forest: Append: features %q, want %q", o.features, m.features)
	}
	if m.bins != o.bins {
		for f := range m.bins.Cuts {
			if !slices.Equal(m.bins.Cuts[f], o.bins.Cuts[f]) {
				return fmt.Errorf("forest: Append: feature %d binned differently", f)
			}
		}
	}
	if m.Rows()+o.Rows() > math.MaxInt32 {
		return fmt.Errorf("forest: Append: %d rows, at most %d supported", m.Rows()+o.Rows(), math.MaxInt32)
	}
	for f := range m.cols {
		m.cols[f] = append(m.cols[f], o.cols[f]...)
	}
	return nil
}
