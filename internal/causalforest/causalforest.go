// Package causalforest fits causal forests in the style of grf (Athey,
// Tibshirani and Wager, "Generalized random forests", 2019) for one
// treatment against control: trees split to maximise the heterogeneity of
// the effect, on gradient pseudo-outcomes of the R-loss of the outcome
// and treatment residuals (centred by cross-fitted nuisances the caller
// provides), with honest estimation (half of each tree's subsample chooses
// the splits, the other half the leaves' statistics) and subsampling
// without replacement. The effect at x is the forest-weighted residual on
// residual regression slope, as in grf's predictions.
//
// Trees grow on the bins of a forest.Matrix, so one binning serves the
// outcome models and the causal forests of an analysis.
package causalforest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/promoflow/promoflow/internal/forest"
)

// Params control fitting. Zero fields take the defaults documented.
type Params struct {
	Trees int // 0 means 200
	// SampleFraction is the share of the rows each tree draws without
	// replacement; 0 means 0.5 (grf's default).
	SampleFraction float64
	// MinLeaf is the minimum number of treated and of control rows of the
	// splitting half in each child of a split; 0 means 5.
	MinLeaf  int
	MaxDepth int // 0 means 20
	// MaxFeatures is how many features each split considers; 0 means
	// min(ceil(sqrt(d)) + 20, d), grf's default.
	MaxFeatures int
	Seed        uint64
}

// withDefaults fills in zero fields for d features.
func (p Params) withDefaults(d int) Params {
	if p.Trees == 0 {
		p.Trees = 200
	}
	if p.SampleFraction == 0 {
		p.SampleFraction = 0.5
	}
	if p.MinLeaf == 0 {
		p.MinLeaf = 5
	}
	if p.MaxDepth == 0 {
		p.MaxDepth = 20
	}
	if p.MaxFeatures <= 0 || p.MaxFeatures > d {
		p.MaxFeatures = min(int(math.Ceil(math.Sqrt(float64(d))))+20, d)
	}
	return p
}

// Node is a tree node: a split (Feature >= 0; values at or below
// Threshold, not missing, go Left, the others Right) or a leaf (Feature
// -1) with its estimation rows' statistics, each divided by their count:
// 1, mean t, mean y, mean t*t, mean t*y of the residuals.
type Node struct {
	Feature   int         `json:"f"`
	Threshold float64     `json:"thr,omitempty"`
	Left      int32       `json:"l,omitempty"`
	Right     int32       `json:"r,omitempty"`
	Stats     *[5]float64 `json:"s,omitempty"`
}

// Tree is one tree's nodes, the root first.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Forest is a fitted causal forest.
type Forest struct {
	Features []string `json:"features"`
	Trees    []Tree   `json:"trees"`
}

// Fit fits a causal forest on rows of m: rt[i] is row i's treatment
// residual, its indicator of treatment minus the propensity e(x) (positive
// for treated rows, negative for control ones), ry[i] its outcome residual
// y - m(x), with e and m cross-fitted so that the row's own outcome did
// not shape them.
func Fit(m *forest.Matrix, rt, ry []float64, rows []int, p Params) (*Forest, error) {
	features := m.Features()
	d := len(features)
	switch {
	case len(rows) == 0:
		return nil, errors.New("causalforest: no rows")
	case len(rt) != m.Rows() || len(ry) != m.Rows():
		return nil, fmt.Errorf("causalforest: %d and %d residuals for %d rows", len(rt), len(ry), m.Rows())
	}
	for _, i := range rows {
		if math.IsNaN(rt[i]) || math.IsNaN(ry[i]) || math.IsInf(rt[i], 0) || math.IsInf(ry[i], 0) {
			return nil, fmt.Errorf("causalforest: row %d has residuals %v, %v", i, rt[i], ry[i])
		}
	}
	p = p.withDefaults(d)
	if !(p.SampleFraction > 0 && p.SampleFraction <= 1) {
		return nil, fmt.Errorf("causalforest: sample fraction %v, want (0, 1]", p.SampleFraction)
	}
	cols := make([][]uint8, d)
	for f := range cols {
		cols[f] = m.Col(f)
	}
	g := grower{cols: cols, cuts: m.Bins().Cuts, rt: rt, ry: ry, p: p}
	f := &Forest{Features: features, Trees: make([]Tree, p.Trees)}
	workers := min(runtime.GOMAXPROCS(0), p.Trees)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newScratch(d)
			for t := range next {
				f.Trees[t] = g.tree(t, rows, s)
			}
		}()
	}
	for t := range p.Trees {
		next <- t
	}
	close(next)
	wg.Wait()
	return f, nil
}

// grower holds what every tree of a fit reads.
type grower struct {
	cols   [][]uint8
	cuts   [][]float64
	rt, ry []float64
	p      Params
}

// scratch is one worker's reusable buffers.
type scratch struct {
	sum   [][256]float64
	n, nt [][256]int32
	rho   []float64
	feats []int
}

// newScratch returns buffers for d features.
func newScratch(d int) *scratch {
	s := &scratch{sum: make([][256]float64, d), n: make([][256]int32, d), nt: make([][256]int32, d), feats: make([]int, d)}
	for f := range s.feats {
		s.feats[f] = f
	}
	return s
}

// tree grows tree t: a subsample of rows without replacement, its first
// half to split, its second half to estimate.
func (g *grower) tree(t int, rows []int, s *scratch) Tree {
	rng := rand.New(rand.NewPCG(g.p.Seed, uint64(t)*0x9E3779B97F4A7C15+1))
	k := max(2, int(g.p.SampleFraction*float64(len(rows))))
	k = min(k, len(rows))
	sub := make([]int, len(rows))
	copy(sub, rows)
	for i := range k {
		j := i + rng.IntN(len(sub)-i)
		sub[i], sub[j] = sub[j], sub[i]
	}
	sub = sub[:k]
	h := k / 2
	var tr Tree
	g.grow(&tr, sub[:h], sub[h:], 0, rng, s)
	return tr
}

// grow appends the subtree of the splitting rows sp and estimation rows
// es to tr and returns its root's index.
func (g *grower) grow(tr *Tree, sp, es []int, depth int, rng *rand.Rand, s *scratch) int32 {
	id := int32(len(tr.Nodes))
	tr.Nodes = append(tr.Nodes, Node{Feature: -1})
	f, b, ok := g.split(sp, es, depth, rng, s)
	if !ok {
		tr.Nodes[id].Stats = g.stats(es)
		return id
	}
	col := g.cols[f]
	nl := partition(sp, col, b)
	el := partition(es, col, b)
	l := g.grow(tr, sp[:nl], es[:el], depth+1, rng, s)
	r := g.grow(tr, sp[nl:], es[el:], depth+1, rng, s)
	tr.Nodes[id] = Node{Feature: f, Threshold: g.cuts[f][b], Left: l, Right: r}
	return id
}

// partition moves the rows whose bin of col is at most b first and
// returns their count.
func partition(rows []int, col []uint8, b uint8) int {
	j := 0
	for i, r := range rows {
		if col[r] <= b {
			rows[i], rows[j] = rows[j], rows[i]
			j++
		}
	}
	return j
}

// stats returns a leaf's statistics of the estimation rows es (nil
// without rows: the leaf then has no weight).
func (g *grower) stats(es []int) *[5]float64 {
	if len(es) == 0 {
		return nil
	}
	var st [5]float64
	for _, i := range es {
		t, y := g.rt[i], g.ry[i]
		st[1] += t
		st[2] += y
		st[3] += t * t
		st[4] += t * y
	}
	n := float64(len(es))
	st[0] = n
	for j := range st {
		st[j] /= n
	}
	return &st
}

// split finds the best split of the node of splitting rows sp: the one
// that maximises the between-children sum of squares of grf's
// pseudo-outcomes rho_i = (t_i - t̄)((y_i - ȳ) - τ(t_i - t̄)) / var(t),
// where τ is the node's residual-on-residual slope, with at least MinLeaf
// treated and control splitting rows, and at least one of each among the
// estimation rows es, on either side.
func (g *grower) split(sp, es []int, depth int, rng *rand.Rand, s *scratch) (int, uint8, bool) {
	ml := g.p.MinLeaf
	if depth >= g.p.MaxDepth || len(sp) < 4*ml {
		return 0, 0, false
	}
	var st, sy, stt, sty float64
	var treated int
	for _, i := range sp {
		t, y := g.rt[i], g.ry[i]
		st += t
		sy += y
		stt += t * t
		sty += t * y
		if t > 0 {
			treated++
		}
	}
	if treated < 2*ml || len(sp)-treated < 2*ml {
		return 0, 0, false
	}
	n := float64(len(sp))
	tb, yb := st/n, sy/n
	vt := stt/n - tb*tb
	if !(vt > 1e-12) {
		return 0, 0, false
	}
	tau := (sty/n - tb*yb) / vt
	if cap(s.rho) < len(sp) {
		s.rho = make([]float64, len(sp))
	}
	rho := s.rho[:len(sp)]
	var total float64
	for j, i := range sp {
		dt := g.rt[i] - tb
		rho[j] = dt * ((g.ry[i] - yb) - tau*dt) / vt
		total += rho[j]
	}
	// Features in random order; the first MaxFeatures are candidates.
	feats := s.feats
	for i := range g.p.MaxFeatures {
		j := i + rng.IntN(len(feats)-i)
		feats[i], feats[j] = feats[j], feats[i]
	}
	best, bestF, bestB := total*total/n+1e-12*math.Abs(total*total/n), -1, uint8(0)
	for _, f := range feats[:g.p.MaxFeatures] {
		col := g.cols[f]
		sum, cnt, cntT := &s.sum[f], &s.n[f], &s.nt[f]
		*sum, *cnt, *cntT = [256]float64{}, [256]int32{}, [256]int32{}
		maxBin := 0
		for j, i := range sp {
			b := col[i]
			sum[b] += rho[j]
			cnt[b]++
			if g.rt[i] > 0 {
				cntT[b]++
			}
			if b != forest.MissingBin && int(b) > maxBin {
				maxBin = int(b)
			}
		}
		var sl float64
		var nl, tl int32
		for b := 0; b < maxBin && b < len(g.cuts[f]); b++ {
			sl += sum[b]
			nl += cnt[b]
			tl += cntT[b]
			if cnt[b] == 0 {
				continue
			}
			nr, tr := int32(len(sp))-nl, int32(treated)-tl
			if int(tl) < ml || int(nl-tl) < ml || int(tr) < ml || int(nr-tr) < ml {
				continue
			}
			sr := total - sl
			gain := sl*sl/float64(nl) + sr*sr/float64(nr)
			if gain > best {
				best, bestF, bestB = gain, f, uint8(b)
			}
		}
	}
	if bestF < 0 {
		return 0, 0, false
	}
	// Honesty: both children need estimation rows of both groups.
	var lt, lc, rt, rc bool
	col := g.cols[bestF]
	for _, i := range es {
		left := col[i] <= bestB
		treatedRow := g.rt[i] > 0
		switch {
		case left && treatedRow:
			lt = true
		case left:
			lc = true
		case treatedRow:
			rt = true
		default:
			rc = true
		}
	}
	if !(lt && lc && rt && rc) {
		return 0, 0, false
	}
	return bestF, bestB, true
}

// leaf returns the leaf of tree tr that x falls in.
func (tr *Tree) leaf(x []float64) *Node {
	nd := &tr.Nodes[0]
	for nd.Feature >= 0 {
		v := x[nd.Feature]
		if v <= nd.Threshold { // false for NaN: missing goes right
			nd = &tr.Nodes[nd.Left]
		} else {
			nd = &tr.Nodes[nd.Right]
		}
	}
	return nd
}

// Predict returns the effect at x (a row of the Matrix's columns): the
// slope of the outcome residuals on the treatment residuals, weighted by
// how often each estimation row shares x's leaf, over the trees; 0 where
// no leaf has both groups.
func (f *Forest) Predict(x []float64) float64 {
	var a [5]float64
	for t := range f.Trees {
		st := f.Trees[t].leaf(x).Stats
		if st == nil {
			continue
		}
		for j, v := range st {
			a[j] += v
		}
	}
	if a[0] == 0 {
		return 0
	}
	tb, yb := a[1]/a[0], a[2]/a[0]
	vt := a[3]/a[0] - tb*tb
	if !(vt > 1e-12) {
		return 0
	}
	return (a[4]/a[0] - tb*yb) / vt
}

// PredictBatch writes Predict of each of xs into out.
func (f *Forest) PredictBatch(xs [][]float64, out []float64) {
	for j, x := range xs {
		out[j] = f.Predict(x)
	}
}

// Validate reports whether f's trees are well formed for rows of d
// features: children inside the tree and after their parent, features in
// range, leaves with statistics or none.
func (f *Forest) Validate(d int) error {
	if len(f.Features) != d {
		return fmt.Errorf("causalforest: %d features, want %d", len(f.Features), d)
	}
	for t, tr := range f.Trees {
		if len(tr.Nodes) == 0 {
			return fmt.Errorf("causalforest: tree %d has no nodes", t)
		}
		for i, nd := range tr.Nodes {
			if nd.Feature < 0 {
				continue
			}
			if nd.Feature >= d || int(nd.Left) <= i || int(nd.Right) <= i || int(nd.Left) >= len(tr.Nodes) || int(nd.Right) >= len(tr.Nodes) {
				return fmt.Errorf("causalforest: tree %d node %d is malformed", t, i)
			}
		}
	}
	return nil
}
