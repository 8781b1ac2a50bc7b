// Package additive fits sparse additive models of a treatment effect on
// Robinson's residuals (the R-loss of Nie and Wager):
//
//	minimise  sum_i (ry_i - rt_i tau(x_i))^2,  tau(x) = b + sum_j f_j(x_j)
//
// where ry is the outcome less its expectation m(x), rt the treatment
// indicator less its propensity e(x), and each f_j is a cubic B-spline of
// feature j's empirical quantile (with a missing-value term) or, for a
// one-hot group of columns ("col=level"), one coefficient per level.
//
// Which features enter is chosen by a group lasso (one group per feature)
// along a path of penalties, and the selected features are refit by ridge
// (a relaxed group lasso). The R-loss cross-validated over the rows' folds
// is nearly flat along the path (effects are small against the outcomes'
// noise), so rather than pick one penalty on noise, the fit averages the
// refits of the penalties, from the best down to the largest, whose loss
// is within one standard error of the best's; and it averages that over
// several spline resolutions (knots), whose choice the loss cannot make
// either.
// Effects that depend smoothly on a few of many features are where it
// wins over trees, which spend their splits on every feature the noise
// favours.
//
// Fitting needs only the sums of z z' and z ry over each fold's rows (z =
// rt times the basis row), so a fit costs one pass over the rows plus
// small dense solves, and is deterministic.
package additive

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Params controls a fit. Zero fields take defaults.
type Params struct {
	// Knots lists the spline resolutions (knots on [0, 1], at least 2),
	// one fit each, averaged; nil means DefaultKnots.
	Knots []int
	Ridge float64 // ridge penalty of the refit, per row; 0 means 0.01
	// Path lists the group-lasso penalties tried, as fractions of the
	// smallest penalty that selects no feature, from largest to smallest;
	// nil means DefaultPath.
	Path []float64
}

// DefaultPath is the default Params.Path.
var DefaultPath = []float64{0.5, 0.35, 0.25, 0.18, 0.12, 0.08, 0.05}

// DefaultKnots is the default Params.Knots. On TestPolicyVsOracle's
// histories their average did as well as the best of them alone (7 or 8
// knots) and up to 0.005 of the oracle's value better than the others
// (TestGapHistories), and no held-out loss could have told which one is
// best (docs/EVALUATION.md, "Averaging the additive learner").
var DefaultKnots = []int{5, 6, 7, 8}

func (p Params) withDefaults() Params {
	if p.Knots == nil {
		p.Knots = DefaultKnots
	}
	if p.Ridge == 0 {
		p.Ridge = 0.01
	}
	if p.Path == nil {
		p.Path = DefaultPath
	}
	return p
}

// Model is a fitted additive effect: Intercept plus its Terms, one per
// selected feature and spline resolution (a one-hot group has one).
type Model struct {
	Features  []string `json:"features"` // the columns of the rows it predicts
	Intercept float64  `json:"intercept"`
	Terms     []Term   `json:"terms"`
	// Lambda is the mean of the averaged penalties, as fractions of the
	// smallest penalty that selects no feature (Params.Path); 0 when no
	// penalty selects any.
	Lambda float64 `json:"lambda"`
}

// Selected returns the names of the features md's terms read, once each,
// in the order of the terms.
func (md *Model) Selected() []string {
	var out []string
	for _, t := range md.Terms {
		if !slices.Contains(out, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// add adds the terms and intercept of o, a model of the same features,
// scaled by w; a one-hot group's coefficients add to its term if md has
// one.
func (md *Model) add(o *Model, w float64) {
	md.Intercept += w * o.Intercept
	md.Lambda += w * o.Lambda
	for _, t := range o.Terms {
		coef := make([]float64, len(t.Coef))
		for k, c := range t.Coef {
			coef[k] = w * c
		}
		if t.Columns != nil {
			if j := slices.IndexFunc(md.Terms, func(u Term) bool { return u.Columns != nil && u.Name == t.Name }); j >= 0 {
				for k, c := range coef {
					md.Terms[j].Coef[k] += c
				}
				continue
			}
		}
		t.Coef, t.Missing = coef, w*t.Missing
		md.Terms = append(md.Terms, t)
	}
}

// Term is one feature's part of the effect: for a spline term (Column
// set), sum_k Coef[k] B_k(u(x)) with u the empirical CDF through Knots (x
// values) and Levels (their CDF), or Missing where x is NaN; for a one-hot
// group (Columns set), Coef[k] times column Columns[k].
type Term struct {
	Name    string    `json:"name"`
	Column  int       `json:"column,omitempty"`
	Knots   []float64 `json:"knots,omitempty"`
	Levels  []float64 `json:"levels,omitempty"`
	Splines int       `json:"splines,omitempty"` // knots of the B-splines on [0, 1]
	Missing float64   `json:"missing,omitempty"`
	Columns []int     `json:"columns,omitempty"`
	Coef    []float64 `json:"coef"`
}

// Fit fits the additive effects of k treatments jointly on rows of x
// (columns named features): row i has treatment residuals rt[i] (one per
// treatment: its indicator less its propensity) and outcome residual
// ry[i], and the R-loss is  sum_i (ry_i - sum_a rt[i][a] tau_a(x_i))^2.
// Fitting all treatments in one loss lets every row inform every effect
// (a row of treatment b is a control of treatment a, net of tau_b), which
// halves the variance of effects fitted per treatment against control
// alone. The folds of rows are the cross-validation folds of the penalty.
// Columns named "name=level" form one group per name.
func Fit(x [][]float64, features []string, rows []int, fold []int, rt [][]float64, ry []float64, p Params) ([]*Model, error) {
	p = p.withDefaults()
	if len(rows) == 0 {
		return nil, errors.New("additive: no rows")
	}
	out := make([]*Model, len(rt[rows[0]]))
	for a := range out {
		out[a] = &Model{Features: slices.Clone(features)}
	}
	for _, knots := range p.Knots {
		if knots < 2 {
			return nil, fmt.Errorf("additive: %d spline knots, want at least 2", knots)
		}
	}
	// The resolutions are independent fits: one goroutine each, added in
	// order, so the result does not depend on which finishes first.
	fits := make([][]*Model, len(p.Knots))
	errs := make([]error, len(p.Knots))
	var wg sync.WaitGroup
	for j, knots := range p.Knots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fits[j], errs[j] = fitKnots(x, features, rows, fold, rt, ry, knots, p)
		}()
	}
	wg.Wait()
	for j, knots := range p.Knots {
		if errs[j] != nil {
			return nil, fmt.Errorf("additive: %d knots: %w", knots, errs[j])
		}
		for a, md := range fits[j] {
			out[a].add(md, 1/float64(len(p.Knots)))
		}
	}
	return out, nil
}

// fitKnots is Fit at one spline resolution.
func fitKnots(x [][]float64, features []string, rows []int, fold []int, rt [][]float64, ry []float64, knots int, p Params) ([]*Model, error) {
	k := len(rt[rows[0]])
	bs := newBasis(x, features, rows, knots)
	block := 1 + bs.width
	dim := k * block
	var free []int
	var groups []group
	ranges := bs.groupRanges()
	for a := range k {
		free = append(free, a*block)
		for _, g := range ranges {
			groups = append(groups, group{lo: a*block + g.lo, hi: a*block + g.hi})
		}
	}
	folds := map[int]*stats{}
	var order []int
	// Rows go to the sums in chunks (a rank-k update is much faster than
	// one per row).
	const chunk = 256
	pending := map[int][]int{}
	b := make([]float64, bs.width)
	flush := func(f int) {
		rs := pending[f]
		if len(rs) == 0 {
			return
		}
		z := mat.NewDense(len(rs), dim, nil)
		y := make([]float64, len(rs))
		for r, i := range rs {
			bs.row(x[i], b)
			for a, w := range rt[i] {
				z.Set(r, a*block, w)
				for c, v := range b {
					z.Set(r, a*block+1+c, w*v)
				}
			}
			y[r] = ry[i]
		}
		folds[f].addRows(z, y)
		pending[f] = rs[:0]
	}
	for _, i := range rows {
		if len(rt[i]) != k {
			return nil, fmt.Errorf("row %d has %d treatment residuals, want %d", i, len(rt[i]), k)
		}
		f := fold[i]
		if folds[f] == nil {
			folds[f] = newStats(dim)
			order = append(order, f)
		}
		pending[f] = append(pending[f], i)
		if len(pending[f]) == chunk {
			flush(f)
		}
	}
	slices.Sort(order)
	for _, f := range order {
		flush(f)
	}
	all := newStats(dim)
	for _, f := range order {
		all.plus(folds[f])
	}
	lmax := lambdaMax(all, free, groups)
	models := func(beta []float64, sel []bool, lambda float64) []*Model {
		out := make([]*Model, k)
		ng := len(groups) / k
		for a := range k {
			md := &Model{Features: slices.Clone(features), Lambda: lambda}
			bs.model(md, beta[a*block:(a+1)*block], sel[a*ng:(a+1)*ng])
			out[a] = md
		}
		return out
	}
	if lmax == 0 || len(order) < 2 {
		sel := make([]bool, len(groups))
		return models(refit(all, free, groups, sel, p.Ridge), sel, 0), nil
	}
	// Cross-validated R-loss along the path, per held-out fold.
	loss := make([][]float64, len(p.Path))
	for l := range loss {
		loss[l] = make([]float64, len(order))
	}
	for q, f := range order {
		train := newStats(dim)
		for _, g := range order {
			if g != f {
				train.plus(folds[g])
			}
		}
		ls := newLasso(train, free, groups)
		beta := make([]float64, dim)
		for l, frac := range p.Path {
			ls.solve(frac*lmax, beta)
			refitted := refit(train, free, groups, selected(beta, groups), p.Ridge)
			loss[l][q] = folds[f].loss(refitted)
		}
	}
	set := withinOneSE(loss)
	ls := newLasso(all, free, groups)
	beta := make([]float64, dim)
	avg := make([]float64, dim)
	union := make([]bool, len(groups))
	var lambda float64
	w := 1 / float64(len(set))
	for l := 0; l <= set[len(set)-1]; l++ { // warm starts down the path
		ls.solve(p.Path[l]*lmax, beta)
		if !slices.Contains(set, l) {
			continue
		}
		sel := selected(beta, groups)
		for c, v := range refit(all, free, groups, sel, p.Ridge) {
			avg[c] += w * v
		}
		for g, s := range sel {
			union[g] = union[g] || s
		}
		lambda += w * p.Path[l]
	}
	return models(avg, union, lambda), nil
}

// withinOneSE returns, in increasing order, the penalties (path indices)
// no smaller than the best's whose mean held-out loss is within one
// standard error of the best's, the standard error being that of their
// per-fold difference from the best (the best is among them). Smaller
// penalties are left out even where their loss is as close: where there
// is no effect to find, the denser fits are noise that averaging would
// keep.
func withinOneSE(loss [][]float64) []int {
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	best := 0
	for l := range loss {
		if mean(loss[l]) < mean(loss[best]) {
			best = l
		}
	}
	var set []int
	for l := range loss[:best+1] {
		d := make([]float64, len(loss[l]))
		for q := range d {
			d[q] = loss[l][q] - loss[best][q]
		}
		m := mean(d)
		var ss float64
		for _, v := range d {
			ss += (v - m) * (v - m)
		}
		se := math.Sqrt(ss/float64(len(d))) / math.Sqrt(float64(len(d)))
		if m <= se {
			set = append(set, l)
		}
	}
	return set
}

// PredictBatch writes the effect of each row of xs to out.
func (md *Model) PredictBatch(xs [][]float64, out []float64) {
	var splines []float64 // reused across rows
	for j, x := range xs {
		out[j], splines = md.predict(x, splines)
	}
}

// Predict returns the effect for one row.
func (md *Model) Predict(x []float64) float64 {
	v, _ := md.predict(x, nil)
	return v
}

// predict is Predict with a scratch slice for the splines, returned for
// reuse.
func (md *Model) predict(x []float64, b []float64) (float64, []float64) {
	v := md.Intercept
	for _, t := range md.Terms {
		if t.Columns != nil {
			for k, c := range t.Columns {
				v += t.Coef[k] * x[c]
			}
			continue
		}
		xv := x[t.Column]
		if math.IsNaN(xv) {
			v += t.Missing
			continue
		}
		b = bsplines(cdf(t.Knots, t.Levels, xv), t.Splines, b)
		for k, c := range t.Coef {
			v += c * b[k]
		}
	}
	return v, b
}

// Validate checks that md can predict rows of width columns.
func (md *Model) Validate(width int) error {
	if len(md.Features) != width {
		return fmt.Errorf("additive: %d features, rows of %d", len(md.Features), width)
	}
	for _, t := range md.Terms {
		if t.Columns != nil {
			if len(t.Coef) != len(t.Columns) {
				return fmt.Errorf("additive: term %q: %d coefficients for %d columns", t.Name, len(t.Coef), len(t.Columns))
			}
			for _, c := range t.Columns {
				if c < 0 || c >= width {
					return fmt.Errorf("additive: term %q: column %d of %d", t.Name, c, width)
				}
			}
			continue
		}
		if t.Column < 0 || t.Column >= width {
			return fmt.Errorf("additive: term %q: column %d of %d", t.Name, t.Column, width)
		}
		if len(t.Knots) == 0 || len(t.Knots) != len(t.Levels) || t.Splines < 2 || len(t.Coef) != t.Splines+1 {
			return fmt.Errorf("additive: term %q: malformed spline", t.Name)
		}
	}
	return nil
}

// groupName returns the group of a feature: the column before "=".
func groupName(f string) string {
	name, _, _ := strings.Cut(f, "=")
	return name
}

// stats are the sufficient statistics of the R-loss over some rows: the
// sums of z z' (G), z ry (b) and ry^2 (yy), and the row count.
type stats struct {
	g  *mat.SymDense
	b  []float64
	yy float64
	n  float64
}

func newStats(dim int) *stats {
	return &stats{g: mat.NewSymDense(dim, nil), b: make([]float64, dim)}
}

// addRows adds the rows of z with outcomes y.
func (s *stats) addRows(z *mat.Dense, y []float64) {
	var g mat.SymDense
	g.SymOuterK(1, z.T())
	s.g.AddSym(s.g, &g)
	r, _ := z.Dims()
	for i := range r {
		for c, v := range z.RawRowView(i) {
			s.b[c] += v * y[i]
		}
		s.yy += y[i] * y[i]
	}
	s.n += float64(r)
}

func (s *stats) plus(o *stats) {
	s.g.AddSym(s.g, o.g)
	for c, v := range o.b {
		s.b[c] += v
	}
	s.yy += o.yy
	s.n += o.n
}

// loss returns the mean R-loss of coefficients beta on s's rows.
func (s *stats) loss(beta []float64) float64 {
	bv := mat.NewVecDense(len(beta), beta)
	var gb mat.VecDense
	gb.MulVec(s.g, bv)
	return (s.yy - 2*mat.Dot(mat.NewVecDense(len(s.b), s.b), bv) + mat.Dot(bv, &gb)) / s.n
}

// group is a range of coefficient columns [lo, hi); the intercepts (free
// columns) are in no group and never penalised.
type group struct{ lo, hi int }

// freeFit returns the least-squares fit on the free columns alone (every
// other coefficient 0).
func freeFit(s *stats, free []int) []float64 {
	beta := make([]float64, s.g.SymmetricDim())
	a := mat.NewSymDense(len(free), nil)
	rhs := mat.NewVecDense(len(free), nil)
	for i, ci := range free {
		for j := i; j < len(free); j++ {
			a.SetSym(i, j, s.g.At(ci, free[j]))
		}
		a.SetSym(i, i, a.At(i, i)+1e-9*(1+a.At(i, i)))
		rhs.SetVec(i, s.b[ci])
	}
	var ch mat.Cholesky
	var sol mat.VecDense
	if !ch.Factorize(a) || ch.SolveVecTo(&sol, rhs) != nil {
		return beta
	}
	for i, ci := range free {
		beta[ci] = sol.AtVec(i)
	}
	return beta
}

// lambdaMax returns the smallest group-lasso penalty at which every group
// is zero: the largest group gradient norm, per sqrt of its size, at the
// fit of the free columns alone.
func lambdaMax(s *stats, free []int, groups []group) float64 {
	if s.n == 0 {
		return 0
	}
	beta := mat.NewVecDense(s.g.SymmetricDim(), freeFit(s, free))
	var gb mat.VecDense
	gb.MulVec(s.g, beta)
	var out float64
	for _, g := range groups {
		var nrm float64
		for c := g.lo; c < g.hi; c++ {
			v := (gb.AtVec(c) - s.b[c]) / s.n
			nrm += v * v
		}
		out = max(out, math.Sqrt(nrm)/math.Sqrt(float64(g.hi-g.lo)))
	}
	return out
}

// lasso solves group-lasso problems on one set of sums: the dense copy of
// G and the groups' step sizes are computed once and serve every penalty
// of a path.
type lasso struct {
	s      *stats
	free   []int
	groups []group
	dim    int
	g      []float64 // row-major copy of G: At is slow in the loop
	step   []float64 // per group, the largest eigenvalue of its block / n
}

func newLasso(s *stats, free []int, groups []group) *lasso {
	dim := s.g.SymmetricDim()
	l := &lasso{s: s, free: free, groups: groups, dim: dim, g: make([]float64, dim*dim), step: make([]float64, len(groups))}
	for r := range dim {
		for c := range dim {
			l.g[r*dim+c] = s.g.At(r, c)
		}
	}
	for k, gr := range groups {
		sub := s.g.SliceSym(gr.lo, gr.hi).(*mat.SymDense)
		var eig mat.EigenSym
		if eig.Factorize(sub, false) {
			v := eig.Values(nil)
			l.step[k] = v[len(v)-1] / s.n
		}
	}
	return l
}

// solve minimises sum (ry - z beta)^2 / (2n) + lambda sum_g sqrt(|g|)
// |beta_g| by block coordinate descent with proximal steps, starting from
// beta (updated in place). G beta is kept up to date as blocks change, so
// a sweep costs one pass over G. It stops when no coefficient moves by
// 1e-7 (of a standardized column) or after 500 sweeps: on small samples,
// where the basis has nearly as many columns as rows, the smallest
// penalties converge slowly; tighter limits (1e-9, 2000 sweeps) took 1.3
// to 1.6 times as long (uplift's BenchmarkAnalyzeSmall) and changed no
// share of the oracle on TestPolicyVsOracle's histories (docs/EVALUATION.md,
// "Averaging the additive learner").
func (l *lasso) solve(lambda float64, beta []float64) {
	dim, g, s := l.dim, l.g, l.s
	gb := make([]float64, dim) // G beta
	for r := range dim {
		for c, v := range beta {
			gb[r] += g[r*dim+c] * v
		}
	}
	move := func(c int, nb float64) float64 {
		d := nb - beta[c]
		if d == 0 {
			return 0
		}
		beta[c] = nb
		floats.AddScaled(gb, d, g[c*dim:(c+1)*dim]) // symmetric: row c is column c
		return math.Abs(d)
	}
	z := make([]float64, dim)
	for range 500 {
		var change float64
		for _, c := range l.free {
			if gcc := g[c*dim+c]; gcc > 0 {
				change = max(change, move(c, beta[c]-(gb[c]-s.b[c])/gcc))
			}
		}
		for k, gr := range l.groups {
			if l.step[k] == 0 {
				continue
			}
			var nrm float64
			for c := gr.lo; c < gr.hi; c++ {
				z[c] = beta[c] - (gb[c]-s.b[c])/s.n/l.step[k]
				nrm += z[c] * z[c]
			}
			nrm = math.Sqrt(nrm)
			shrink := 0.0
			if t := lambda * math.Sqrt(float64(gr.hi-gr.lo)) / l.step[k]; nrm > t {
				shrink = 1 - t/nrm
			}
			for c := gr.lo; c < gr.hi; c++ {
				change = max(change, move(c, z[c]*shrink))
			}
		}
		if change < 1e-7 {
			return
		}
	}
}

// selected reports which groups of beta are nonzero.
func selected(beta []float64, groups []group) []bool {
	out := make([]bool, len(groups))
	for k, g := range groups {
		for c := g.lo; c < g.hi; c++ {
			if beta[c] != 0 {
				out[k] = true
			}
		}
	}
	return out
}

// refit returns the ridge fit (penalty ridge per row, free columns not
// penalised) on the free columns and the selected groups; other
// coefficients are 0.
func refit(s *stats, free []int, groups []group, sel []bool, ridge float64) []float64 {
	cols := slices.Clone(free)
	for k, g := range groups {
		if sel[k] {
			for c := g.lo; c < g.hi; c++ {
				cols = append(cols, c)
			}
		}
	}
	slices.Sort(cols)
	n := len(cols)
	a := mat.NewSymDense(n, nil)
	rhs := mat.NewVecDense(n, nil)
	for i, ci := range cols {
		for j := i; j < n; j++ {
			a.SetSym(i, j, s.g.At(ci, cols[j]))
		}
		pen := ridge * s.n
		if slices.Contains(free, ci) {
			pen = 1e-9 * (1 + s.g.At(ci, ci))
		}
		a.SetSym(i, i, a.At(i, i)+pen)
		rhs.SetVec(i, s.b[ci])
	}
	out := make([]float64, s.g.SymmetricDim())
	var ch mat.Cholesky
	var sol mat.VecDense
	if !ch.Factorize(a) || ch.SolveVecTo(&sol, rhs) != nil {
		return out // no rows of the treatments: no effects
	}
	for i, ci := range cols {
		out[ci] = sol.AtVec(i)
	}
	return out
}
