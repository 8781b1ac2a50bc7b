package uplift

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/forest"
)

// samePrediction reports whether two predictions are bit-identical.
func samePrediction(a, b Prediction) bool {
	if !sameFloats(a.Base, b.Base) || len(a.Effect) != len(b.Effect) {
		return false
	}
	for k, v := range a.Effect {
		if !sameFloats(v, b.Effect[k]) {
			return false
		}
	}
	return true
}

// TestModelRoundTrip fits every learner, weighted and not, with forests
// and with boosters as the base learner, on all rows, and checks that the model predicts bit-identically after a JSON round
// trip and when fit again with the same seed, that FitWith with
// Analyze's out-of-fold predictions makes the same model, and that the
// avg model's effects are its members' smoothed (checkAvgModel).
func TestModelRoundTrip(t *testing.T) {
	d, _ := simple(1500, 6, true)
	probe := d.rowsOf(d.FoldRows(0))
	probe = append(probe, []float64{math.NaN(), 0.5, 1, 0, 0}, []float64{2, -1, 0, 0, 1})
	for _, tc := range []struct {
		weighting string
		name      string // Config.BaseName, the encoding's key of a part
	}{
		{WeightNone, BaseForest},
		{WeightIPW, BaseForest},
		{WeightIPW, BaseGBDT},
		{WeightNone, BaseBlend},
	} {
		weighting := tc.weighting
		cfg := Config{Seed: 4, Trees: 8, Bootstrap: 50, Weighting: weighting, BaseName: tc.name}
		res, err := Analyze(d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		preds := map[string]Prediction{}
		models := map[string]*Model{}
		for _, l := range Learners {
			t.Run(tc.name+"/"+weighting+"/"+l, func(t *testing.T) {
				md, err := Fit(d, nil, l, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if md.Learner() != l || md.Weighting() != weighting || !slices.Equal(md.Arms(), d.Arms) || !slices.Equal(md.Features(), d.Features) {
					t.Errorf("model %s %s %q %q", md.Learner(), md.Weighting(), md.Arms(), md.Features())
				}
				p := md.Predict(probe)
				preds[l] = p
				models[l] = md
				if len(p.Base) != len(probe) || len(p.Effect) != len(d.Arms)-1 || len(p.Effect["2"]) != len(probe) {
					t.Fatalf("prediction shape: %d base, effects %d", len(p.Base), len(p.Effect))
				}
				data, err := json.Marshal(md)
				if err != nil {
					t.Fatal(err)
				}
				if want := `{"` + tc.name + `":`; !bytes.Contains(data, []byte(want)) {
					t.Errorf("the encoding has no %s part", want)
				}
				var back Model
				if err := json.Unmarshal(data, &back); err != nil {
					t.Fatal(err)
				}
				if !samePrediction(back.Predict(probe), p) {
					t.Error("decoded model predicts differently")
				}
				again, err := Fit(d, nil, l, cfg)
				if err != nil {
					t.Fatal(err)
				}
				data2, _ := json.Marshal(again)
				if !bytes.Equal(data, data2) {
					t.Error("two fits with the same seed differ")
				}
				with, err := FitWith(d, nil, l, cfg, res.Mu)
				if err != nil {
					t.Fatal(err)
				}
				if data3, _ := json.Marshal(with); !bytes.Equal(data, data3) {
					t.Error("FitWith(Result.Mu) differs from Fit")
				}
				other := cfg
				other.Seed++
				if o, _ := Fit(d, nil, l, other); samePrediction(o.Predict(probe), p) {
					t.Error("another seed predicts the same")
				}
			})
		}
		checkAvgModel(t, d, models, tc.name+"/"+weighting)
		for _, l := range Learners {
			if !sameFloats(preds[l].Base, preds[TLearner].Base) {
				t.Errorf("%s: %s base differs from t's", weighting, l)
			}
		}
	}
}

// TestModelEffects: on the randomized history of simple, the fitted
// models recover the planted effects: arm 1 adds 0.3 where x0 > 0.5,
// arm 2 adds 0.2 elsewhere.
func TestModelEffects(t *testing.T) {
	d, truth := simple(6000, 2, false)
	for _, l := range Learners {
		md, err := Fit(d, nil, l, Config{Seed: 1, Trees: 30})
		if err != nil {
			t.Fatal(err)
		}
		p := md.Predict(d.X)
		var mse float64
		for i, tr := range truth {
			for a, name := range d.Arms[1:] {
				e := p.Effect[name][i] - tr[a]
				mse += e * e / float64(2*len(truth))
			}
		}
		t.Logf("%s: rmse of effects %.4f", l, math.Sqrt(mse))
		if math.Sqrt(mse) > 0.08 { // predicting 0 scores 0.18
			t.Errorf("%s: rmse of effects %.4f, want <= 0.08 (effects 0, 0.2, 0.3)", l, math.Sqrt(mse))
		}
	}
}

func TestModelDecodeErrors(t *testing.T) {
	d, _ := simple(600, 7, true)
	md, err := Fit(d, nil, XLearner, Config{Seed: 1, Trees: 2})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(md)
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"version", `"version":3`, `"version":1`, "version 1, want 3"},
		{"learner", `"learner":"x"`, `"learner":"q"`, `unknown learner "q"`},
		{"as s", `"learner":"x"`, `"learner":"s"`, "lacks a model"},
		{"as r", `"learner":"x"`, `"learner":"r"`, "lacks a model"},
		{"as dr", `"learner":"x"`, `"learner":"dr"`, "lacks a model"},
		{"as sam", `"learner":"x"`, `"learner":"sam"`, "lacks a model"},
		{"additive column", `"g":{"const":`, `"g":{"additive":{"features":["x0"],"terms":[{"name":"x0","column":3,"coef":[1]}]},"c":`, "column 3 of 1"},
		{"arms", `"arms":["0","1","2"]`, `"arms":["0","1"]`, "for 2 arms"},
		{"features", `"features":["x0"`, `"features":["y0"`, "a model has features"},
		{"part", `{"const":`, `{"forest":{},"const":`, "want one of forest, gbdt, blend, causal, additive and const"},
		{"gbdt part", `{"const":`, `{"gbdt":{"kind":"forest"},"const":`, "want one of forest, gbdt, blend, causal, additive and const"},
		{"empty blend", `"g":{"const":`, `"g":{"blend":[],"c":`, "a blend of no models"},
		{"blend of a constant", `"g":{"const":`, `"g":{"blend":[{"const":1}],"c":`, "a blend of a constant"},
		{"gbdt kind", `"g":{"const":`, `"g":{"gbdt":{"kind":"forest"},"c":`, `kind "forest", want "gbdt"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			if bad == string(good) {
				t.Fatalf("%q not in the encoding", tc.from)
			}
			var m Model
			if err := json.Unmarshal([]byte(bad), &m); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	// A version 2 model of a learner other than avg reads as it did; one
	// of avg (a plain mean, no projection) is refused.
	var v2 Model
	if err := json.Unmarshal([]byte(strings.Replace(string(good), `"version":3`, `"version":2`, 1)), &v2); err != nil {
		t.Errorf("version 2 x-learner model: %v", err)
	} else if probe := d.rowsOf(d.FoldRows(1)); !samePrediction(v2.Predict(probe), md.Predict(probe)) {
		t.Error("version 2 x-learner model predicts differently")
	}
	avg, err := Fit(d, nil, AvgLearner, Config{Seed: 1, Trees: 2})
	if err != nil {
		t.Fatal(err)
	}
	avgJSON, _ := json.Marshal(avg)
	err = json.Unmarshal([]byte(strings.Replace(string(avgJSON), `"version":3`, `"version":2`, 1)), &Model{})
	if err == nil || !strings.Contains(err.Error(), "version 2 of learner avg") {
		t.Errorf("version 2 avg model: err %v, want a refusal", err)
	}
	if _, err := Fit(d, nil, "q", Config{}); err == nil {
		t.Error("Fit accepted learner q")
	}
	if _, err := FitWith(d, nil, DRLearner, Config{Trees: 1}, [][]float64{{0, 0, 0}}); err == nil {
		t.Error("FitWith accepted one row of outcome predictions")
	}
}

// countingBase is Forests, counting its fits.
type countingBase struct{ fits *int }

func (c countingBase) Fit(m *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error) {
	*c.fits++
	return Forests{}.Fit(m, target, rows, p)
}

// meanModel predicts a constant.
type meanModel float64

func (v meanModel) PredictBatch(xs [][]float64, out []float64) {
	for j := range out {
		out[j] = float64(v)
	}
}

// meanBase fits the weighted mean of the target.
type meanBase struct{}

func (meanBase) Fit(_ *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error) {
	var s, w float64
	for _, i := range rows {
		wi := 1.0
		if p.Weights != nil {
			wi = p.Weights[i]
		}
		s += wi * target[i]
		w += wi
	}
	return meanModel(s / w), nil
}

// TestBaseLearner: every model goes through Config.Base; the forests
// behind an adapter give BaseForest's results, another base learner's
// effects are its own (constant means: one effect per arm), and a model of
// a base learner that cannot be encoded says so.
func TestBaseLearner(t *testing.T) {
	d, _ := simple(1500, 6, true)
	cfg := Config{Seed: 4, Trees: 5, Bootstrap: 50, BaseName: BaseForest}
	def, err := Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fits int
	cfg.Base = countingBase{&fits}
	counted, err := Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(def.Report)
	jb, _ := json.Marshal(counted.Report)
	if fits == 0 || !bytes.Equal(ja, jb) {
		t.Errorf("%d fits through the base learner; reports equal: %v", fits, bytes.Equal(ja, jb))
	}
	cfg.Base = meanBase{}
	res, err := Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{TLearner, SLearner, XLearner, RLearner, DRLearner} {
		for a := range d.Arms[1:] {
			first := res.Tau[l][0][a]
			for i, row := range res.Tau[l] {
				if d.Fold[i] == d.Fold[0] && math.Abs(row[a]-first) > 1e-12 {
					t.Fatalf("%s arm %d: effects %v and %v in one fold from constant models", l, a, first, row[a])
				}
			}
		}
	}
	md, err := Fit(d, nil, DRLearner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(md); err == nil || !strings.Contains(err.Error(), "cannot be encoded") {
		t.Errorf("encoding a model of constant means: %v", err)
	}
}

// checkAvgModel checks the avg model of models (every learner fit on all
// rows of d) against its members, the learners of Averaged: its effects
// are additive in the features (the additive learner's and the
// projection of the others', averaged), where the tree members' mean is
// not; and over d's rows their mean is the mean of the additive
// learner's and of the tree members' mean (a least-squares projection
// with an intercept keeps the mean of what it projects).
func checkAvgModel(t *testing.T, d *Data, models map[string]*Model, name string) {
	t.Helper()
	avg := models[AvgLearner]
	trees, _ := smoothed(Averaged)
	// The interaction contrast f(a, b) - f(a, b') - f(a', b) + f(a', b')
	// of x0 and x1 is 0 for an additive f.
	var rows [][]float64
	for _, x := range [][2]float64{{0.2, 0.1}, {0.7, 0.9}, {0.45, 0.55}, {0.9, 0.3}} {
		for _, kind := range [][]float64{{1, 0, 0}, {0, 0, 1}} {
			for _, p := range [][2]float64{{x[0], x[1]}, {x[0], 1 - x[1]}, {1 - x[0], x[1]}, {1 - x[0], 1 - x[1]}} {
				rows = append(rows, append([]float64{p[0], p[1]}, kind...))
			}
		}
	}
	contrast := func(v []float64) float64 {
		var worst float64
		for q := 0; q < len(v); q += 4 {
			worst = max(worst, math.Abs(v[q]-v[q+1]-v[q+2]+v[q+3]))
		}
		return worst
	}
	pa := avg.Predict(rows)
	members := map[string]Prediction{}
	for _, l := range Averaged {
		members[l] = models[l].Predict(rows)
	}
	var treeContrast float64
	for arm, v := range pa.Effect {
		if c := contrast(v); c > 1e-9 {
			t.Errorf("%s arm %s: avg's interaction contrast %g, want 0 (additive)", name, arm, c)
		}
		mean := make([]float64, len(rows))
		for _, l := range trees {
			for j, e := range members[l].Effect[arm] {
				mean[j] += e / float64(len(trees))
			}
		}
		treeContrast = max(treeContrast, contrast(mean))
	}
	if treeContrast < 1e-6 {
		t.Errorf("%s: the tree members' mean is additive too (contrast %g): the check cannot fail", name, treeContrast)
	}
	all := avg.Predict(d.X)
	for arm, v := range all.Effect {
		var got, sam, tree float64
		for j := range v {
			got += v[j]
		}
		for _, e := range models[AdditiveLearner].Predict(d.X).Effect[arm] {
			sam += e
		}
		for _, l := range trees {
			for _, e := range models[l].Predict(d.X).Effect[arm] {
				tree += e / float64(len(trees))
			}
		}
		n := float64(len(v))
		if want := (sam + tree) / 2 / n; math.Abs(got/n-want) > 1e-9 {
			t.Errorf("%s arm %s: avg's mean effect %v, want %v (the additive learner's %v, the trees' %v)", name, arm, got/n, want, sam/n, tree/n)
		}
	}
}
