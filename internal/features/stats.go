package features

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// logged are the heavy-tailed, non-negative features that are analysed on
// a log1p scale: counts, money, durations and rates. The others (shares in
// [0, 1], the trend, which is already a log ratio, and the interest vector)
// are used as they are.
var logged = map[string]bool{
	"recency_days": true, "frequency": true, "monetary": true, "avg_order_value": true,
	"tenure_days": true, "interpurchase_days": true, "categories": true, "sessions_per_week": true,
	"views_per_week": true, "searches_per_week": true, "carts_per_week": true,
	"view_price": true, "deal_searches": true,
}

// Logged reports whether feature name is transformed by log1p.
func Logged(name string) bool { return logged[name] }

// Transform maps the raw values of all Names to the space statistics and
// segments are computed in: log1p for the Logged features, identity for
// the others.
func Transform(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if loggedCols[i] {
			x = math.Log1p(math.Max(0, x))
		}
		out[i] = x
	}
	return out
}

// loggedCols is Logged by column of Names: Transform runs for every row,
// and a map lookup per value was most of its cost.
var loggedCols = func() []bool {
	out := make([]bool, len(Names))
	for i, n := range Names {
		out[i] = logged[n]
	}
	return out
}()

// Moments are the count, sums and sums of squares of transformed features
// over some users: mergeable across shards.
type Moments struct {
	N     int64     `json:"n"`
	Sum   []float64 `json:"sum"`
	SumSq []float64 `json:"sum_sq"`
}

// NewMoments returns empty moments of d features.
func NewMoments(d int) Moments {
	return Moments{Sum: make([]float64, d), SumSq: make([]float64, d)}
}

// Add accumulates one transformed row.
func (m *Moments) Add(x []float64) {
	m.N++
	for i, v := range x {
		m.Sum[i] += v
		m.SumSq[i] += float64(v * v)
	}
}

// Merge adds o into m.
func (m *Moments) Merge(o Moments) error {
	if len(o.Sum) != len(m.Sum) || len(o.SumSq) != len(m.SumSq) {
		return fmt.Errorf("moments: %d features, want %d", len(o.Sum), len(m.Sum))
	}
	m.N += o.N
	for i := range m.Sum {
		m.Sum[i] += o.Sum[i]
		m.SumSq[i] += o.SumSq[i]
	}
	return nil
}

// MeanStd returns the mean and standard deviation of feature i. A constant
// feature (or no data) gets a deviation of 1, so it scales to zero, not NaN.
func (m Moments) MeanStd(i int) (mean, std float64) {
	if m.N == 0 {
		return 0, 1
	}
	mean = m.Sum[i] / float64(m.N)
	v := m.SumSq[i]/float64(m.N) - mean*mean
	if v > 1e-12 {
		return mean, math.Sqrt(v)
	}
	return mean, 1
}

// QuantileProbs are the probabilities at which Quantiles are read.
var QuantileProbs = []float64{0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// Clip probabilities: raw values are clipped to these quantiles before
// they are transformed and standardized, so that a few extreme users (a
// wholesaler among consumers) do not stretch the scale for everyone.
const (
	ClipLo = 0.001
	ClipHi = 0.999
)

// Quantiles are the QuantileProbs quantiles of every feature of Names over
// a sample of users.
type Quantiles struct {
	N      int                  `json:"n"` // users in the sample
	Probs  []float64            `json:"probs"`
	Values map[string][]float64 `json:"values"` // by feature, one per prob
}

// QuantilesOf computes quantiles (linear interpolation between order
// statistics, type 7) of the raw rows of a sample; rows are in Names order.
func QuantilesOf(rows [][]float64) Quantiles {
	q := Quantiles{N: len(rows), Probs: slices.Clone(QuantileProbs), Values: map[string][]float64{}}
	if len(rows) == 0 {
		return q
	}
	col := make([]float64, len(rows))
	for j, name := range Names {
		for i, r := range rows {
			col[i] = r[j]
		}
		slices.Sort(col)
		vals := make([]float64, len(q.Probs))
		for k, p := range q.Probs {
			vals[k] = quantile(col, p)
		}
		q.Values[name] = vals
	}
	return q
}

// quantile reads probability p of sorted x (type 7); NaN when empty.
func quantile(x []float64, p float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	h := p * float64(len(x)-1)
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}

// At returns the quantile of feature name at probability p (one of
// Probs), and false if it is not there.
func (q Quantiles) At(name string, p float64) (float64, bool) {
	vals, ok := q.Values[name]
	if !ok {
		return 0, false
	}
	for k, pk := range q.Probs {
		if pk == p && k < len(vals) && !math.IsNaN(vals[k]) {
			return vals[k], true
		}
	}
	return 0, false
}

// Scaler maps raw feature rows to the standardized space segments are
// found in, identically in every shard: for each selected feature, clip to
// [Lo, Hi] (global quantiles), transform (log1p for Logged features), then
// subtract the global mean and divide by the global standard deviation of
// the transformed values.
type Scaler struct {
	Names []string  `json:"names"` // the selected features, in order
	Cols  []int     `json:"cols"`  // their columns in Names
	Log   []bool    `json:"log"`
	Lo    []float64 `json:"lo"`
	Hi    []float64 `json:"hi"`
	Mean  []float64 `json:"mean"`
	Std   []float64 `json:"std"`
}

// NewScaler builds the scaler of the features names from the moments of
// all transformed Names and the quantiles of a sample. Without a quantile
// a feature is not clipped.
func NewScaler(names []string, m Moments, q Quantiles) (Scaler, error) {
	if len(m.Sum) != len(Names) {
		return Scaler{}, fmt.Errorf("scaler: moments of %d features, want %d", len(m.Sum), len(Names))
	}
	s := Scaler{Names: slices.Clone(names)}
	for _, name := range names {
		j := Index(name)
		if j < 0 {
			return Scaler{}, fmt.Errorf("scaler: unknown feature %q", name)
		}
		// Without quantiles, bounds that clip nothing and still encode as
		// JSON (which has no infinities).
		lo, ok := q.At(name, ClipLo)
		if !ok {
			lo = -math.MaxFloat64
		}
		hi, ok := q.At(name, ClipHi)
		if !ok {
			hi = math.MaxFloat64
		}
		mean, std := m.MeanStd(j)
		s.Cols = append(s.Cols, j)
		s.Log = append(s.Log, logged[name])
		s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
		s.Mean, s.Std = append(s.Mean, mean), append(s.Std, std)
	}
	return s, nil
}

// Dim is the number of selected features.
func (s Scaler) Dim() int { return len(s.Cols) }

// Apply returns the standardized selected features of a raw row (in Names
// order).
func (s Scaler) Apply(raw []float64) []float64 { return s.ApplyTo(raw, nil) }

// ApplyTo is Apply writing into dst (allocated when shorter than Dim).
func (s Scaler) ApplyTo(raw, dst []float64) []float64 {
	if len(dst) < len(s.Cols) {
		dst = make([]float64, len(s.Cols))
	}
	dst = dst[:len(s.Cols)]
	for k, j := range s.Cols {
		x := min(max(raw[j], s.Lo[k]), s.Hi[k])
		if s.Log[k] {
			x = math.Log1p(math.Max(0, x))
		}
		dst[k] = (x - s.Mean[k]) / s.Std[k]
	}
	return dst
}

// Raw maps a standardized point (a centroid) back to raw feature values:
// the inverse of Apply inside the clip bounds.
func (s Scaler) Raw(z []float64) map[string]float64 {
	out := make(map[string]float64, len(s.Cols))
	for k, name := range s.Names {
		x := z[k]*s.Std[k] + s.Mean[k]
		if s.Log[k] {
			x = math.Expm1(x)
		}
		out[name] = x
	}
	return out
}

func sortItemPrices(keys []ItemPrice) {
	slices.SortFunc(keys, func(a, b ItemPrice) int {
		if c := cmp.Compare(a.Item, b.Item); c != 0 {
			return c
		}
		return cmp.Compare(a.Price, b.Price)
	})
}
