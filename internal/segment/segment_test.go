package segment

import (
	"reflect"
	"testing"

	"github.com/promoflow/promoflow/internal/features"
)

// vec builds a vector in features.Names order from named values.
func vec(m map[string]float64) []float64 {
	v := make([]float64, len(features.Names))
	for j, n := range features.Names {
		v[j] = m[n]
	}
	return v
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		centroids [][]float64
		want      []string
	}{
		{"the usual cast", [][]float64{
			vec(map[string]float64{"recency_days": -1.2, "frequency": 1.5, "monetary": 1.8, "tenure_days": 0.5}),
			vec(map[string]float64{"tenure_days": -1.6, "frequency": -0.5}),
			vec(map[string]float64{"recency_days": 1.0, "frequency": 0.8, "monetary": 0.7}),
			vec(map[string]float64{"recency_days": 0.9, "frequency": -0.9, "views": -1}),
			vec(map[string]float64{"recency_days": 0.2, "frequency": -0.6, "views": 1.4}),
			vec(map[string]float64{"recency_days": -0.3, "frequency": 0.4, "monetary": 0.2}),
		}, []string{"champions", "new", "at risk", "hibernating", "browsers", "loyal"}},
		{"repeats numbered", [][]float64{
			vec(map[string]float64{"frequency": -0.2, "avg_order_value": -1}),
			vec(map[string]float64{"frequency": -0.3, "avg_order_value": -0.9}),
		}, []string{"bargain hunters", "bargain hunters 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Names(tc.centroids); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Names = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSumsProfiles(t *testing.T) {
	s := NewSums(2)
	s.Add(0, vec(map[string]float64{"monetary": 100}))
	s.Add(0, vec(map[string]float64{"monetary": 300}))
	o := NewSums(2)
	o.Add(1, vec(map[string]float64{"frequency": 4}))
	if err := s.Merge(o); err != nil {
		t.Fatal(err)
	}
	ps := s.Profiles([]string{"a", "b"})
	if ps[0].Size != 2 || ps[0].Mean["monetary"] != 200 || ps[1].Size != 1 || ps[1].Mean["frequency"] != 4 || ps[1].Name != "b" {
		t.Errorf("profiles = %+v", ps)
	}
	if err := s.Merge(NewSums(3)); err == nil {
		t.Error("merge of 3 segments into 2 succeeded")
	}
}
