package boost

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
)

// synth draws n rows of d uniform features (a share missing in feature 1)
// and labels from an interaction-heavy logistic function of the first four
// (LogLoss), or that function plus noise (Squared).
func synth(n, d int, loss Loss, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		row := make([]float64, d)
		for j := range row {
			row[j] = rng.Float64()
		}
		f := 2*math.Sin(6*row[0]) + 3*(row[1]-0.5)*(row[2]-0.5)*4 + 2*row[3] - 1
		if rng.Float64() < 0.1 {
			row[1] = math.NaN()
		}
		x[i] = row
		if loss == Squared {
			y[i] = f + rng.NormFloat64()*0.3
		} else if rng.Float64() < sigmoid(f) {
			y[i] = 1
		}
	}
	return x, y
}

func names(d int) []string {
	s := make([]string, d)
	for i := range s {
		s[i] = fmt.Sprintf("x%d", i)
	}
	return s
}

func matrix(t testing.TB, x [][]float64) *forest.Matrix {
	t.Helper()
	d := len(x[0])
	bins, err := forest.ExactBins(x, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := forest.NewMatrix(x, names(d), bins)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func auc(m *Model, x [][]float64, y []float64) float64 {
	s := make([]float64, len(x))
	m.PredictBatch(x, s)
	l := make([]bool, len(y))
	for i, v := range y {
		l[i] = v == 1
	}
	return metrics.AUC(s, l)
}

func mse(m *Model, x [][]float64, y []float64) float64 {
	var s float64
	for i, r := range x {
		e := m.Predict(r) - y[i]
		s += e * e
	}
	return s / float64(len(x))
}

// TestFitLearns checks both losses on held-out rows against the random
// forest on the same bins and against the known noise floor.
func TestFitLearns(t *testing.T) {
	for _, tc := range []struct {
		loss Loss
		// minAUC (LogLoss) or maxMSE (Squared) on held-out rows
		bound float64
	}{
		{LogLoss, 0.80},
		{Squared, 0.3}, // noise 0.09, plus about 0.1 where x1 is missing
	} {
		t.Run(string(tc.loss), func(t *testing.T) {
			x, y := synth(20000, 8, tc.loss, 1)
			xt, yt := synth(5000, 8, tc.loss, 2)
			mdl, err := Fit(matrix(t, x), y, nil, Params{Loss: tc.loss, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(mdl.Trees) == 0 || len(mdl.Trees) > mdl.Rounds || mdl.Rounds > DefaultRounds {
				t.Fatalf("%d trees kept of %d rounds", len(mdl.Trees), mdl.Rounds)
			}
			if !(mdl.Valid > 0) || !(mdl.Train > 0) {
				t.Fatalf("losses train %v valid %v", mdl.Train, mdl.Valid)
			}
			crit := forest.Gini
			if tc.loss == Squared {
				crit = forest.Variance
			}
			rf, err := forest.Fit(matrix(t, x), y, nil, forest.Params{Trees: 100, Criterion: crit, MaxDepth: 12, MinLeaf: 5, Bootstrap: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			ps := make([]float64, len(xt))
			rf.PredictBatch(xt, ps)
			if tc.loss == LogLoss {
				got := auc(mdl, xt, yt)
				l := make([]bool, len(yt))
				for i, v := range yt {
					l[i] = v == 1
				}
				ref := metrics.AUC(ps, l)
				t.Logf("held-out AUC %.4f (forest %.4f), %d trees", got, ref, len(mdl.Trees))
				if got < tc.bound || got < ref {
					t.Errorf("AUC %.4f, want >= %.2f and >= the forest's %.4f", got, tc.bound, ref)
				}
				return
			}
			got := mse(mdl, xt, yt)
			var ref float64
			for i, p := range ps {
				ref += (p - yt[i]) * (p - yt[i])
			}
			ref /= float64(len(ps))
			t.Logf("held-out MSE %.4f (forest %.4f), %d trees", got, ref, len(mdl.Trees))
			if got > tc.bound || got > ref {
				t.Errorf("MSE %.4f, want <= %.2f and <= the forest's %.4f", got, tc.bound, ref)
			}
		})
	}
}

// TestReferenceStump checks one round against the closed form: a squared
// loss stump with learning rate 1 and no penalty splits where the variance
// criterion does, and its leaves hold the children's mean labels.
func TestReferenceStump(t *testing.T) {
	x, y := synth(3000, 5, Squared, 4)
	m := matrix(t, x)
	mdl, err := Fit(m, y, nil, Params{Loss: Squared, Rounds: 1, LearningRate: 1, MaxLeaves: 2, MinLeaf: 1, ValidShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Brute force: every feature, every threshold between distinct bins,
	// missing to either side.
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	bestSSE, bestF, bestT := math.Inf(1), -1, 0.0
	var bestL, bestR float64
	for f := range 5 {
		cuts := m.Bins().Cuts[f]
		for b := range cuts {
			for _, ml := range []bool{true, false} {
				var sl, sr float64
				var nl, nr int
				for i, r := range x {
					left := r[f] <= cuts[b]
					if math.IsNaN(r[f]) {
						left = ml
					}
					if left {
						sl, nl = sl+y[i], nl+1
					} else {
						sr, nr = sr+y[i], nr+1
					}
				}
				if nl == 0 || nr == 0 {
					continue
				}
				sse := -sl*sl/float64(nl) - sr*sr/float64(nr)
				if sse < bestSSE-1e-9 {
					bestSSE, bestF, bestT, bestL, bestR = sse, f, cuts[b], sl/float64(nl), sr/float64(nr)
				}
			}
		}
	}
	if len(mdl.Trees) != 1 {
		t.Fatalf("%d trees, want 1", len(mdl.Trees))
	}
	nd := mdl.Trees[0].Nodes
	if len(nd) != 3 || nd[0].Feature != bestF || nd[0].Threshold != bestT {
		t.Fatalf("root splits feature %d at %v, brute force %d at %v", nd[0].Feature, nd[0].Threshold, bestF, bestT)
	}
	if math.Abs(mdl.Base+nd[1].Value-bestL) > 1e-9 || math.Abs(mdl.Base+nd[2].Value-bestR) > 1e-9 {
		t.Errorf("leaves %v, %v, want means %v, %v", mdl.Base+nd[1].Value, mdl.Base+nd[2].Value, bestL, bestR)
	}
	if math.Abs(mdl.Base-mean) > 1e-9 {
		t.Errorf("base %v, want the mean %v", mdl.Base, mean)
	}
}

// TestReferenceLogOdds checks Newton boosting against the maximum
// likelihood: on one feature with four levels and no penalty, the model
// converges to each level's share of positives.
func TestReferenceLogOdds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	probs := []float64{0.05, 0.3, 0.6, 0.9}
	var x [][]float64
	var y []float64
	pos, cnt := make([]float64, 4), make([]float64, 4)
	for range 8000 {
		k := rng.IntN(4)
		x = append(x, []float64{float64(k)})
		v := 0.0
		if rng.Float64() < probs[k] {
			v = 1
		}
		y = append(y, v)
		pos[k] += v
		cnt[k]++
	}
	mdl, err := Fit(matrix(t, x), y, nil, Params{Rounds: 200, LearningRate: 0.5, MaxLeaves: 4, MinLeaf: 1, ValidShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4 {
		if got, want := mdl.Predict([]float64{float64(k)}), pos[k]/cnt[k]; math.Abs(got-want) > 1e-6 {
			t.Errorf("level %d: P = %v, want the share %v", k, got, want)
		}
	}
}

// TestDeterministic checks that the model does not depend on GOMAXPROCS.
func TestDeterministic(t *testing.T) {
	x, y := synth(10000, 10, LogLoss, 6)
	fit := func(procs int) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		mdl, err := Fit(matrix(t, x), y, nil, Params{Rounds: 30, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := mdl.Save(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if a, b := fit(1), fit(4); a != b {
		t.Error("models differ between GOMAXPROCS 1 and 4")
	}
}

// TestWeightsAsDuplicates checks that a row of weight 2 counts as two rows
// and rows of weight 0 as none.
func TestWeightsAsDuplicates(t *testing.T) {
	x, y := synth(2000, 4, LogLoss, 7)
	w := make([]float64, len(x))
	var dx [][]float64
	var dy []float64
	for i := range x {
		w[i] = float64(i % 3) // 0, 1, 2
		for range i % 3 {
			dx, dy = append(dx, x[i]), append(dy, y[i])
		}
	}
	// Both matrices on the same bins.
	bins, err := forest.ExactBins(x, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := forest.NewMatrix(x, names(4), bins)
	dm, _ := forest.NewMatrix(dx, names(4), bins)
	p := Params{Rounds: 10, MinLeaf: 1, ValidShare: -1}
	a, err := Fit(m, y, w, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(dm, dy, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range x[:200] {
		if pa, pb := a.Predict(r), b.Predict(r); math.Abs(pa-pb) > 1e-9 {
			t.Fatalf("row %d: weighted %v, duplicated %v", i, pa, pb)
		}
	}
}

// TestEarlyStopping checks that noise labels stop training within
// Patience rounds of the best one, which the model keeps.
func TestEarlyStopping(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := make([][]float64, 5000)
	y := make([]float64, len(x))
	for i := range x {
		x[i] = []float64{rng.Float64(), rng.Float64()}
		if rng.Float64() < 0.3 {
			y[i] = 1
		}
	}
	mdl, err := Fit(matrix(t, x), y, nil, Params{Rounds: 300, Patience: 5, MinLeaf: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if mdl.Rounds >= 300 || mdl.Rounds-len(mdl.Trees) != 5 {
		t.Errorf("grew %d rounds, kept %d trees: want a stop 5 rounds after the best", mdl.Rounds, len(mdl.Trees))
	}
}

// TestMissingRouting checks that a missing value is predicted like the
// training rows where it was missing.
func TestMissingRouting(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var x [][]float64
	var y []float64
	for range 4000 {
		v := rng.Float64()
		label := 0.0
		if rng.Float64() < 0.2 {
			v = math.NaN()
			label = 1 // missing means positive
		}
		x = append(x, []float64{v})
		y = append(y, label)
	}
	mdl, err := Fit(matrix(t, x), y, nil, Params{Rounds: 50, ValidShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p := mdl.Predict([]float64{math.NaN()}); p < 0.95 {
		t.Errorf("P(missing) = %v, want > 0.95", p)
	}
	if p := mdl.Predict([]float64{0.5}); p > 0.05 {
		t.Errorf("P(0.5) = %v, want < 0.05", p)
	}
}

// TestSaveLoad checks the round trip, the kind that tells a model from a
// forest, and the rejection of malformed models.
func TestSaveLoad(t *testing.T) {
	x, y := synth(3000, 4, LogLoss, 10)
	mdl, err := Fit(matrix(t, x), y, nil, Params{Rounds: 20})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := mdl.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !IsModel(buf.Bytes()) {
		t.Fatal("IsModel is false for a saved model")
	}
	got, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range x[:100] {
		if a, b := mdl.Predict(r), got.Predict(r); a != b {
			t.Fatalf("loaded model predicts %v, saved %v", b, a)
		}
	}
	rf, err := forest.Train(x, y, names(4), forest.Params{Trees: 2})
	if err != nil {
		t.Fatal(err)
	}
	var fb bytes.Buffer
	if err := rf.Save(&fb); err != nil {
		t.Fatal(err)
	}
	if IsModel(fb.Bytes()) {
		t.Error("IsModel is true for a forest")
	}
	good := buf.String()
	for _, tc := range []struct{ name, from, to string }{
		{"forest", good, fb.String()},
		{"version", `"version":1`, `"version":7`},
		{"loss", `"loss":"logloss"`, `"loss":"hinge"`},
		{"child", `"l":1`, `"l":0`},
		{"feature", `"f":0`, `"f":9`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.to
			if tc.name != "forest" {
				if !strings.Contains(good, tc.from) {
					t.Skipf("%s not in the model", tc.from)
				}
				in = strings.Replace(good, tc.from, tc.to, 1)
			}
			if _, err := Load(strings.NewReader(in)); err == nil {
				t.Error("Load accepted it")
			}
		})
	}
}

// TestParams checks that bad parameters and inputs are refused.
func TestParams(t *testing.T) {
	x, y := synth(100, 4, LogLoss, 11)
	m := matrix(t, x)
	bad := append([]float64(nil), y...)
	bad[3] = 0.5
	for _, tc := range []struct {
		name string
		y, w []float64
		p    Params
	}{
		{"loss", y, nil, Params{Loss: "hinge"}},
		{"leaves", y, nil, Params{MaxLeaves: 1}},
		{"rate", y, nil, Params{LearningRate: -1}},
		{"l2", y, nil, Params{L2: -1}},
		{"valid share", y, nil, Params{ValidShare: 1}},
		{"label", bad, nil, Params{}},
		{"labels", y[:10], nil, Params{}},
		{"weights", y, make([]float64, len(y)), Params{}},
		{"negative weight", y, append([]float64{-1}, make([]float64, len(y)-1)...), Params{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Fit(m, tc.y, tc.w, tc.p); err == nil {
				t.Error("Fit accepted it")
			}
		})
	}
}

// BenchmarkFit boosts 100 rounds on 100,000 rows of 40 features, the size
// of the propensity training at 125,000 users.
func BenchmarkFit(b *testing.B) {
	x, y := synth(100000, 40, LogLoss, 12)
	m := matrix(b, x)
	b.ResetTimer()
	for range b.N {
		if _, err := Fit(m, y, nil, Params{Rounds: 100, ValidShare: -1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictBatch scores 100,000 rows with a 100-tree model.
func BenchmarkPredictBatch(b *testing.B) {
	x, y := synth(100000, 40, LogLoss, 13)
	mdl, err := Fit(matrix(b, x), y, nil, Params{Rounds: 100, ValidShare: -1})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float64, len(x))
	b.ResetTimer()
	for range b.N {
		mdl.PredictBatch(x, out)
	}
}

// TestFolds checks that Folds averages the scores of one model per
// validation fold, each trained on the other folds.
func TestFolds(t *testing.T) {
	x, y := synth(3000, 4, LogLoss, 14)
	m := matrix(t, x)
	p := Params{Rounds: 40, Folds: 3, Seed: 2}
	avg, err := Fit(m, y, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := p.resolve()
	var each []*Model
	rounds, valid := 0, 0.0
	for fold := range 3 {
		b := newBooster(m, y, nil, rp, fold)
		if n := len(b.valid); n < 900 || n > 1100 {
			t.Fatalf("fold %d validates on %d of 3000 rows", fold, n)
		}
		mdl := b.run()
		each = append(each, mdl)
		rounds += mdl.Rounds
		valid += mdl.Valid / 3
	}
	if avg.Rounds != rounds || math.Abs(avg.Valid-valid) > 1e-12 {
		t.Errorf("rounds %d, valid loss %v; want the folds' %d and %v", avg.Rounds, avg.Valid, rounds, valid)
	}
	for i, r := range x[:200] {
		var s float64
		for _, mdl := range each {
			s += mdl.score(r) / 3
		}
		if got := avg.Predict(r); math.Abs(got-sigmoid(s)) > 1e-12 {
			t.Fatalf("row %d: %v, want the folds' mean score's %v", i, got, sigmoid(s))
		}
	}
}
