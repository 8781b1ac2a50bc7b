// Package metrics evaluates binary scores from aggregates.
//
// Shards score their held-out users and return a ScoreHist, which is small,
// JSON-friendly and mergeable; the workflow merges the histograms of all
// shards and reads AUC and log loss from the result.
package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// LogLossEps bounds scores away from 0 and 1 when computing log loss.
const LogLossEps = 1e-15

// ScoreHist is a histogram of scores by label, plus the summed log loss.
// Bin i of B holds scores in [i/B, (i+1)/B); the last bin also holds 1.
// Scores outside [0, 1] are counted in the first or last bin.
type ScoreHist struct {
	Pos     []int64 `json:"pos"`     // positive rows per bin
	Neg     []int64 `json:"neg"`     // negative rows per bin
	LogLoss float64 `json:"logloss"` // sum of per-row log loss
	N       int64   `json:"n"`       // rows added
}

// NewScoreHist returns an empty histogram with bins equal-width bins over
// [0, 1]. It panics if bins < 1.
func NewScoreHist(bins int) ScoreHist {
	if bins < 1 {
		panic(fmt.Sprintf("metrics: NewScoreHist(%d)", bins))
	}
	return ScoreHist{Pos: make([]int64, bins), Neg: make([]int64, bins)}
}

// Add counts one row with the given score and label. The score is clamped to
// [LogLossEps, 1-LogLossEps] for the log loss. Add panics if score is NaN or
// h has no bins.
func (h *ScoreHist) Add(score float64, label bool) {
	if math.IsNaN(score) {
		panic("metrics: ScoreHist.Add: NaN score")
	}
	bins := len(h.Pos)
	if bins == 0 || len(h.Neg) != bins {
		panic(fmt.Sprintf("metrics: ScoreHist.Add: histogram has %d/%d bins; use NewScoreHist", len(h.Pos), len(h.Neg)))
	}
	b := int(math.Floor(math.Max(0, math.Min(score, 1)) * float64(bins)))
	b = min(b, bins-1)
	p := math.Max(LogLossEps, math.Min(score, 1-LogLossEps))
	if label {
		h.Pos[b]++
		h.LogLoss -= math.Log(p)
	} else {
		h.Neg[b]++
		h.LogLoss -= math.Log1p(-p)
	}
	h.N++
}

// Merge adds the counts of o to h. The bins must match, except that an empty
// zero ScoreHist takes the bins of o, so reductions can start from a zero
// value. On error h is unchanged.
func (h *ScoreHist) Merge(o ScoreHist) error {
	if len(o.Pos) != len(o.Neg) {
		return fmt.Errorf("metrics: Merge: malformed histogram with %d positive and %d negative bins", len(o.Pos), len(o.Neg))
	}
	if len(h.Pos) == 0 && len(h.Neg) == 0 && h.N == 0 && h.LogLoss == 0 {
		h.Pos = make([]int64, len(o.Pos))
		h.Neg = make([]int64, len(o.Neg))
	}
	if len(h.Pos) != len(o.Pos) || len(h.Neg) != len(o.Neg) {
		return fmt.Errorf("metrics: Merge: %d bins into %d", len(o.Pos), len(h.Pos))
	}
	for i := range o.Pos {
		h.Pos[i] += o.Pos[i]
		h.Neg[i] += o.Neg[i]
	}
	h.LogLoss += o.LogLoss
	h.N += o.N
	return nil
}

// AUC returns the area under the ROC curve estimated from the histogram:
// pairs in different bins are ordered by bin, pairs in the same bin count
// half. It is NaN without both positives and negatives, or if the histogram
// is malformed (Pos and Neg of different lengths).
func (h ScoreHist) AUC() float64 {
	if len(h.Pos) != len(h.Neg) {
		return math.NaN()
	}
	var pos, neg, below, wins float64
	for i := range h.Pos {
		p, n := float64(h.Pos[i]), float64(h.Neg[i])
		wins += p * (below + n/2)
		below += n
		pos += p
	}
	neg = below
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return wins / (pos * neg)
}

// MeanLogLoss returns the mean log loss per row, or NaN if h is empty.
func (h ScoreHist) MeanLogLoss() float64 {
	if h.N == 0 {
		return math.NaN()
	}
	return h.LogLoss / float64(h.N)
}

// AUC returns the exact area under the ROC curve of scores against labels:
// the probability that a random positive scores above a random negative, ties
// counting half (the Mann-Whitney statistic). It is NaN without both
// positives and negatives, and panics if the lengths differ or a score is
// NaN.
func AUC(scores []float64, labels []bool) float64 {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("metrics: AUC: %d scores, %d labels", len(scores), len(labels)))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		if math.IsNaN(scores[i]) {
			panic("metrics: AUC: NaN score")
		}
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var pos, below, wins float64
	for i := 0; i < len(idx); {
		// One group of tied scores.
		var p, n float64
		j := i
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if labels[idx[j]] {
				p++
			} else {
				n++
			}
		}
		wins += p * (below + n/2)
		below += n
		pos += p
		i = j
	}
	if pos == 0 || below == 0 {
		return math.NaN()
	}
	return wins / (pos * below)
}
