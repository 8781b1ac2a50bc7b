package features

import (
	"fmt"
	"math"
)

// Transform maps raw feature values to the space segments are found in:
// log1p of every value, since counts and money are heavy-tailed and all
// features are non-negative.
func Transform(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Log1p(math.Max(0, x))
	}
	return out
}

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
		m.SumSq[i] += v * v
	}
}

// Merge adds o into m.
func (m *Moments) Merge(o Moments) error {
	if len(o.Sum) != len(m.Sum) {
		return fmt.Errorf("moments: %d features, want %d", len(o.Sum), len(m.Sum))
	}
	m.N += o.N
	for i := range m.Sum {
		m.Sum[i] += o.Sum[i]
		m.SumSq[i] += o.SumSq[i]
	}
	return nil
}

// Scaler standardizes transformed features with global means and standard
// deviations, identically in every shard.
type Scaler struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Scaler returns the standardization of the users m describes. A constant
// feature gets a standard deviation of 1 so it scales to zero, not NaN.
func (m Moments) Scaler() Scaler {
	s := Scaler{Mean: make([]float64, len(m.Sum)), Std: make([]float64, len(m.Sum))}
	for i := range m.Sum {
		if m.N == 0 {
			s.Std[i] = 1
			continue
		}
		mean := m.Sum[i] / float64(m.N)
		v := m.SumSq[i]/float64(m.N) - mean*mean
		s.Mean[i] = mean
		s.Std[i] = 1
		if v > 1e-12 {
			s.Std[i] = math.Sqrt(v)
		}
	}
	return s
}

// Apply transforms and standardizes raw feature values.
func (s Scaler) Apply(raw []float64) []float64 {
	x := Transform(raw)
	for i := range x {
		x[i] = (x[i] - s.Mean[i]) / s.Std[i]
	}
	return x
}
