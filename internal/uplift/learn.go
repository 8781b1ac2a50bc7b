package uplift

import (
	"fmt"
	"math"
	"slices"

	"github.com/promoflow/promoflow/internal/forest"
)

// Learner names.
const (
	TLearner  = "t"  // per-arm outcome forests; effect = difference of predictions
	XLearner  = "x"  // effects imputed from the other group's outcome model, regressed, blended
	DRLearner = "dr" // doubly robust pseudo-outcomes regressed on the features
	// AvgLearner averages the effects of the other learners requested: their
	// errors are partly independent, so the mean ranks users better than
	// each (on generated data it beat every single learner).
	AvgLearner = "avg"
)

// Learners lists the learners Analyze compares by default, in order of
// preference on ties.
var Learners = []string{TLearner, XLearner, DRLearner, AvgLearner}

// Config controls fitting and evaluation. Zero fields take defaults.
type Config struct {
	Folds      int       // cross-fitting folds; 0 means 5
	Seed       int64     // folds, forests and bootstrap derive from it
	Trees      int       // trees per forest; 0 means 100
	MaxDepth   int       // 0 means 10
	MinLeaf    int       // outcome models' minimum leaf; 0 means max(25, rows/500)
	EffectLeaf int       // effect models' (X, DR) minimum leaf; 0 means 4*MinLeaf
	Learners   []string  // nil means Learners
	Budgets    []float64 // fractions of users who may be treated; nil means 0.1, 0.2, 0.3, 0.5, 1
	Bootstrap  int       // bootstrap resamples for intervals; 0 means 400
}

// WithDefaults returns c with zero fields filled in.
func (c Config) WithDefaults() Config {
	if c.Folds == 0 {
		c.Folds = 5
	}
	if c.Trees == 0 {
		c.Trees = 100
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 10
	}
	if c.Learners == nil {
		c.Learners = Learners
	}
	if c.Budgets == nil {
		c.Budgets = []float64{0.1, 0.2, 0.3, 0.5, 1}
	}
	if c.Bootstrap == 0 {
		c.Bootstrap = 400
	}
	return c
}

// Validate reports what is wrong with c after WithDefaults.
func (c Config) Validate() error {
	for _, l := range c.Learners {
		if !slices.Contains(Learners, l) {
			return fmt.Errorf("uplift: unknown learner %q (known: %v)", l, Learners)
		}
	}
	if len(c.Learners) == 0 {
		return fmt.Errorf("uplift: no learners")
	}
	if slices.Contains(c.Learners, AvgLearner) && len(c.Learners) < 2 {
		return fmt.Errorf("uplift: learner %q averages the others, but none is requested", AvgLearner)
	}
	for i, l := range c.Learners {
		if slices.Contains(c.Learners[:i], l) {
			return fmt.Errorf("uplift: learner %q twice", l)
		}
	}
	for _, b := range c.Budgets {
		if !(b > 0 && b <= 1) {
			return fmt.Errorf("uplift: budget %v, want (0, 1]", b)
		}
	}
	if c.Folds < 2 || c.Trees < 1 || c.Bootstrap < 10 {
		return fmt.Errorf("uplift: folds %d, trees %d, bootstrap %d: want at least 2, 1, 10", c.Folds, c.Trees, c.Bootstrap)
	}
	return nil
}

// forRows fills in the leaf sizes for a history of n rows: larger
// histories get larger leaves, which estimate effects (small differences of
// noisy means) more stably.
func (c Config) forRows(n int) Config {
	if c.MinLeaf == 0 {
		c.MinLeaf = max(25, n/500)
	}
	if c.EffectLeaf == 0 {
		c.EffectLeaf = 4 * c.MinLeaf
	}
	return c
}

// params returns forest parameters for a model of the given stage, arm and
// fold, seeded from the run seed, so that every model is reproducible on
// its own.
func (c Config) params(minLeaf, d int, stage string, arm, fold int) forest.Params {
	seed := uint64(c.Seed)
	for _, b := range []byte(stage) {
		seed = seed*1_000_003 + uint64(b)
	}
	seed = seed*1_000_003 + uint64(arm)*1009 + uint64(fold)
	return forest.Params{
		Trees: c.Trees, Criterion: forest.Variance, MaxDepth: c.MaxDepth, MinLeaf: minLeaf,
		MaxFeatures: max(1, int(math.Ceil(float64(d)/3))), Bootstrap: true, Seed: seed,
	}
}

// Matrix bins d's features once for every forest of an analysis: bins come
// from the feature values of all rows, never from outcomes.
func Matrix(d *Data) (*forest.Matrix, error) {
	bins, err := forest.ExactBins(d.X, len(d.Features), 0)
	if err != nil {
		return nil, err
	}
	return forest.NewMatrix(d.X, d.Features, bins)
}

// FoldRows returns the rows in fold k, in row order.
func (d *Data) FoldRows(k int) []int {
	var out []int
	for i, f := range d.Fold {
		if f == k {
			out = append(out, i)
		}
	}
	return out
}

// outcomes fits, for every arm, an outcome forest on that arm's rows in
// no fold of skip, and returns its predictions for rows: mu[j][a] for
// rows[j]. An arm without training rows predicts the mean outcome of all
// training rows. stage and id seed the forests.
func outcomes(d *Data, m *forest.Matrix, skip []int, rows []int, cfg Config, stage string, id int) ([][]float64, error) {
	mu := make([][]float64, len(rows))
	for j := range mu {
		mu[j] = make([]float64, len(d.Arms))
	}
	for a := range d.Arms {
		var train []int
		var all float64
		var nAll int
		for i := range d.A {
			if slices.Contains(skip, d.Fold[i]) {
				continue
			}
			all += d.Y[i]
			nAll++
			if d.A[i] == a {
				train = append(train, i)
			}
		}
		if len(train) == 0 {
			for j := range rows {
				mu[j][a] = all / float64(max(nAll, 1))
			}
			continue
		}
		f, err := forest.Fit(m, d.Y, train, cfg.params(cfg.MinLeaf, len(d.Features), stage, a, id))
		if err != nil {
			return nil, fmt.Errorf("uplift: outcome model of arm %q: %w", d.Arms[a], err)
		}
		pred := make([]float64, len(rows))
		f.PredictBatch(d.rowsOf(rows), pred)
		for j := range rows {
			mu[j][a] = pred[j]
		}
	}
	return mu, nil
}

// FoldResult is the cross-fitting of one fold: predictions for its rows
// (FoldRows order) from models that never saw them.
type FoldResult struct {
	Mu  [][]float64            // outcome prediction per arm
	Tau map[string][][]float64 // per learner, effect per arm beyond control
}

// Fold cross-fits fold k. Outcome forests per arm, fit on the other folds,
// predict the fold's outcomes (Mu; the T-learner's effects are their
// differences). The X- and DR-learners are fit on the other folds too;
// the outcome predictions their training targets need come from inner
// cross-fitting that also leaves fold k out (for a training row in fold j,
// models fit on the folds other than j and k), so no outcome of fold k
// reaches the effects predicted for it, and the evaluation of those
// effects on fold k is honest.
func Fold(d *Data, m *forest.Matrix, k int, cfg Config) (*FoldResult, error) {
	cfg = cfg.WithDefaults().forRows(d.Rows())
	rows := d.FoldRows(k)
	mu, err := outcomes(d, m, []int{k}, rows, cfg, "mu", k)
	if err != nil {
		return nil, fmt.Errorf("fold %d: %w", k, err)
	}
	res := &FoldResult{Mu: mu, Tau: map[string][][]float64{}}
	arms := len(d.Arms)
	var inner [][]float64 // per row, inner out-of-fold outcome predictions; nil in fold k
	for _, l := range cfg.Learners {
		if l != TLearner && inner == nil {
			inner = make([][]float64, d.Rows())
			for j := range d.Folds {
				if j == k {
					continue
				}
				jr := d.FoldRows(j)
				pred, err := outcomes(d, m, []int{k, j}, jr, cfg, "mu-inner", k*d.Folds+j)
				if err != nil {
					return nil, fmt.Errorf("fold %d, inner fold %d: %w", k, j, err)
				}
				for t, i := range jr {
					inner[i] = pred[t]
				}
			}
		}
		tau := make([][]float64, len(rows))
		for j := range tau {
			tau[j] = make([]float64, arms-1)
		}
		switch l {
		case TLearner:
			for j := range rows {
				for a := 1; a < arms; a++ {
					tau[j][a-1] = mu[j][a] - mu[j][0]
				}
			}
		case XLearner, DRLearner:
			if err := effects(l, d, m, inner, k, rows, tau, cfg); err != nil {
				return nil, fmt.Errorf("fold %d: %w", k, err)
			}
		case AvgLearner:
			continue // below, once the others are known
		default:
			return nil, fmt.Errorf("uplift: unknown learner %q", l)
		}
		res.Tau[l] = tau
	}
	if slices.Contains(cfg.Learners, AvgLearner) {
		var others []string
		for _, l := range cfg.Learners {
			if l != AvgLearner {
				others = append(others, l)
			}
		}
		avg := make([][]float64, len(rows))
		for j := range avg {
			avg[j] = make([]float64, arms-1)
			for _, l := range others {
				for a, v := range res.Tau[l][j] {
					avg[j][a] += v
				}
			}
			for a := range avg[j] {
				avg[j][a] /= float64(len(others))
			}
		}
		res.Tau[AvgLearner] = avg
	}
	return res, nil
}

// effects fits the X- or DR-learner on the rows outside fold k, with
// training targets from the inner outcome predictions mu, and fills tau for
// rows (the fold's).
func effects(learner string, d *Data, m *forest.Matrix, mu [][]float64, k int, rows []int, tau [][]float64, cfg Config) error {
	arms := len(d.Arms)
	share := make([]float64, arms)
	for _, a := range d.A {
		share[a]++
	}
	for a := 1; a < arms; a++ {
		switch learner {
		case XLearner:
			// tau1 from treated rows: y - mu0; tau0 from control rows:
			// mu_a - y; blended with g = e_a/(e_a+e_0).
			target := make([]float64, len(d.Y))
			var treated, control []int
			for i := range d.A {
				if d.Fold[i] == k {
					continue
				}
				switch d.A[i] {
				case a:
					target[i] = d.Y[i] - mu[i][0]
					treated = append(treated, i)
				case 0:
					target[i] = mu[i][a] - d.Y[i]
					control = append(control, i)
				}
			}
			g := share[a] / (share[a] + share[0])
			t1, err := fitOrMean(m, target, treated, cfg.params(cfg.EffectLeaf, len(d.Features), "x1", a, k))
			if err != nil {
				return fmt.Errorf("uplift: x-learner arm %q: %w", d.Arms[a], err)
			}
			t0, err := fitOrMean(m, target, control, cfg.params(cfg.EffectLeaf, len(d.Features), "x0", a, k))
			if err != nil {
				return fmt.Errorf("uplift: x-learner arm %q: %w", d.Arms[a], err)
			}
			xs := d.rowsOf(rows)
			p0, p1 := t0(xs), t1(xs)
			for j := range rows {
				tau[j][a-1] = g*p0[j] + (1-g)*p1[j]
			}
		case DRLearner:
			target := make([]float64, len(d.Y))
			var train []int
			for i := range d.A {
				if d.Fold[i] == k {
					continue
				}
				phi := mu[i][a] - mu[i][0]
				switch d.A[i] {
				case a:
					phi += (d.Y[i] - mu[i][a]) / d.P[i]
				case 0:
					phi -= (d.Y[i] - mu[i][0]) / d.P[i]
				}
				target[i] = phi
				train = append(train, i)
			}
			f, err := fitOrMean(m, target, train, cfg.params(cfg.EffectLeaf, len(d.Features), "dr", a, k))
			if err != nil {
				return fmt.Errorf("uplift: dr-learner arm %q: %w", d.Arms[a], err)
			}
			for j, v := range f(d.rowsOf(rows)) {
				tau[j][a-1] = v
			}
		}
	}
	return nil
}

// fitOrMean fits a regression forest of target on rows, or, without rows,
// predicts 0. It returns a function that predicts a batch of feature rows.
func fitOrMean(m *forest.Matrix, target []float64, rows []int, p forest.Params) (func([][]float64) []float64, error) {
	if len(rows) == 0 {
		return func(xs [][]float64) []float64 { return make([]float64, len(xs)) }, nil
	}
	f, err := forest.Fit(m, target, rows, p)
	if err != nil {
		return nil, err
	}
	return func(xs [][]float64) []float64 {
		out := make([]float64, len(xs))
		f.PredictBatch(xs, out)
		return out
	}, nil
}

// rowsOf returns the feature rows of rows.
func (d *Data) rowsOf(rows []int) [][]float64 {
	xs := make([][]float64, len(rows))
	for j, i := range rows {
		xs[j] = d.X[i]
	}
	return xs
}

// Gather places per-fold predictions (FoldRows order, one slice per fold)
// back in row order.
func Gather(d *Data, perFold [][][]float64) ([][]float64, error) {
	out := make([][]float64, d.Rows())
	for k, preds := range perFold {
		rows := d.FoldRows(k)
		if len(rows) != len(preds) {
			return nil, fmt.Errorf("uplift: fold %d has %d rows but %d predictions", k, len(rows), len(preds))
		}
		for j, i := range rows {
			out[i] = preds[j]
		}
	}
	for i, p := range out {
		if p == nil {
			return nil, fmt.Errorf("uplift: row %d has no prediction", i)
		}
	}
	return out, nil
}
