package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"
)

// TestAUCMatchesGonum checks the exact and histogram AUC against gonum's ROC
// curve integrated by the trapezoidal rule, an independent reference.
func TestAUCMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 5000
	scores := make([]float64, n)
	labels := make([]bool, n)
	h := NewScoreHist(1000)
	for i := range scores {
		labels[i] = rng.Float64() < 0.3
		s := rng.NormFloat64()*0.15 + 0.4
		if labels[i] {
			s += 0.15
		}
		scores[i] = math.Min(1, math.Max(0, s))
		h.Add(scores[i], labels[i])
	}
	// stat.ROC wants the scores sorted ascending, with their classes.
	sorted := append([]float64(nil), scores...)
	classes := append([]bool(nil), labels...)
	stat.SortWeightedLabeled(sorted, classes, nil)
	tpr, fpr, _ := stat.ROC(nil, sorted, classes, nil)
	ref := integrate.Trapezoidal(fpr, tpr)
	if got := AUC(scores, labels); math.Abs(got-ref) > 1e-9 {
		t.Errorf("exact AUC %.12f, gonum %.12f", got, ref)
	}
	if got := h.AUC(); math.Abs(got-ref) > 0.005 {
		t.Errorf("histogram AUC %.6f, gonum %.6f", got, ref)
	}
}
