package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAUCKnown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all ties", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, []bool{true, false, true, false, false}, 0.5},
		// Pairs (pos, neg): (0.35,0.1) win, (0.35,0.4) loss, (0.8,·) two wins: 3/4.
		{"hand", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75},
		// Pos {0.5, 0.9}, neg {0.2, 0.5}: 1 + 0.5 + 2 = 3.5 of 4 pairs.
		{"hand ties", []float64{0.2, 0.5, 0.5, 0.9}, []bool{false, true, false, true}, 0.875},
		// Pos {0.3}, neg {0.1, 0.2, 0.3, 0.4, 0.5}: 2 wins + 1 tie = 2.5 of 5.
		{"one positive", []float64{0.1, 0.2, 0.3, 0.3, 0.4, 0.5}, []bool{false, false, true, false, false, false}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AUC(tc.scores, tc.labels); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("AUC = %v, want %v", got, tc.want)
			}
			// The histogram agrees when every distinct score has its own bin.
			h := NewScoreHist(10)
			for i, s := range tc.scores {
				h.Add(s, tc.labels[i])
			}
			if got := h.AUC(); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("ScoreHist.AUC = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAUCUndefined(t *testing.T) {
	if got := AUC([]float64{0.1, 0.9}, []bool{true, true}); !math.IsNaN(got) {
		t.Errorf("AUC without negatives = %v, want NaN", got)
	}
	if got := AUC(nil, nil); !math.IsNaN(got) {
		t.Errorf("AUC of nothing = %v, want NaN", got)
	}
	h := NewScoreHist(4)
	h.Add(0.3, false)
	if got := h.AUC(); !math.IsNaN(got) {
		t.Errorf("ScoreHist.AUC without positives = %v, want NaN", got)
	}
	if got := (ScoreHist{}).MeanLogLoss(); !math.IsNaN(got) {
		t.Errorf("MeanLogLoss of empty = %v, want NaN", got)
	}
}

// randomScores returns n scores uniform on [0, 1) with labels drawn as
// Bernoulli(score), so the exact AUC is well inside (0.5, 1).
func randomScores(n int, seed uint64) ([]float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		scores[i] = rng.Float64()
		labels[i] = rng.Float64() < scores[i]
	}
	return scores, labels
}

func TestScoreHistAUCMatchesExact(t *testing.T) {
	scores, labels := randomScores(10000, 7)
	h := NewScoreHist(1000)
	for i, s := range scores {
		h.Add(s, labels[i])
	}
	exact := AUC(scores, labels)
	if exact < 0.7 || exact > 0.9 {
		t.Fatalf("exact AUC = %v, expected about 0.83 for Bernoulli(score) labels", exact)
	}
	if got := h.AUC(); math.Abs(got-exact) > 0.01 {
		t.Errorf("ScoreHist.AUC = %v, exact %v: differ by more than 0.01", got, exact)
	}
	// Coarse bins lose resolution: 2 bins must be a worse estimate.
	h2 := NewScoreHist(2)
	for i, s := range scores {
		h2.Add(s, labels[i])
	}
	if math.Abs(h2.AUC()-exact) <= math.Abs(h.AUC()-exact) {
		t.Errorf("2-bin AUC %v no worse than 1000-bin %v (exact %v)", h2.AUC(), h.AUC(), exact)
	}
}

func TestScoreHistBins(t *testing.T) {
	h := NewScoreHist(4)
	for _, s := range []float64{-0.5, 0, 0.24, 0.25, 0.5, 0.99, 1, 1.5} {
		h.Add(s, true)
	}
	if want := []int64{3, 1, 1, 3}; !slices.Equal(h.Pos, want) {
		t.Errorf("Pos = %v, want %v", h.Pos, want)
	}
	if want := []int64{0, 0, 0, 0}; !slices.Equal(h.Neg, want) {
		t.Errorf("Neg = %v, want %v", h.Neg, want)
	}
	if h.N != 8 {
		t.Errorf("N = %d, want 8", h.N)
	}
}

func TestLogLoss(t *testing.T) {
	h := NewScoreHist(10)
	h.Add(0.8, true)   // -ln 0.8  = 0.2231435513
	h.Add(0.25, false) // -ln 0.75 = 0.2876820725
	h.Add(0.5, true)   // -ln 0.5  = 0.6931471806
	want := (0.2231435513 + 0.2876820725 + 0.6931471806) / 3
	if got := h.MeanLogLoss(); math.Abs(got-want) > 1e-9 {
		t.Errorf("MeanLogLoss = %.10f, want %.10f", got, want)
	}

	// Confident mistakes are clamped at -ln(1e-15) = 34.5388, not +Inf. (For
	// a score of 1 the clamp is the float64 1-1e-15, so 1-p is 9.992e-16.)
	c := NewScoreHist(10)
	c.Add(0, true)
	c.Add(1, false)
	c.Add(-3, true)
	want = (2*34.538776394910684 + 34.53957599234088) / 3
	if got := c.MeanLogLoss(); math.Abs(got-want) > 1e-9 {
		t.Errorf("clamped MeanLogLoss = %v, want %v", got, want)
	}
	// Confident hits cost almost nothing.
	k := NewScoreHist(10)
	k.Add(1, true)
	k.Add(0, false)
	if got := k.MeanLogLoss(); got < 0 || got > 1e-14 {
		t.Errorf("MeanLogLoss of confident hits = %v, want ~1e-15", got)
	}
}

func TestScoreHistMerge(t *testing.T) {
	scores, labels := randomScores(5000, 3)
	whole := NewScoreHist(50)
	a, b := NewScoreHist(50), NewScoreHist(50)
	for i, s := range scores {
		whole.Add(s, labels[i])
		if i%3 == 0 {
			a.Add(s, labels[i])
		} else {
			b.Add(s, labels[i])
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Pos, whole.Pos) || !slices.Equal(a.Neg, whole.Neg) || a.N != whole.N {
		t.Errorf("merged counts differ from the whole: N %d vs %d", a.N, whole.N)
	}
	if math.Abs(a.LogLoss-whole.LogLoss) > 1e-9*whole.LogLoss {
		t.Errorf("merged LogLoss %v, whole %v", a.LogLoss, whole.LogLoss)
	}
	if a.AUC() != whole.AUC() {
		t.Errorf("merged AUC %v, whole %v", a.AUC(), whole.AUC())
	}

	// Reduction from a zero value adopts the bins.
	var total ScoreHist
	if err := total.Merge(whole); err != nil {
		t.Fatalf("Merge into zero value: %v", err)
	}
	if !slices.Equal(total.Pos, whole.Pos) || total.N != whole.N {
		t.Errorf("zero-value merge lost counts")
	}
	total.Pos[0]++ // must not alias whole
	if total.Pos[0] == whole.Pos[0] {
		t.Errorf("Merge into zero value aliases the source bins")
	}

	// Mismatched bins are an error and leave h unchanged.
	c := NewScoreHist(10)
	c.Add(0.5, true)
	if err := c.Merge(NewScoreHist(20)); err == nil {
		t.Error("Merge of 20 bins into 10: no error")
	}
	if err := c.Merge(ScoreHist{Pos: make([]int64, 10), Neg: make([]int64, 9)}); err == nil {
		t.Error("Merge of malformed histogram: no error")
	}
	if c.N != 1 || c.Pos[5] != 1 {
		t.Errorf("failed Merge changed the histogram: %+v", c)
	}
}

func TestScoreHistJSON(t *testing.T) {
	h := NewScoreHist(3)
	h.Add(0.9, true)
	h.Add(0.1, false)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var g ScoreHist
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Pos, h.Pos) || !slices.Equal(g.Neg, h.Neg) || g.N != h.N || g.LogLoss != h.LogLoss {
		t.Errorf("JSON round trip: got %+v, want %+v (%s)", g, h, b)
	}
}
