// Package segment describes k-means segments to marketers: size, mean
// behaviour and a name derived from how the segment ranks against the rest.
package segment

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/features"
)

// Profile is the mean raw behaviour of a segment's users.
type Profile struct {
	ID   int                `json:"id"`
	Name string             `json:"name"`
	Size int64              `json:"size"`
	Mean map[string]float64 `json:"profile"`
}

// Sums accumulates raw feature sums per segment; mergeable across shards.
type Sums struct {
	Count []int64     `json:"count"`
	Sum   [][]float64 `json:"sum"`
}

// NewSums returns empty sums for k segments.
func NewSums(k int) Sums {
	s := Sums{Count: make([]int64, k), Sum: make([][]float64, k)}
	for i := range s.Sum {
		s.Sum[i] = make([]float64, len(features.Names))
	}
	return s
}

// Add counts one user with raw values in segment seg.
func (s *Sums) Add(seg int, raw []float64) {
	s.Count[seg]++
	for j, v := range raw {
		s.Sum[seg][j] += v
	}
}

// Merge adds o into s.
func (s *Sums) Merge(o Sums) error {
	if len(o.Count) != len(s.Count) {
		return fmt.Errorf("segment sums: %d segments, want %d", len(o.Count), len(s.Count))
	}
	for i := range s.Count {
		s.Count[i] += o.Count[i]
		for j := range s.Sum[i] {
			s.Sum[i][j] += o.Sum[i][j]
		}
	}
	return nil
}

// Profiles turns sums into profiles named by names (from Names), in
// segment order.
func (s Sums) Profiles(names []string) []Profile {
	out := make([]Profile, len(s.Count))
	for i := range out {
		out[i] = Profile{ID: i, Name: names[i], Size: s.Count[i], Mean: map[string]float64{}}
		for j, name := range features.Names {
			if s.Count[i] > 0 {
				out[i].Mean[name] = s.Sum[i][j] / float64(s.Count[i])
			}
		}
	}
	return out
}

// Names names segments from their centroids in standardized feature space
// (columns in features.Names order; 0 is the average user, 1 one standard
// deviation above). The rules go from the most to the least specific; a
// repeated name gets a number.
func Names(centroids [][]float64) []string {
	col := map[string]int{}
	for j, n := range features.Names {
		col[n] = j
	}
	z := func(c []float64, name string) float64 { return c[col[name]] }
	top := -1
	for i, c := range centroids {
		if top < 0 || z(c, "monetary") > z(centroids[top], "monetary") {
			top = i
		}
	}
	used := map[string]int{}
	out := make([]string, len(centroids))
	for i, c := range centroids {
		name := nameOf(func(f string) float64 { return z(c, f) }, i == top)
		used[name]++
		if used[name] > 1 {
			name = fmt.Sprintf("%s %d", name, used[name])
		}
		out[i] = name
	}
	return out
}

func nameOf(z func(string) float64, topSpender bool) string {
	recent := z("recency_days") < 0
	frequent := z("frequency") > 0
	switch {
	case z("tenure_days") < -1:
		return "new"
	case topSpender && recent && frequent:
		return "champions"
	case frequent && z("recency_days") > 0.5:
		return "at risk"
	case z("recency_days") > 0.5 && z("views") < 0:
		return "hibernating"
	case !frequent && z("views") > 0:
		return "browsers"
	case frequent:
		return "loyal"
	case z("avg_order_value") < -0.5:
		return "bargain hunters"
	}
	return "occasional"
}
