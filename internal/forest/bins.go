package forest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// MaxBins is the largest number of bins per feature; bin indices fit a byte
// with one value to spare for missing values.
const MaxBins = 255

// MissingBin is the bin of a missing (NaN) value.
const MissingBin = 255

// DefaultSketchSize is the number of points a Sketch keeps by default: enough
// for MaxBins bins with a rank error of about 1/DefaultSketchSize per merge.
const DefaultSketchSize = 256

// Sketch is a mergeable quantile summary of one feature's values.
//
// It holds ascending distinct values with weights: the point (Values[j],
// Weights[j]) stands for Weights[j] values in (Values[j-1], Values[j]]. While
// a feature has at most K distinct values the summary is exact; beyond that
// it is compressed to about K points, each carrying close to 1/K of the
// weight, so a rank read from it is off by at most Total/K per compression.
// Merging sketches (of shards) and compressing is deterministic: the same
// sketches merged in the same order give the same summary. A Sketch is plain
// data, small enough for a workflow payload.
type Sketch struct {
	K       int       `json:"k"`
	Values  []float64 `json:"v"`
	Weights []float64 `json:"w"`
	Missing float64   `json:"missing"` // NaN values seen
	// Compressed is set once points stand for ranges of values rather
	// than single values.
	Compressed bool      `json:"compressed,omitempty"`
	buf        []float64 // values added but not yet summarised
}

// NewSketch returns an empty sketch keeping about k points; k < 2 means
// DefaultSketchSize.
func NewSketch(k int) *Sketch {
	if k < 2 {
		k = DefaultSketchSize
	}
	return &Sketch{K: k}
}

// Add adds one value; NaN counts as missing. It panics on an infinite value.
func (s *Sketch) Add(v float64) {
	switch {
	case math.IsNaN(v):
		s.Missing++
		return
	case math.IsInf(v, 0):
		panic(fmt.Sprintf("forest: Sketch.Add(%v)", v))
	}
	s.buf = append(s.buf, v)
	if len(s.buf) >= 16*max(s.K, 64) {
		s.flush()
	}
}

// flush summarises the buffered values into the points.
func (s *Sketch) flush() {
	if len(s.buf) == 0 {
		return
	}
	slices.Sort(s.buf)
	var vals, ws []float64
	for _, v := range s.buf {
		if n := len(vals); n > 0 && vals[n-1] == v {
			ws[n-1]++
			continue
		}
		vals = append(vals, v)
		ws = append(ws, 1)
	}
	s.buf = s.buf[:0]
	s.Values, s.Weights = mergePoints(s.Values, s.Weights, vals, ws)
	s.compress()
}

// MarshalJSON encodes s after summarising the values it buffers, which
// would otherwise be lost.
func (s *Sketch) MarshalJSON() ([]byte, error) {
	s.flush()
	type plain Sketch
	return json.Marshal((*plain)(s))
}

// Total returns the weight of the non-missing values summarised.
func (s *Sketch) Total() float64 {
	s.flush()
	var t float64
	for _, w := range s.Weights {
		t += w
	}
	return t
}

// Merge adds the summary of o to s. Sketches of different K merge into s's K.
func (s *Sketch) Merge(o *Sketch) {
	s.flush()
	o.flush()
	s.Values, s.Weights = mergePoints(s.Values, s.Weights, o.Values, o.Weights)
	s.Missing += o.Missing
	s.Compressed = s.Compressed || o.Compressed
	s.compress()
}

// mergePoints merges two ascending point lists, adding weights of equal
// values.
func mergePoints(av, aw, bv, bw []float64) ([]float64, []float64) {
	v := make([]float64, 0, len(av)+len(bv))
	w := make([]float64, 0, len(av)+len(bv))
	i, j := 0, 0
	for i < len(av) || j < len(bv) {
		switch {
		case j == len(bv) || i < len(av) && av[i] < bv[j]:
			v, w = append(v, av[i]), append(w, aw[i])
			i++
		case i == len(av) || bv[j] < av[i]:
			v, w = append(v, bv[j]), append(w, bw[j])
			j++
		default:
			v, w = append(v, av[i]), append(w, aw[i]+bw[j])
			i++
			j++
		}
	}
	return v, w
}

// compress merges neighbouring points until at most about K remain: walking
// up, a point absorbs the weight of the points below it since the last kept
// point until that weight reaches Total/K. Kept values are actual values
// (the largest of each group), so a summary of few distinct values stays
// exact.
func (s *Sketch) compress() {
	if len(s.Values) <= s.K {
		return
	}
	var total float64
	for _, w := range s.Weights {
		total += w
	}
	step := total / float64(s.K)
	s.Compressed = true
	v, w := s.Values[:0], s.Weights[:0]
	var acc float64
	last := len(s.Values) - 1
	for j := range s.Values {
		acc += s.Weights[j]
		if acc >= step || j == last {
			val := s.Values[j]
			v, w = append(v, val), append(w, acc)
			acc = 0
		}
	}
	s.Values, s.Weights = v, w
}

// Bins are the split candidates of every feature: ascending cut points. A
// value v of feature f falls in bin b when cuts[b-1] < v <= cuts[b] (bin 0
// below the first cut, bin len(cuts) above the last); NaN falls in
// MissingBin. A tree node splitting at bin b sends v <= Cuts[f][b] left.
type Bins struct {
	Cuts [][]float64 `json:"cuts"`
}

// NewBins chooses up to maxBins bins per feature from the sketches, one per
// feature: cut points at about equal steps of rank, halfway between
// consecutive values (or, from a compressed sketch, at the largest value of
// a range). A feature with at most maxBins distinct values gets a bin per
// value. maxBins 0 means MaxBins.
func NewBins(sketches []*Sketch, maxBins int) (*Bins, error) {
	if maxBins == 0 {
		maxBins = MaxBins
	}
	if maxBins < 2 || maxBins > MaxBins {
		return nil, fmt.Errorf("forest: maxBins = %d, want 2..%d", maxBins, MaxBins)
	}
	if len(sketches) == 0 {
		return nil, errors.New("forest: no sketches")
	}
	b := &Bins{Cuts: make([][]float64, len(sketches))}
	for f, s := range sketches {
		s.flush()
		b.Cuts[f] = cuts(s.Values, s.Weights, maxBins, s.Compressed)
	}
	return b, nil
}

// cuts returns at most maxBins-1 cut points for ascending points. A cut
// above point j is midway to point j+1, or at point j itself when the
// points are compressed: then the values point j+1 stands for may lie
// anywhere above point j.
func cuts(vals, ws []float64, maxBins int, compressed bool) []float64 {
	out := []float64{}
	cut := func(j int) float64 {
		if compressed {
			return vals[j]
		}
		return midpoint(vals[j], vals[j+1])
	}
	if len(vals) <= maxBins {
		for j := 0; j+1 < len(vals); j++ {
			out = append(out, cut(j))
		}
		return out
	}
	// cum[k] is the weight of points 0..k: a cut above point k leaves cum[k]
	// below it.
	cum := make([]float64, len(vals))
	var total float64
	for k, w := range ws {
		total += w
		cum[k] = total
	}
	step := total / float64(maxBins)
	last := -1 // point below the previous cut
	lo := 0
	for b := 1; b < maxBins; b++ {
		target := step * float64(b)
		// Candidate cuts leave within half a step of the target below
		// them. An outstanding gap between neighbouring values wins, so
		// that clusters separated by empty space are not cut through.
		for lo < len(vals)-1 && cum[lo] < target-step/2 {
			lo++
		}
		// Bins hold at least a quarter step.
		first := max(lo, last+1)
		below := 0.0
		if last >= 0 {
			below = cum[last]
		}
		for first < len(vals)-1 && cum[first]-below < step/4 {
			first++
		}
		best, near, end := -1, -1, first
		for k := first; k < len(vals)-1 && cum[k] <= target+step/2; k++ {
			if best < 0 || vals[k+1]-vals[k] > vals[best+1]-vals[best] {
				best = k
			}
			if near < 0 && cum[k] >= target {
				near = k
			}
			end = k
		}
		if best < 0 {
			continue
		}
		if near < 0 {
			near = end
		}
		// Take the widest gap only if it stands out: 20 times the mean of
		// the window's other spacings; else cut nearest the target rank.
		gap := vals[best+1] - vals[best]
		if end == first || gap <= 20*(vals[end+1]-vals[first]-gap)/float64(end-first) {
			best = near
		}
		out = append(out, cut(best))
		last = best
	}
	return out
}

// Validate checks that b has d features with ascending finite cuts and at
// most MaxBins bins each.
func (b *Bins) Validate(d int) error {
	if b == nil {
		return errors.New("forest: nil bins")
	}
	if len(b.Cuts) != d {
		return fmt.Errorf("forest: bins for %d features, want %d", len(b.Cuts), d)
	}
	for f, c := range b.Cuts {
		if len(c) > MaxBins-1 {
			return fmt.Errorf("forest: feature %d has %d cuts, at most %d", f, len(c), MaxBins-1)
		}
		for i, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) || i > 0 && !(c[i-1] < v) {
				return fmt.Errorf("forest: feature %d cut %d (%v) is not finite and ascending", f, i, v)
			}
		}
	}
	return nil
}

// Bin returns the bin of value v of feature f.
func (b *Bins) Bin(f int, v float64) uint8 {
	if math.IsNaN(v) {
		return MissingBin
	}
	return uint8(sort.SearchFloat64s(b.Cuts[f], v))
}

// Threshold returns the split value of bin bn of feature f: values at or
// below it fall in bins 0..bn.
func (b *Bins) Threshold(f int, bn int) float64 {
	return b.Cuts[f][bn]
}

// ExactBins computes bins from the columns of x directly, as NewBins would
// from exact sketches: the bins a single process uses when no global bins
// are given.
func ExactBins(x [][]float64, d, maxBins int) (*Bins, error) {
	sk := make([]*Sketch, d)
	col := make([]float64, 0, len(x))
	for f := range d {
		col = col[:0]
		for _, row := range x {
			if len(row) != d {
				return nil, fmt.Errorf("forest: row has %d values, want %d", len(row), d)
			}
			if v := row[f]; !math.IsNaN(v) {
				col = append(col, v)
			}
		}
		slices.Sort(col)
		s := &Sketch{K: math.MaxInt}
		for _, v := range col {
			if n := len(s.Values); n > 0 && s.Values[n-1] == v {
				s.Weights[n-1]++
				continue
			}
			s.Values = append(s.Values, v)
			s.Weights = append(s.Weights, 1)
		}
		sk[f] = s
	}
	return NewBins(sk, maxBins)
}

// MergeSketches merges shards' sketches (one per feature each), feature by
// feature in shard order, and chooses the bins from the merged sketches:
// the same sketches in the same order give the same bins.
func MergeSketches(shards [][]*Sketch, maxBins int) (*Bins, error) {
	var merged []*Sketch
	for i, sk := range shards {
		if merged == nil {
			merged = make([]*Sketch, len(sk))
			for f := range merged {
				merged[f] = NewSketch(0)
			}
		}
		if len(sk) != len(merged) {
			return nil, fmt.Errorf("shard %d: %d sketches, want %d", i, len(sk), len(merged))
		}
		for f, s := range sk {
			merged[f].Merge(s)
		}
	}
	return NewBins(merged, maxBins)
}
