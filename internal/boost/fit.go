package boost

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/promoflow/promoflow/internal/forest"
)

// Defaults applied by Fit for zero Params fields.
const (
	DefaultRounds       = 500
	DefaultLearningRate = 0.1
	DefaultMaxLeaves    = 31
	DefaultMinLeaf      = 20
	DefaultMinHessian   = 1e-3
	DefaultValidShare   = 0.1
	DefaultPatience     = 20
)

// Params control boosting. Zero fields take the defaults above.
type Params struct {
	Loss         Loss    // "" means LogLoss
	Rounds       int     // most trees grown
	LearningRate float64 // shrinkage of every leaf value
	MaxLeaves    int     // leaves per tree (leaf-wise growth)
	MaxDepth     int     // levels per tree; 0 means no limit but MaxLeaves
	MinLeaf      int     // fewest rows in a leaf
	MinHessian   float64 // smallest hessian sum (weighted rows for Squared) in a leaf
	L2           float64 // L2 penalty on leaf values (λ in -G/(H+λ)); 0 means none
	MinGain      float64 // smallest loss decrease for a split
	// ValidShare is the share of rows drawn (by Seed) into the validation
	// fold that stops training; negative means no fold: all Rounds grow.
	ValidShare float64
	// Patience is the rounds without a better validation loss after which
	// training stops.
	Patience int
	// Folds > 1 boosts Folds models instead of one, each validated (and
	// stopped) on its own fold of the rows (drawn by Seed; ValidShare is
	// not used) and trained on the others, and averages their scores: every
	// row is used for training and for stopping, and the average is less
	// noisy than one model stopped on a small fold. 0 or 1 means one model.
	Folds int
	Seed  uint64 // draws the validation fold
}

// resolve applies the defaults and checks p.
func (p Params) resolve() (Params, error) {
	if p.Loss == "" {
		p.Loss = LogLoss
	}
	if p.Loss != LogLoss && p.Loss != Squared {
		return p, fmt.Errorf("boost: unknown loss %q", p.Loss)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Rounds, DefaultRounds)
	def(&p.MaxLeaves, DefaultMaxLeaves)
	def(&p.MinLeaf, DefaultMinLeaf)
	def(&p.Patience, DefaultPatience)
	deff(&p.LearningRate, DefaultLearningRate)
	deff(&p.MinHessian, DefaultMinHessian)
	deff(&p.ValidShare, DefaultValidShare)
	switch {
	case p.Folds < 0 || p.Rounds < 0 || p.MaxLeaves < 2 || p.MinLeaf < 1 || p.MaxDepth < 0 || p.Patience < 1:
		return p, fmt.Errorf("boost: invalid params %+v", p)
	case !(p.LearningRate > 0) || !(p.MinHessian > 0) || !(p.L2 >= 0) || !(p.MinGain >= 0) || p.ValidShare >= 1:
		return p, fmt.Errorf("boost: invalid params %+v", p)
	}
	return p, nil
}

// Fit boosts trees on the rows of m with labels y (in {0, 1} for LogLoss)
// and weights w (nil means all 1; rows of weight 0 are left out). See the
// package doc for the algorithm.
func Fit(m *forest.Matrix, y, w []float64, p Params) (*Model, error) {
	p, err := p.resolve()
	if err != nil {
		return nil, err
	}
	n := m.Rows()
	if len(y) != n || w != nil && len(w) != n {
		return nil, fmt.Errorf("boost: %d rows, %d labels, %d weights", n, len(y), len(w))
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) || p.Loss == LogLoss && v != 0 && v != 1 {
			return nil, fmt.Errorf("boost: label %d is %v", i, v)
		}
		if w != nil && (math.IsNaN(w[i]) || math.IsInf(w[i], 0) || w[i] < 0) {
			return nil, fmt.Errorf("boost: weight %d is %v", i, w[i])
		}
	}
	if p.Folds <= 1 {
		b := newBooster(m, y, w, p, 0)
		if len(b.train) == 0 {
			return nil, errors.New("boost: no rows of positive weight")
		}
		return b.run(), nil
	}
	// The mean of the folds' scores: their bases averaged, their trees
	// concatenated with leaf values divided by the number of folds.
	var out *Model
	k := float64(p.Folds)
	for fold := range p.Folds {
		b := newBooster(m, y, w, p, fold)
		if len(b.train) == 0 {
			return nil, errors.New("boost: no rows of positive weight")
		}
		mdl := b.run()
		for _, t := range mdl.Trees {
			for i := range t.Nodes {
				t.Nodes[i].Value /= k
			}
		}
		if out == nil {
			out = mdl
			out.Base /= k
			out.Train /= k
			out.Valid /= k
			continue
		}
		out.Base += mdl.Base / k
		out.Trees = append(out.Trees, mdl.Trees...)
		out.Rounds += mdl.Rounds
		out.Train += mdl.Train / k
		out.Valid += mdl.Valid / k
	}
	return out, nil
}

// booster holds one Fit's state.
type booster struct {
	p     Params
	m     *forest.Matrix
	cols  [][]uint8
	nbins []int // bins per feature, without the missing bin
	y, w  []float64
	train []int32 // training rows, ascending
	valid []int32 // validation rows, ascending
	score []float64
	g, h  []float64 // gradients and hessians, by row

	// per tree
	rows  []int32 // the training rows, partitioned by leaf
	tmp   []int32
	ng    []float64 // a leaf's rows' gradients and hessians, in rows order
	nh    []float64
	nodes []forest.Node
	bins  []int // split bin per node (-1: present left, missing right)
	pool  [][]cell
}

// cell is one bin of a histogram.
type cell struct {
	g, h float64
	n    int
}

// histBins is the histogram size per feature: every bin and the missing bin.
const histBins = forest.MissingBin + 1

// newBooster prepares one model's boosting: with p.Folds > 1, validated on
// fold `fold`.
func newBooster(m *forest.Matrix, y, w []float64, p Params, fold int) *booster {
	d := len(m.Features())
	b := &booster{p: p, m: m, y: y, w: w, cols: make([][]uint8, d), nbins: make([]int, d)}
	for f := range d {
		b.cols[f] = m.Col(f)
		b.nbins[f] = len(m.Bins().Cuts[f]) + 1
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x6a09e667f3bcc908))
	for i := range y {
		u := rng.Float64() // drawn for every row, so the fold does not depend on weights
		if w != nil && w[i] == 0 {
			continue
		}
		if p.Folds > 1 && int(u*float64(p.Folds)) == fold || p.Folds <= 1 && u < p.ValidShare {
			b.valid = append(b.valid, int32(i))
		} else {
			b.train = append(b.train, int32(i))
		}
	}
	if len(b.valid) == 0 || len(b.train) == 0 {
		b.train = append(b.train, b.valid...)
		slices.Sort(b.train)
		b.valid = nil
	}
	n := len(y)
	b.score = make([]float64, n)
	b.g, b.h = make([]float64, n), make([]float64, n)
	b.rows = make([]int32, len(b.train))
	b.tmp = make([]int32, len(b.train))
	b.ng, b.nh = make([]float64, len(b.train)), make([]float64, len(b.train))
	return b
}

func (b *booster) weight(i int32) float64 {
	if b.w == nil {
		return 1
	}
	return b.w[i]
}

// base returns the initial score: the weighted log-odds or mean label of
// the training rows.
func (b *booster) base() float64 {
	var sw, swy float64
	for _, i := range b.train {
		sw += b.weight(i)
		swy += b.weight(i) * b.y[i]
	}
	mean := swy / sw
	if b.p.Loss == Squared {
		return mean
	}
	mean = min(max(mean, 1e-12), 1-1e-12)
	return math.Log(mean / (1 - mean))
}

// loss returns the mean weighted loss of rows at the current scores.
func (b *booster) loss(rows []int32) float64 {
	var sw, sl float64
	for _, i := range rows {
		w, s, y := b.weight(i), b.score[i], b.y[i]
		sw += w
		if b.p.Loss == Squared {
			sl += w * (s - y) * (s - y)
			continue
		}
		// log(1 + e^s) - y s, computed without overflow.
		sl += w * (max(s, 0) + math.Log1p(math.Exp(-math.Abs(s))) - y*s)
	}
	if sw == 0 {
		return 0
	}
	return sl / sw
}

// run boosts and returns the model at the best round.
func (b *booster) run() *Model {
	mdl := &Model{Kind: Kind, Version: Version, Loss: b.p.Loss, Features: b.m.Features(), Base: b.base()}
	for i := range b.score {
		b.score[i] = mdl.Base
	}
	best, bestRound := math.Inf(1), 0
	bestTrain := b.loss(b.train)
	if b.valid != nil {
		best = b.loss(b.valid)
	}
	for round := 1; round <= b.p.Rounds; round++ {
		b.gradients()
		t, ok := b.tree()
		if !ok {
			break // no split gains: later rounds would grow the same stump
		}
		mdl.Trees = append(mdl.Trees, t)
		mdl.Rounds = round
		if b.valid == nil {
			bestRound = round
			continue
		}
		b.walkValid(t)
		if v := b.loss(b.valid); v < best-1e-12*math.Abs(best) {
			best, bestRound, bestTrain = v, round, b.loss(b.train)
		} else if round-bestRound >= b.p.Patience {
			break
		}
	}
	mdl.Trees = mdl.Trees[:bestRound]
	if b.valid == nil {
		mdl.Train = b.loss(b.train)
	} else {
		mdl.Train, mdl.Valid = bestTrain, best
	}
	return mdl
}

// gradients sets g and h of the training rows at the current scores.
func (b *booster) gradients() {
	for _, i := range b.train {
		w := b.weight(i)
		if b.p.Loss == Squared {
			b.g[i], b.h[i] = w*(b.score[i]-b.y[i]), w
			continue
		}
		q := sigmoid(b.score[i])
		b.g[i], b.h[i] = w*(q-b.y[i]), w*q*(1-q)
	}
}

// candidate is a leaf waiting to be split.
type candidate struct {
	lo, hi, depth, node int
	hist                []cell
	g, h                float64
	split               split
}

// split is a leaf's best split.
type split struct {
	ok          bool
	feature     int
	bin         int // bins <= bin go left; -1: present left, missing right
	missingLeft bool
	gain        float64
	lg, lh      float64
	ln          int
}

// tree grows one tree leaf-wise on the current gradients, adds its leaf
// values to the training rows' scores and returns it; ok is false when the
// root could not be split.
func (b *booster) tree() (forest.Tree, bool) {
	copy(b.rows, b.train)
	b.nodes, b.bins = b.nodes[:0], b.bins[:0]
	var g, h float64
	for _, i := range b.train {
		g += b.g[i]
		h += b.h[i]
	}
	root := &candidate{lo: 0, hi: len(b.rows), g: g, h: h}
	root.node = b.addNode(root)
	root.hist = b.histogram(root.lo, root.hi)
	root.split = b.bestSplit(root)
	if !root.split.ok {
		b.release(root.hist)
		return forest.Tree{}, false
	}
	open := []*candidate{root}
	var done []*candidate
	leaves := 1
	for len(open) > 0 {
		// The open leaf whose split gains most; ties: the earliest node.
		k := 0
		for j, c := range open {
			if c.split.gain > open[k].split.gain || c.split.gain == open[k].split.gain && c.node < open[k].node {
				k = j
			}
		}
		c := open[k]
		open = slices.Delete(open, k, k+1)
		if leaves >= b.p.MaxLeaves {
			done = append(done, c)
			continue
		}
		l, r := b.divide(c)
		leaves++
		for _, ch := range []*candidate{l, r} {
			if b.p.MaxDepth > 0 && ch.depth >= b.p.MaxDepth || ch.hi-ch.lo < 2*b.p.MinLeaf {
				done = append(done, ch)
				continue
			}
			ch.split = b.bestSplit(ch)
			if ch.split.ok {
				open = append(open, ch)
			} else {
				done = append(done, ch)
			}
		}
	}
	for _, c := range done {
		b.release(c.hist)
		v := b.nodes[c.node].Value
		for _, i := range b.rows[c.lo:c.hi] {
			b.score[i] += v
		}
	}
	return forest.Tree{Nodes: slices.Clone(b.nodes)}, true
}

// addNode appends c as a leaf and returns its index.
func (b *booster) addNode(c *candidate) int {
	b.nodes = append(b.nodes, forest.Node{Feature: -1, Value: -c.g / (c.h + b.p.L2) * b.p.LearningRate, N: c.hi - c.lo, W: c.h})
	b.bins = append(b.bins, 0)
	return len(b.nodes) - 1
}

// divide splits leaf c by its best split into two new leaves, with their
// histograms: the smaller child's counted, the larger's the parent's minus
// it (in the parent's buffer).
func (b *booster) divide(c *candidate) (*candidate, *candidate) {
	sp := c.split
	mid := c.lo + b.partition(c.lo, c.hi, sp)
	l := &candidate{lo: c.lo, hi: mid, depth: c.depth + 1, g: sp.lg, h: sp.lh}
	r := &candidate{lo: mid, hi: c.hi, depth: c.depth + 1, g: c.g - sp.lg, h: c.h - sp.lh}
	l.node, r.node = b.addNode(l), b.addNode(r)
	nd := &b.nodes[c.node]
	nd.Feature, nd.Left, nd.Right, nd.MissingLeft, nd.Gain = sp.feature, l.node, r.node, sp.missingLeft, sp.gain
	if sp.bin < 0 {
		nd.Threshold = math.MaxFloat64
	} else {
		nd.Threshold = b.m.Bins().Threshold(sp.feature, sp.bin)
	}
	b.bins[c.node] = sp.bin
	small, large := l, r
	if r.hi-r.lo < l.hi-l.lo {
		small, large = r, l
	}
	small.hist = b.histogram(small.lo, small.hi)
	large.hist = c.hist
	for k := range large.hist {
		large.hist[k].g -= small.hist[k].g
		large.hist[k].h -= small.hist[k].h
		large.hist[k].n -= small.hist[k].n
	}
	return l, r
}

// partition reorders b.rows[lo:hi] stably into the rows going left and
// those going right, and returns the number going left.
func (b *booster) partition(lo, hi int, sp split) int {
	col := b.cols[sp.feature]
	rows := b.rows[lo:hi]
	i, nr := 0, 0
	for _, r := range rows {
		if goesLeft(col[r], sp.bin, sp.missingLeft) {
			rows[i] = r
			i++
		} else {
			b.tmp[nr] = r
			nr++
		}
	}
	copy(rows[i:], b.tmp[:nr])
	return i
}

// goesLeft reports whether a row in bin v goes left at a split at bin.
func goesLeft(v uint8, bin int, missingLeft bool) bool {
	switch {
	case v == forest.MissingBin:
		return missingLeft
	case bin < 0:
		return true
	default:
		return int(v) <= bin
	}
}

// walkValid adds tree t's values to the validation rows' scores, walking
// the binned rows (the split bins recorded in b.bins while t grew).
func (b *booster) walkValid(t forest.Tree) {
	for _, i := range b.valid {
		k := 0
		for t.Nodes[k].Feature >= 0 {
			nd := &t.Nodes[k]
			if goesLeft(b.cols[nd.Feature][i], b.bins[k], nd.MissingLeft) {
				k = nd.Left
			} else {
				k = nd.Right
			}
		}
		b.score[i] += t.Nodes[k].Value
	}
}

// alloc returns a zeroed histogram buffer for every feature.
func (b *booster) alloc() []cell {
	if n := len(b.pool); n > 0 {
		h := b.pool[n-1]
		b.pool = b.pool[:n-1]
		clear(h)
		return h
	}
	return make([]cell, len(b.cols)*histBins)
}

func (b *booster) release(h []cell) {
	if h != nil {
		b.pool = append(b.pool, h)
	}
}

// histogram counts the rows b.rows[lo:hi] into a histogram per feature,
// one feature per goroutine at a time, each over the rows in order.
func (b *booster) histogram(lo, hi int) []cell {
	hist := b.alloc()
	rows := b.rows[lo:hi]
	ng, nh := b.ng[:len(rows)], b.nh[:len(rows)]
	for j, r := range rows {
		ng[j], nh[j] = b.g[r], b.h[r]
	}
	d := len(b.cols)
	var next atomic.Int64
	work := func() {
		for {
			f := int(next.Add(1) - 1)
			if f >= d {
				return
			}
			col, hf := b.cols[f], hist[f*histBins:(f+1)*histBins]
			for j, r := range rows {
				c := &hf[col[r]]
				c.g += ng[j]
				c.h += nh[j]
				c.n++
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || len(rows) < 4096 {
		work()
		return hist
	}
	var wg sync.WaitGroup
	for range min(workers, d) {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	wg.Wait()
	return hist
}

// bestSplit returns c's split with the largest gain, features in order,
// bins ascending; ties keep the first.
func (b *booster) bestSplit(c *candidate) split {
	lambda, minLeaf, minH := b.p.L2, b.p.MinLeaf, b.p.MinHessian
	n := c.hi - c.lo
	parent := c.g * c.g / (c.h + lambda)
	best := split{gain: b.p.MinGain}
	consider := func(f, bin int, ml bool, lg, lh float64, ln int) {
		rg, rh, rn := c.g-lg, c.h-lh, n-ln
		if ln < minLeaf || rn < minLeaf || lh < minH || rh < minH {
			return
		}
		gain := 0.5 * (lg*lg/(lh+lambda) + rg*rg/(rh+lambda) - parent)
		if gain > best.gain {
			best = split{ok: true, feature: f, bin: bin, missingLeft: ml, gain: gain, lg: lg, lh: lh, ln: ln}
		}
	}
	for f := range b.cols {
		hf := c.hist[f*histBins : (f+1)*histBins]
		miss := hf[forest.MissingBin]
		nb := b.nbins[f]
		last := -1 // the last non-empty bin: no split above it
		for k := nb - 1; k >= 0; k-- {
			if hf[k].n > 0 {
				last = k
				break
			}
		}
		var lg, lh float64
		var ln int
		for k := 0; k < last; k++ {
			if hf[k].n == 0 {
				continue
			}
			lg, lh, ln = lg+hf[k].g, lh+hf[k].h, ln+hf[k].n
			if miss.n == 0 {
				// No missing values here: at predict time they go to
				// the larger side.
				consider(f, k, 2*ln >= n, lg, lh, ln)
				continue
			}
			consider(f, k, true, lg+miss.g, lh+miss.h, ln+miss.n)
			consider(f, k, false, lg, lh, ln)
		}
		if miss.n > 0 && last >= 0 {
			consider(f, -1, false, c.g-miss.g, c.h-miss.h, n-miss.n)
		}
	}
	return best
}
