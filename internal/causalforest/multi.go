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

// MultiNode is a node of a multi-arm tree: a split as Node's, or a leaf
// (Feature -1) with its estimation rows' statistics, each divided by their
// count (statsLen(K) values: 1, mean t (K), mean y, mean t t' (K*K), mean
// t y (K)); nil where the leaf has no estimation rows.
type MultiNode struct {
	Feature   int       `json:"f"`
	Threshold float64   `json:"thr,omitempty"`
	Left      int32     `json:"l,omitempty"`
	Right     int32     `json:"r,omitempty"`
	Stats     []float64 `json:"s,omitempty"`
}

// MultiTree is one multi-arm tree's nodes, the root first.
type MultiTree struct {
	Nodes []MultiNode `json:"nodes"`
}

// MultiForest is a fitted multi-arm causal forest (grf's
// multi_arm_causal_forest): one forest of every arm's rows whose splits
// maximise the heterogeneity of the K effects together, and whose effect
// at x is the forest-weighted least-squares regression of the outcome
// residuals on the K treatment residuals.
type MultiForest struct {
	Features []string    `json:"features"`
	Arms     int         `json:"arms"` // K, the arms beyond control
	Trees    []MultiTree `json:"trees"`
}

func statsLen(k int) int { return 2 + 2*k + k*k }

// FitMulti fits a multi-arm causal forest on rows of m. arm[i] is row i's
// arm, 0 for control and 1..k for the others; e[i] its k propensities
// (probability of each arm beyond control, cross-fitted or known), and
// ry[i] its outcome residual y - m(x), m cross-fitted. p.MinLeaf applies
// to each arm's splitting rows, control's included, in each child.
func FitMulti(m *forest.Matrix, arm []int, e [][]float64, ry []float64, k int, rows []int, p Params) (*MultiForest, error) {
	features := m.Features()
	d := len(features)
	switch {
	case len(rows) == 0:
		return nil, errors.New("causalforest: no rows")
	case k < 1:
		return nil, fmt.Errorf("causalforest: %d arms beyond control", k)
	case len(arm) != m.Rows() || len(e) != m.Rows() || len(ry) != m.Rows():
		return nil, fmt.Errorf("causalforest: %d arms, %d propensities and %d residuals for %d rows", len(arm), len(e), len(ry), m.Rows())
	}
	rt := make([]float64, m.Rows()*k)
	for _, i := range rows {
		if arm[i] < 0 || arm[i] > k || len(e[i]) != k {
			return nil, fmt.Errorf("causalforest: row %d has arm %d and %d propensities for %d arms", i, arm[i], len(e[i]), k)
		}
		if math.IsNaN(ry[i]) || math.IsInf(ry[i], 0) {
			return nil, fmt.Errorf("causalforest: row %d has residual %v", i, ry[i])
		}
		for a := range k {
			rt[i*k+a] = -e[i][a]
		}
		if arm[i] > 0 {
			rt[i*k+arm[i]-1]++
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
	g := &mgrower{cols: cols, cuts: m.Bins().Cuts, arm: arm, rt: rt, ry: ry, k: k, p: p}
	f := &MultiForest{Features: features, Arms: k, Trees: make([]MultiTree, p.Trees)}
	workers := min(runtime.GOMAXPROCS(0), p.Trees)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newMScratch(d, k)
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

// mgrower holds what every tree of a multi-arm fit reads.
type mgrower struct {
	cols [][]uint8
	cuts [][]float64
	arm  []int
	rt   []float64 // row i's k treatment residuals at rt[i*k:]
	ry   []float64
	k    int
	p    Params
}

// mscratch is one worker's reusable buffers.
type mscratch struct {
	sum   [][]float64 // per feature, bin*k + arm
	cnt   [][]int32   // per feature, bin*(k+1) + arm
	rho   []float64
	feats []int
}

// newMScratch returns buffers for d features and k arms beyond control.
func newMScratch(d, k int) *mscratch {
	s := &mscratch{feats: make([]int, d), sum: make([][]float64, d), cnt: make([][]int32, d)}
	for f := range d {
		s.feats[f] = f
		s.sum[f] = make([]float64, 256*k)
		s.cnt[f] = make([]int32, 256*(k+1))
	}
	return s
}

func (g *mgrower) tree(t int, rows []int, s *mscratch) MultiTree {
	rng := rand.New(rand.NewPCG(g.p.Seed, uint64(t)*0x9E3779B97F4A7C15+1))
	n := min(len(rows), max(2, int(g.p.SampleFraction*float64(len(rows)))))
	sub := make([]int, len(rows))
	copy(sub, rows)
	for i := range n {
		j := i + rng.IntN(len(sub)-i)
		sub[i], sub[j] = sub[j], sub[i]
	}
	sub = sub[:n]
	h := n / 2
	var tr MultiTree
	g.grow(&tr, sub[:h], sub[h:], 0, rng, s)
	return tr
}

func (g *mgrower) grow(tr *MultiTree, sp, es []int, depth int, rng *rand.Rand, s *mscratch) int32 {
	id := int32(len(tr.Nodes))
	tr.Nodes = append(tr.Nodes, MultiNode{Feature: -1})
	f, b, ok := g.split(sp, es, depth, rng, s)
	if !ok {
		tr.Nodes[id].Stats = g.moments(es)
		return id
	}
	col := g.cols[f]
	nl := partition(sp, col, b)
	el := partition(es, col, b)
	l := g.grow(tr, sp[:nl], es[:el], depth+1, rng, s)
	r := g.grow(tr, sp[nl:], es[el:], depth+1, rng, s)
	tr.Nodes[id] = MultiNode{Feature: f, Threshold: g.cuts[f][b], Left: l, Right: r}
	return id
}

// moments returns the statistics of rows (statsLen(k) values, as a
// leaf's), or nil without rows.
func (g *mgrower) moments(rows []int) []float64 {
	if len(rows) == 0 {
		return nil
	}
	k := g.k
	st := make([]float64, statsLen(k))
	for _, i := range rows {
		t, y := g.rt[i*k:i*k+k], g.ry[i]
		st[0]++
		st[1+k] += y
		for a, ta := range t {
			st[1+a] += ta
			st[2+k+k*k+a] += ta * y
			for b, tb := range t {
				st[2+k+a*k+b] += ta * tb
			}
		}
	}
	n := st[0]
	for j := range st {
		st[j] /= n
	}
	return st
}

// centred returns the covariance of the treatment residuals (k x k, row
// major, plus a small ridge) and their covariance with the outcome
// residuals from statistics st (means, as moments returns, or their sums
// over trees).
func centred(st []float64, k int) (cov, cty []float64) {
	n := st[0]
	tb := make([]float64, k)
	for a := range k {
		tb[a] = st[1+a] / n
	}
	yb := st[1+k] / n
	cov, cty = make([]float64, k*k), make([]float64, k)
	for a := range k {
		for b := range k {
			cov[a*k+b] = st[2+k+a*k+b]/n - tb[a]*tb[b]
		}
		cov[a*k+a] += 1e-9
		cty[a] = st[2+k+k*k+a]/n - tb[a]*yb
	}
	return cov, cty
}

// solveLinear solves A X = B for the k x k matrix A and k x m matrix B
// (row major) by Gauss-Jordan elimination with partial pivoting; ok false
// when A is singular. A and B are overwritten; X is returned in B.
func solveLinear(A, B []float64, k, m int) ([]float64, bool) {
	for c := range k {
		piv := c
		for r := c + 1; r < k; r++ {
			if math.Abs(A[r*k+c]) > math.Abs(A[piv*k+c]) {
				piv = r
			}
		}
		if !(math.Abs(A[piv*k+c]) > 1e-12) {
			return nil, false
		}
		if piv != c {
			for j := range k {
				A[c*k+j], A[piv*k+j] = A[piv*k+j], A[c*k+j]
			}
			for j := range m {
				B[c*m+j], B[piv*m+j] = B[piv*m+j], B[c*m+j]
			}
		}
		d := A[c*k+c]
		for j := range k {
			A[c*k+j] /= d
		}
		for j := range m {
			B[c*m+j] /= d
		}
		for r := range k {
			if r == c || A[r*k+c] == 0 {
				continue
			}
			f := A[r*k+c]
			for j := range k {
				A[r*k+j] -= f * A[c*k+j]
			}
			for j := range m {
				B[r*m+j] -= f * B[c*m+j]
			}
		}
	}
	return B, true
}

// solve returns the effects from statistics st: Cov(t)^-1 Cov(t, y).
func solve(st []float64, k int) ([]float64, bool) {
	if !(st[0] > 0) {
		return nil, false
	}
	cov, cty := centred(st, k)
	return solveLinear(cov, cty, k, 1)
}

// split finds the best split of a node of splitting rows sp on grf's
// multi-arm pseudo-outcomes rho_i = Cov(t)^-1 (t_i - t̄)((y_i - ȳ) -
// (t_i - t̄)'tau): the split maximising the sum over arms of the
// between-children sums of squares, with at least MinLeaf splitting rows
// of every arm and of control on either side, and estimation rows of
// every arm and control on either side.
func (g *mgrower) split(sp, es []int, depth int, rng *rand.Rand, s *mscratch) (int, uint8, bool) {
	k, ml := g.k, g.p.MinLeaf
	if depth >= g.p.MaxDepth || len(sp) < 2*(k+1)*ml {
		return 0, 0, false
	}
	counts := make([]int32, k+1)
	for _, i := range sp {
		counts[g.arm[i]]++
	}
	for _, c := range counts {
		if int(c) < 2*ml {
			return 0, 0, false
		}
	}
	st := g.moments(sp)
	tau, ok := solve(st, k)
	if !ok {
		return 0, 0, false
	}
	// Cov(t)^-1, to apply to each row's centred t.
	cov, _ := centred(st, k)
	id := make([]float64, k*k)
	for a := range k {
		id[a*k+a] = 1
	}
	inv, ok := solveLinear(cov, id, k, k)
	if !ok {
		return 0, 0, false
	}
	n := float64(len(sp))
	tb := st[1 : 1+k]
	yb := st[1+k]
	if cap(s.rho) < len(sp)*k {
		s.rho = make([]float64, len(sp)*k)
	}
	rho := s.rho[:len(sp)*k]
	total := make([]float64, k)
	dt := make([]float64, k)
	for j, i := range sp {
		t := g.rt[i*k : i*k+k]
		r := g.ry[i] - yb
		for a := range k {
			dt[a] = t[a] - tb[a]
			r -= dt[a] * tau[a]
		}
		for a := range k {
			var v float64
			for b := range k {
				v += inv[a*k+b] * dt[b]
			}
			rho[j*k+a] = v * r
			total[a] += rho[j*k+a]
		}
	}
	var parent float64
	for _, v := range total {
		parent += v * v / n
	}
	feats := s.feats
	for i := range g.p.MaxFeatures {
		j := i + rng.IntN(len(feats)-i)
		feats[i], feats[j] = feats[j], feats[i]
	}
	best, bestF, bestB := parent+1e-12*math.Abs(parent), -1, uint8(0)
	sl := make([]float64, k)
	cl := make([]int32, k+1)
	for _, f := range feats[:g.p.MaxFeatures] {
		col := g.cols[f]
		sum, cnt := s.sum[f], s.cnt[f]
		clear(sum)
		clear(cnt)
		maxBin := 0
		for j, i := range sp {
			b := int(col[i])
			for a := range k {
				sum[b*k+a] += rho[j*k+a]
			}
			cnt[b*(k+1)+g.arm[i]]++
			if b != forest.MissingBin && b > maxBin {
				maxBin = b
			}
		}
		clear(sl)
		clear(cl)
		var nl int32
	bins:
		for b := 0; b < maxBin && b < len(g.cuts[f]); b++ {
			var nb int32
			for a := range k + 1 {
				cl[a] += cnt[b*(k+1)+a]
				nb += cnt[b*(k+1)+a]
			}
			for a := range k {
				sl[a] += sum[b*k+a]
			}
			nl += nb
			if nb == 0 {
				continue
			}
			for a := range k + 1 {
				if int(cl[a]) < ml || int(counts[a]-cl[a]) < ml {
					continue bins
				}
			}
			nr := float64(int32(len(sp)) - nl)
			var gain float64
			for a := range k {
				sr := total[a] - sl[a]
				gain += sl[a]*sl[a]/float64(nl) + sr*sr/nr
			}
			if gain > best {
				best, bestF, bestB = gain, f, uint8(b)
			}
		}
	}
	if bestF < 0 {
		return 0, 0, false
	}
	// Honesty: both children need estimation rows of every arm.
	seen := make([]bool, 2*(k+1))
	col := g.cols[bestF]
	for _, i := range es {
		side := 0
		if col[i] > bestB {
			side = k + 1
		}
		seen[side+g.arm[i]] = true
	}
	for _, v := range seen {
		if !v {
			return 0, 0, false
		}
	}
	return bestF, bestB, true
}

// Predict returns the k effects at x (a row of the Matrix's columns), all
// 0 where the leaves' statistics are singular.
func (f *MultiForest) Predict(x []float64) []float64 {
	k := f.Arms
	agg := make([]float64, statsLen(k))
	for t := range f.Trees {
		tr := &f.Trees[t]
		nd := &tr.Nodes[0]
		for nd.Feature >= 0 {
			if x[nd.Feature] <= nd.Threshold {
				nd = &tr.Nodes[nd.Left]
			} else {
				nd = &tr.Nodes[nd.Right]
			}
		}
		for j, v := range nd.Stats {
			agg[j] += v
		}
	}
	tau, ok := solve(agg, k)
	if !ok {
		return make([]float64, k)
	}
	return tau
}

// Validate reports whether f is well formed for rows of d features.
func (f *MultiForest) Validate(d int) error {
	if len(f.Features) != d || f.Arms < 1 {
		return fmt.Errorf("causalforest: %d features and %d arms, want %d features", len(f.Features), f.Arms, d)
	}
	for t, tr := range f.Trees {
		if len(tr.Nodes) == 0 {
			return fmt.Errorf("causalforest: tree %d has no nodes", t)
		}
		for i, nd := range tr.Nodes {
			if nd.Feature < 0 {
				if nd.Stats != nil && len(nd.Stats) != statsLen(f.Arms) {
					return fmt.Errorf("causalforest: tree %d leaf %d has %d statistics", t, i, len(nd.Stats))
				}
				continue
			}
			if nd.Feature >= d || int(nd.Left) <= i || int(nd.Right) <= i || int(nd.Left) >= len(tr.Nodes) || int(nd.Right) >= len(tr.Nodes) {
				return fmt.Errorf("causalforest: tree %d node %d is malformed", t, i)
			}
		}
	}
	return nil
}
