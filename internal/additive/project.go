package additive

import (
	"errors"
	"fmt"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// ProjectKnots is the spline resolution of Project's terms. The
// projection's targets are fitted functions, not noisy outcomes, so the
// resolution matters little: 4, 6 and 8 knots smoothed the tree learners
// of TestPolicyVsOracle's histories equally well (docs/EVALUATION.md,
// "Smoothing the ensemble").
const ProjectKnots = 6

// projectRidge is Project's ridge penalty per row (refit's): only enough
// to make the normal equations definite (a one-hot group's columns sum to
// the intercept's).
const projectRidge = 1e-4

// Project returns, for each column a of y (y[i][a] for row i of rows), the
// least-squares additive model of y[.][a] on the features of x at
// ProjectKnots: every feature's term, none selected away. It is the
// projection of a fitted effect (a tree ensemble's, say) onto smooth
// additive functions: what the ensemble says about each feature's main
// effect, without the roughness of its splits. Rows of x outside rows
// are not read.
func Project(x [][]float64, features []string, rows []int, y [][]float64) ([]*Model, error) {
	if len(rows) == 0 {
		return nil, errors.New("additive: project: no rows")
	}
	k := len(y[rows[0]])
	bs := newBasis(x, features, rows, ProjectKnots)
	dim := 1 + bs.width
	g := mat.NewSymDense(dim, nil)
	b := mat.NewDense(dim, k, nil)
	const chunk = 256
	z := mat.NewDense(chunk, dim, nil)
	t := mat.NewDense(chunk, k, nil)
	var sym mat.SymDense
	var zt mat.Dense
	for lo := 0; lo < len(rows); lo += chunk {
		n := min(chunk, len(rows)-lo)
		zc := z.Slice(0, n, 0, dim).(*mat.Dense)
		tc := t.Slice(0, n, 0, k).(*mat.Dense)
		for r, i := range rows[lo : lo+n] {
			if len(y[i]) != k {
				return nil, fmt.Errorf("additive: project: row %d has %d targets, want %d", i, len(y[i]), k)
			}
			row := zc.RawRowView(r)
			row[0] = 1
			bs.row(x[i], row[1:])
			copy(tc.RawRowView(r), y[i])
		}
		sym.SymOuterK(1, zc.T())
		g.AddSym(g, &sym)
		zt.Mul(zc.T(), tc)
		b.Add(b, &zt)
	}
	// Every group selected, the intercept free: refit's ridge solve.
	groups := bs.groupRanges()
	all := make([]bool, len(groups))
	for j := range all {
		all[j] = true
	}
	out := make([]*Model, k)
	for a := range out {
		s := &stats{g: g, b: mat.Col(nil, a, b), n: float64(len(rows))}
		out[a] = &Model{Features: slices.Clone(features)}
		bs.model(out[a], refit(s, []int{0}, groups, all, projectRidge), all)
	}
	return out, nil
}
