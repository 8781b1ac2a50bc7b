package additive

import (
	"math"
	"slices"
)

// quantiles is how many empirical quantiles a numeric feature's CDF keeps
// (at most; fewer where values repeat).
const quantiles = 200

// basis maps a row to the standardized basis columns of each feature
// group: a numeric feature's cubic B-splines of its empirical CDF (the
// last spline dropped: they sum to 1, as the intercept does) and, where
// rows miss it, a missing indicator; a one-hot group's columns.
type basis struct {
	terms   []termBasis
	width   int
	knots   int
	splines []float64 // scratch of raw: a basis serves one goroutine
}

type termBasis struct {
	name    string
	column  int       // numeric feature
	columns []int     // one-hot group
	cdfX    []float64 // numeric: CDF knots (x) and values (levels)
	cdfU    []float64
	median  float64 // numeric: stands in for a missing value
	missing bool    // numeric: has a missing-indicator column (last)
	off     int     // first basis column (in the coefficient vector less the intercept)
	mean    []float64
	scale   []float64
}

func (t *termBasis) width(knots int) int {
	if t.columns != nil {
		return len(t.columns)
	}
	w := knots + 1
	if t.missing {
		w++
	}
	return w
}

// newBasis builds the basis of features on rows of x.
func newBasis(x [][]float64, features []string, rows []int, knots int) *basis {
	bs := &basis{knots: knots}
	done := map[string]bool{}
	for j, f := range features {
		name := groupName(f)
		if done[name] {
			continue
		}
		done[name] = true
		t := termBasis{name: name}
		if name != f { // one-hot: every column of the group
			for c, g := range features {
				if groupName(g) == name && g != name {
					t.columns = append(t.columns, c)
				}
			}
		} else {
			t.column = j
			var vals []float64
			for _, i := range rows {
				if v := x[i][j]; math.IsNaN(v) {
					t.missing = true
				} else {
					vals = append(vals, v)
				}
			}
			slices.Sort(vals)
			if len(vals) == 0 || vals[0] == vals[len(vals)-1] {
				continue // constant: no term
			}
			t.cdfX, t.cdfU = empiricalCDF(vals)
			t.median = vals[len(vals)/2]
		}
		t.off = bs.width
		bs.width += t.width(knots)
		bs.terms = append(bs.terms, t)
	}
	// Standardize every column over rows, so that one penalty suits all
	// groups.
	raw := make([]float64, bs.width)
	sum, sq := make([]float64, bs.width), make([]float64, bs.width)
	for _, i := range rows {
		bs.raw(x[i], raw)
		for c, v := range raw {
			sum[c] += v
			sq[c] += v * v
		}
	}
	n := float64(len(rows))
	for k := range bs.terms {
		t := &bs.terms[k]
		w := t.width(knots)
		t.mean, t.scale = make([]float64, w), make([]float64, w)
		for c := range w {
			m := sum[t.off+c] / n
			sd := math.Sqrt(max(sq[t.off+c]/n-m*m, 0))
			if sd < 1e-12 {
				sd = 1
			}
			t.mean[c], t.scale[c] = m, sd
		}
	}
	return bs
}

// empiricalCDF returns, for sorted values, up to quantiles+1 distinct
// values and the mid-CDF of each ((share below + share at or below) / 2),
// so tied values map to the middle of their range.
func empiricalCDF(sorted []float64) (xs, us []float64) {
	n := len(sorted)
	for q := 0; q <= quantiles; q++ {
		v := sorted[int(math.Round(float64(q)/quantiles*float64(n-1)))]
		if len(xs) > 0 && xs[len(xs)-1] == v {
			continue
		}
		lo, _ := slices.BinarySearch(sorted, v)
		hi := lo
		for hi < n && sorted[hi] == v {
			hi++
		}
		xs = append(xs, v)
		us = append(us, float64(lo+hi)/2/float64(n))
	}
	return xs, us
}

// cdf interpolates the empirical CDF (xs, us) at v, clamped to its ends.
func cdf(xs, us []float64, v float64) float64 {
	k, _ := slices.BinarySearch(xs, v)
	switch {
	case k == 0:
		return us[0]
	case k == len(xs):
		return us[len(us)-1]
	case xs[k] == v:
		return us[k]
	}
	f := (v - xs[k-1]) / (xs[k] - xs[k-1])
	return us[k-1] + f*(us[k]-us[k-1])
}

// bsplines returns the knots+2 uniform cubic B-splines at u in [0, 1]
// (knots equally spaced on [0, 1], extended by three on each side), in
// dst if it has room.
func bsplines(u float64, knots int, dst []float64) []float64 {
	n := knots + 2
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	clear(dst)
	h := 1 / float64(knots-1)
	s := min(max(u, 0), 1) / h
	j := min(int(s), knots-2)
	t := s - float64(j)
	t2, t3 := t*t, t*t*t
	dst[j] = (1 - 3*t + 3*t2 - t3) / 6
	dst[j+1] = (3*t3 - 6*t2 + 4) / 6
	dst[j+2] = (-3*t3 + 3*t2 + 3*t + 1) / 6
	dst[j+3] = t3 / 6
	return dst
}

// raw writes row x's unstandardized basis columns to dst.
func (bs *basis) raw(x []float64, dst []float64) {
	b := bs.splines
	for _, t := range bs.terms {
		if t.columns != nil {
			for k, c := range t.columns {
				dst[t.off+k] = x[c]
			}
			continue
		}
		v := x[t.column]
		miss := math.IsNaN(v)
		if miss {
			v = t.median
		}
		b = bsplines(cdf(t.cdfX, t.cdfU, v), bs.knots, b)
		copy(dst[t.off:t.off+bs.knots+1], b)
		if t.missing {
			dst[t.off+bs.knots+1] = 0
			if miss {
				dst[t.off+bs.knots+1] = 1
			}
		}
	}
	bs.splines = b
}

// row writes row x's standardized basis columns to dst.
func (bs *basis) row(x []float64, dst []float64) {
	bs.raw(x, dst)
	for _, t := range bs.terms {
		for c := range t.mean {
			dst[t.off+c] = (dst[t.off+c] - t.mean[c]) / t.scale[c]
		}
	}
}

// groupRanges returns each term's coefficient range (after the intercept).
func (bs *basis) groupRanges() []group {
	out := make([]group, len(bs.terms))
	for k, t := range bs.terms {
		out[k] = group{lo: 1 + t.off, hi: 1 + t.off + t.width(bs.knots)}
	}
	return out
}

// model fills md's intercept and terms from standardized coefficients
// beta (intercept first) of the selected groups.
func (bs *basis) model(md *Model, beta []float64, sel []bool) {
	md.Intercept = beta[0]
	for k, t := range bs.terms {
		if !sel[k] {
			continue
		}
		w := t.width(bs.knots)
		coef := make([]float64, w)
		for c := range w {
			coef[c] = beta[1+t.off+c] / t.scale[c]
			md.Intercept -= coef[c] * t.mean[c]
		}
		if t.columns != nil {
			md.Terms = append(md.Terms, Term{Name: t.name, Columns: slices.Clone(t.columns), Coef: coef})
			continue
		}
		term := Term{Name: t.name, Column: t.column, Knots: t.cdfX, Levels: t.cdfU, Splines: bs.knots, Coef: coef[:bs.knots+1]}
		// A missing value is the median's splines plus the indicator's
		// coefficient.
		b := bsplines(cdf(t.cdfX, t.cdfU, t.median), bs.knots, nil)
		for c, v := range term.Coef {
			term.Missing += v * b[c]
		}
		if t.missing {
			term.Missing += coef[bs.knots+1]
		}
		md.Terms = append(md.Terms, term)
	}
}
