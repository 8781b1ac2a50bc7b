package uplift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/promoflow/promoflow/internal/additive"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/causalforest"
	"github.com/promoflow/promoflow/internal/forest"
)

// Model is a learner fit on every row of a history, to predict new users:
// their outcome without an offer and each offer's effect on it. Fit
// makes one; it encodes as JSON (MarshalJSON) so one process can fit it
// and another predict with it.
type Model struct {
	learner   string
	others    []string // the learners AvgLearner averages
	arms      []string
	features  []string
	weighting string
	mu        []*part       // outcome model per arm; nil where not fitted
	effects   []effectModel // per arm beyond control, X, R and DR parts
	s         *part         // the S-learner's forest (sFeatures); nil unless fitted
}

// Prediction is a Model's prediction for a batch of users.
type Prediction struct {
	// Base is each user's predicted outcome under control (no offer).
	Base []float64
	// Effect is, per arm beyond control (by name), each user's predicted
	// effect of that arm on the outcome.
	Effect map[string][]float64
}

// Fit fits learner on all rows of d, to predict new users; m is d's
// Matrix (nil means Matrix(d)). cfg is the configuration of the analysis
// that chose the learner: its seed, forests, leaves and weighting apply.
//
// Outcome forests per arm are fit on every row (the T-learner, and the
// base outcome of every learner). The X- and DR-learners' training
// targets need outcome predictions that did not see the row: they come
// from cross-fitting over d's folds, the out-of-fold predictions of
// Analyze (Result.Mu), which FitWith accepts to save their cost. For
// AvgLearner, the learners it averages (Averaged among cfg.Learners) are
// fit, and their effects averaged, as in Fold. Fit is deterministic for cfg.Seed.
func Fit(d *Data, m *forest.Matrix, learner string, cfg Config) (*Model, error) {
	return FitWith(d, m, learner, cfg, nil)
}

// FitWith is Fit with every row's out-of-fold outcome predictions per arm
// given: mu is Result.Mu of Analyze or Combine run with the same cfg on
// d, which makes the same predictions Fit would compute. nil mu means
// compute them.
func FitWith(d *Data, m *forest.Matrix, learner string, cfg Config, mu [][]float64) (*Model, error) {
	cfg = cfg.WithDefaults().forData(d)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !slices.Contains(Learners, learner) {
		return nil, fmt.Errorf("uplift: unknown learner %q (known: %v)", learner, Learners)
	}
	if m == nil {
		var err error
		if m, err = Matrix(d); err != nil {
			return nil, err
		}
	}
	md := &Model{learner: learner, arms: slices.Clone(d.Arms), features: slices.Clone(d.Features), weighting: cfg.weighting(d)}
	fits := []string{learner}
	if learner == AvgLearner {
		md.others = cfg.averaged()
		fits = md.others
	}
	// The final models take seeds of a fold index no fold has.
	final := d.Folds
	var err error
	md.mu, err = outcomeModels(d, m, nil, func(int) bool { return slices.Contains(fits, TLearner) }, cfg, "mu", final)
	if err != nil {
		return nil, fmt.Errorf("uplift: final fit: %w", err)
	}
	md.effects = make([]effectModel, len(d.Arms)-1)
	var e [][]float64 // the R-learner's cross-fitted propensities, if logged
	for _, l := range fits {
		switch l {
		case TLearner:
			continue
		case SLearner:
			if md.s, err = sModel(d, final, cfg); err != nil {
				return nil, fmt.Errorf("uplift: final fit: %w", err)
			}
			continue
		case RLearner, CFLearner, AdditiveLearner:
			if d.Logged && e == nil {
				if e, err = crossFitPropensities(d, m, cfg); err != nil {
					return nil, err
				}
			}
		}
		if mu == nil {
			if mu, err = crossFit(d, m, cfg); err != nil {
				return nil, err
			}
		}
		if len(mu) != d.Rows() {
			return nil, fmt.Errorf("uplift: %d out-of-fold outcome predictions for %d rows", len(mu), d.Rows())
		}
		for i, row := range mu {
			if len(row) != len(d.Arms) {
				return nil, fmt.Errorf("uplift: row %d has %d outcome predictions for %d arms", i, len(row), len(d.Arms))
			}
		}
		models, err := effectModels(l, d, m, mu, e, final, cfg)
		if err != nil {
			return nil, fmt.Errorf("uplift: final fit: %w", err)
		}
		for a, em := range models {
			switch l {
			case DRLearner:
				md.effects[a].dr = em.dr
			case RLearner:
				md.effects[a].r = em.r
			case CFLearner:
				md.effects[a].cf = em.cf
			case AdditiveLearner:
				md.effects[a].sam = em.sam
			default:
				md.effects[a].x1, md.effects[a].x0, md.effects[a].g = em.x1, em.x0, em.g
			}
		}
	}
	if learner == AvgLearner {
		// The projection of the fitted members, on every row, as Fold
		// projects them on its training rows. Predict reads the projection
		// and not the tree members, so their parts are not kept: the
		// encoding would carry every member's trees.
		smooth, err := fitSmoothing(d, d.rowsOutside(final), md.others, md.effectRows)
		if err != nil {
			return nil, fmt.Errorf("uplift: final fit: %w", err)
		}
		for a, p := range smooth {
			md.effects[a].smooth = p
		}
		trees, _ := smoothed(md.others)
		for _, l := range trees {
			md.drop(l)
		}
	}
	return md, nil
}

// drop removes tree learner l's parts from md; control's outcome model,
// every prediction's base, stays.
func (md *Model) drop(l string) {
	switch l {
	case TLearner:
		clear(md.mu[1:])
	case SLearner:
		md.s = nil
	}
	for a := range md.effects {
		e := &md.effects[a]
		switch l {
		case XLearner:
			e.x1, e.x0, e.g = nil, nil, nil
		case DRLearner:
			e.dr = nil
		case RLearner:
			e.r = nil
		case CFLearner:
			e.cf = nil
		}
	}
}

// crossFit returns every row's out-of-fold outcome predictions per arm:
// for each fold, the outcome forests Fold fits on the other folds (same
// seeds), so they equal Result.Mu.
func crossFit(d *Data, m *forest.Matrix, cfg Config) ([][]float64, error) {
	return outOfFold(d, m, cfg, outcomes, "mu")
}

// crossFitPropensities returns every row's out-of-fold propensities of
// each arm beyond control against control (propensities), fit on the other
// folds.
func crossFitPropensities(d *Data, m *forest.Matrix, cfg Config) ([][]float64, error) {
	return outOfFold(d, m, cfg, propensities, "e")
}

// outOfFold returns every row's predictions by fit (outcomes or
// propensities, under name) fit without the row's fold.
func outOfFold(d *Data, m *forest.Matrix, cfg Config,
	fit func(*Data, *forest.Matrix, []int, []int, Config, string, int) ([][]float64, error), name string) ([][]float64, error) {
	out := make([][]float64, d.Rows())
	for k := range d.Folds {
		rows := d.FoldRows(k)
		pred, err := fit(d, m, []int{k}, rows, cfg, name, k)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		for j, i := range rows {
			out[i] = pred[j]
		}
	}
	return out, nil
}

// Learner returns the learner the model fits.
func (md *Model) Learner() string { return md.learner }

// Arms returns the arm names; the first is control.
func (md *Model) Arms() []string { return slices.Clone(md.arms) }

// Features returns the encoded feature names, the columns of Predict's
// rows.
func (md *Model) Features() []string { return slices.Clone(md.features) }

// Weighting returns the weighting the model was fit with.
func (md *Model) Weighting() string { return md.weighting }

// Predict predicts users from their encoded feature rows (as Data.X,
// columns Features, NaN for missing). It panics if a row has another
// number of values.
func (md *Model) Predict(xs [][]float64) Prediction {
	p := Prediction{Base: md.mu[0].predict(xs), Effect: map[string][]float64{}}
	if md.learner == AvgLearner {
		var smooth []*part
		if trees, _ := smoothed(md.others); len(trees) > 0 {
			for _, e := range md.effects {
				smooth = append(smooth, e.smooth)
			}
		}
		avg := averageEffects(md.others, smooth, xs, len(md.arms)-1, func(l string) [][]float64 { return md.effectRows(l, xs) })
		for a := 1; a < len(md.arms); a++ {
			tau := make([]float64, len(xs))
			for j := range tau {
				tau[j] = avg[j][a-1]
			}
			p.Effect[md.arms[a]] = tau
		}
		return p
	}
	for a := 1; a < len(md.arms); a++ {
		p.Effect[md.arms[a]] = md.effect(md.learner, a, xs)
	}
	return p
}

// effectRows returns single learner l's effects for xs, per row and arm
// beyond control.
func (md *Model) effectRows(l string, xs [][]float64) [][]float64 {
	tau := make([][]float64, len(xs))
	for j := range tau {
		tau[j] = make([]float64, len(md.arms)-1)
	}
	for a := 1; a < len(md.arms); a++ {
		for j, v := range md.effect(l, a, xs) {
			tau[j][a-1] = v
		}
	}
	return tau
}

// effect returns single learner l's effects of arm a for xs.
func (md *Model) effect(l string, a int, xs [][]float64) []float64 {
	switch l {
	case SLearner:
		base, with := md.s.predict(sRows(xs, len(md.arms), 0)), md.s.predict(sRows(xs, len(md.arms), a))
		for j := range with {
			with[j] -= base[j]
		}
		return with
	case TLearner:
	default:
		return md.effects[a-1].predict(l, xs)
	}
	// Beyond control, an outcome model is the arm's residual from
	// control's (outcomeModels): its effect.
	return md.mu[a].predict(xs)
}

// modelVersion is the Model encoding MarshalJSON writes. Version 2: an
// outcome model beyond control's is the arm's residual from control's
// (outcomeModels); a version 1 model would be read wrongly, so it is
// refused. Version 3: AvgLearner's effects are its smoothed members'
// (averageEffects), with their projection per arm ("smooth"). A version 2
// model of another learner reads the same (a published run's models keep
// serving); one of AvgLearner lacks the projection, so it is refused.
const modelVersion = 3

// modelJSON is the encoding of a Model.
type modelJSON struct {
	Version   int      `json:"version"`
	Learner   string   `json:"learner"`
	Averages  []string `json:"averages,omitempty"` // AvgLearner's learners
	Arms      []string `json:"arms"`
	Features  []string `json:"features"`
	Weighting string   `json:"weighting"`
	// Outcome holds per arm the outcome model, null where not fitted:
	// control's outcome, and beyond control the arm's residual from it.
	Outcome []*part `json:"outcome"`
	// Effects holds per arm beyond control the X-, R- and DR-learners'
	// parts.
	Effects []effectJSON `json:"effects"`
	// S is the S-learner's forest, over Features and one indicator
	// column per arm beyond control.
	S *part `json:"s,omitempty"`
}

type effectJSON struct {
	X1  *part `json:"x1,omitempty"`
	X0  *part `json:"x0,omitempty"`
	G   *part `json:"g,omitempty"`
	DR  *part `json:"dr,omitempty"`
	R   *part `json:"r,omitempty"`
	CF  *part `json:"cf,omitempty"`
	SAM *part `json:"sam,omitempty"`
	// Smooth is AvgLearner's projection of its tree members' mean.
	Smooth *part `json:"smooth,omitempty"`
}

// partJSON encodes a part: a forest as forest.Save writes it, a
// gradient-boosted model as boost.Model.Save writes it (its "kind" is
// "gbdt"), a Blend's models (each a part; the part predicts their mean),
// or a constant; exactly one is set.
type partJSON struct {
	Forest   json.RawMessage      `json:"forest,omitempty"`
	GBDT     json.RawMessage      `json:"gbdt,omitempty"`
	Blend    []*part              `json:"blend,omitempty"`
	Causal   *causalforest.Forest `json:"causal,omitempty"`
	Additive *additive.Model      `json:"additive,omitempty"`
	Const    *float64             `json:"const,omitempty"`
}

// MarshalJSON encodes a part.
func (p *part) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	switch r := p.r.(type) {
	case nil:
		return json.Marshal(partJSON{Const: &p.c})
	case *forest.Forest:
		if err := r.Save(&buf); err != nil {
			return nil, err
		}
		return json.Marshal(partJSON{Forest: bytes.TrimSpace(buf.Bytes())})
	case *boost.Model:
		if err := r.Save(&buf); err != nil {
			return nil, err
		}
		return json.Marshal(partJSON{GBDT: bytes.TrimSpace(buf.Bytes())})
	case blendModel:
		parts := make([]*part, len(r))
		for k, m := range r {
			parts[k] = &part{r: m}
		}
		return json.Marshal(partJSON{Blend: parts})
	case *causalforest.Forest:
		return json.Marshal(partJSON{Causal: r})
	case *additive.Model:
		return json.Marshal(partJSON{Additive: r})
	default:
		return nil, fmt.Errorf("uplift: a %T model cannot be encoded", p.r)
	}
}

// UnmarshalJSON decodes a part.
func (p *part) UnmarshalJSON(data []byte) error {
	var pj partJSON
	if err := json.Unmarshal(data, &pj); err != nil {
		return err
	}
	set := 0
	for _, ok := range []bool{pj.Forest != nil, pj.GBDT != nil, pj.Blend != nil, pj.Causal != nil, pj.Additive != nil, pj.Const != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return errors.New("want one of forest, gbdt, blend, causal, additive and const")
	}
	switch {
	case pj.Forest != nil:
		f, err := forest.Load(bytes.NewReader(pj.Forest))
		if err != nil {
			return err
		}
		*p = part{r: f}
	case pj.GBDT != nil:
		b, err := boost.Load(bytes.NewReader(pj.GBDT))
		if err != nil {
			return err
		}
		*p = part{r: b}
	case pj.Blend != nil:
		if len(pj.Blend) == 0 {
			return errors.New("a blend of no models")
		}
		models := make(blendModel, len(pj.Blend))
		for k, q := range pj.Blend {
			if q == nil || q.r == nil {
				return errors.New("a blend of a constant")
			}
			models[k] = q.r
		}
		*p = part{r: models}
	case pj.Causal != nil:
		if err := pj.Causal.Validate(len(pj.Causal.Features)); err != nil {
			return err
		}
		*p = part{r: pj.Causal}
	case pj.Additive != nil:
		if err := pj.Additive.Validate(len(pj.Additive.Features)); err != nil {
			return err
		}
		*p = part{r: pj.Additive}
	default:
		*p = part{c: *pj.Const}
	}
	return nil
}

// MarshalJSON encodes the model: its forests as forest.Save writes them.
func (md *Model) MarshalJSON() ([]byte, error) {
	v := modelJSON{
		Version: modelVersion, Learner: md.learner, Averages: md.others, Arms: md.arms,
		Features: md.features, Weighting: md.weighting, Outcome: md.mu, S: md.s,
	}
	for _, e := range md.effects {
		v.Effects = append(v.Effects, effectJSON{X1: e.x1, X0: e.x0, G: e.g, DR: e.dr, R: e.r, CF: e.cf, SAM: e.sam, Smooth: e.smooth})
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes a model written by MarshalJSON, checking that it
// has every part its learner predicts with, each over its features.
func (md *Model) UnmarshalJSON(data []byte) error {
	var v modelJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("uplift: model: %w", err)
	}
	switch {
	case v.Version == 2 && v.Learner == AvgLearner:
		return fmt.Errorf("uplift: model version 2 of learner avg, want %d: its average is not smoothed; refit it", modelVersion)
	case v.Version != modelVersion && v.Version != 2:
		return fmt.Errorf("uplift: model version %d, want %d", v.Version, modelVersion)
	}
	out := Model{learner: v.Learner, others: v.Averages, arms: v.Arms, features: v.Features, weighting: v.Weighting, mu: v.Outcome, s: v.S}
	for _, e := range v.Effects {
		out.effects = append(out.effects, effectModel{x1: e.X1, x0: e.X0, g: e.G, dr: e.DR, r: e.R, cf: e.CF, sam: e.SAM, smooth: e.Smooth})
	}
	if err := out.validate(); err != nil {
		return fmt.Errorf("uplift: model: %w", err)
	}
	*md = out
	return nil
}

// validate checks that a decoded model can predict.
func (md *Model) validate() error {
	arms := len(md.arms)
	switch {
	case arms < 2:
		return fmt.Errorf("arms %q, want control and at least one offer", md.arms)
	case len(md.features) == 0:
		return errors.New("no features")
	case len(md.mu) != arms || len(md.effects) != arms-1:
		return fmt.Errorf("%d outcome models and %d effect models for %d arms", len(md.mu), len(md.effects), arms)
	}
	var need []*part
	fits := []string{md.learner}
	switch md.learner {
	case AvgLearner:
		if len(md.others) == 0 || slices.Contains(md.others, AvgLearner) {
			return fmt.Errorf("learner avg averages %q", md.others)
		}
		fits = md.others
		if trees, withAdditive := smoothed(md.others); len(trees) > 0 {
			// FitWith drops the tree members' parts: avg predicts with
			// their projection and the additive learner's parts.
			fits = nil
			if withAdditive {
				fits = []string{AdditiveLearner}
			}
			for _, e := range md.effects {
				need = append(need, e.smooth)
			}
		}
	case TLearner, SLearner, XLearner, RLearner, DRLearner, CFLearner, AdditiveLearner:
	default:
		return fmt.Errorf("unknown learner %q", md.learner)
	}
	if slices.Contains(fits, SLearner) {
		if md.s == nil {
			return fmt.Errorf("learner %s lacks a model", md.learner)
		}
		if f, ok := md.s.features(); ok && !slices.Equal(f, sFeatures(md.features, md.arms)) {
			return fmt.Errorf("the s-learner's model has features %q, want %q", f, sFeatures(md.features, md.arms))
		}
	}
	for _, l := range fits {
		switch l {
		case TLearner:
			need = append(need, md.mu...)
		case XLearner:
			for _, e := range md.effects {
				need = append(need, e.x1, e.x0, e.g)
			}
		case DRLearner:
			for _, e := range md.effects {
				need = append(need, e.dr)
			}
		case RLearner:
			for _, e := range md.effects {
				need = append(need, e.r)
			}
		case CFLearner:
			for _, e := range md.effects {
				need = append(need, e.cf)
			}
		case AdditiveLearner:
			for _, e := range md.effects {
				need = append(need, e.sam)
			}
		case SLearner:
		default:
			return fmt.Errorf("unknown learner %q", l)
		}
	}
	need = append(need, md.mu[0])
	for _, p := range need {
		if p == nil {
			return fmt.Errorf("learner %s lacks a model", md.learner)
		}
		if f, ok := p.features(); ok && !slices.Equal(f, md.features) {
			return fmt.Errorf("a model has features %q, want %q", f, md.features)
		}
	}
	return nil
}
