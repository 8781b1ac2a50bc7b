package uplift

import (
	"fmt"
	"math"
	"slices"

	"github.com/promoflow/promoflow/internal/additive"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/causalforest"
	"github.com/promoflow/promoflow/internal/forest"
)

// Learner names.
const (
	TLearner = "t" // per-arm outcome forests; effect = difference of predictions
	// SLearner fits one outcome forest on the features and the arm (one
	// indicator column per offer); effect = its prediction with the offer
	// minus without.
	SLearner  = "s"
	XLearner  = "x"  // effects imputed from the other group's outcome model, regressed, blended
	DRLearner = "dr" // doubly robust pseudo-outcomes regressed on the features
	// RLearner is Robinson's residual-on-residual learner, per offer on the
	// rows of the offer and control: (y - m(x)) / (t - e(x)) regressed
	// with weights (t - e(x))^2, where m is the cross-fitted outcome
	// without regard to the arm and e the probability of the offer against
	// control (known in a randomized history, a cross-fitted forest when
	// propensities were logged).
	RLearner = "r"
	// CFLearner is a causal forest per offer against control, in the
	// style of grf (internal/causalforest): on the rows of the offer and
	// control, trees split to maximise the heterogeneity of the effect
	// on the R-loss's residuals (outcome minus m(x), arm minus e(x), as
	// the R-learner's), with honest leaves and subsampling; the effect is
	// the forest-weighted residual-on-residual slope.
	CFLearner = "cf"
	// AdditiveLearner fits, per offer against control, a sparse additive
	// effect on the R-learner's residuals (internal/additive): smooth
	// terms of the few features a cross-validated group lasso selects,
	// refit by ridge. Where effects depend smoothly on a few of many
	// features it is more accurate than trees, which spend splits on
	// whatever features the noise favours (docs/EVALUATION.md).
	AdditiveLearner = "sam"
	// AvgLearner averages the effects of the learners of Averaged among
	// those requested (Config.averaged): their errors are partly
	// independent, so the mean ranks users better than each. The tree
	// learners' mean is smoothed first (projected onto additive functions
	// of the features, fitSmoothing) and averaged half and half with the
	// additive learner's (averageEffects); on generated data it came
	// closest to the oracle of all learners.
	AvgLearner = "avg"
)

// Averaged are the learners AvgLearner averages when at least two of them
// are requested: S (one model of every arm's rows, so an effect is one
// model's contrast), X (effect models regressed on imputed effects), the
// causal forest (honest trees split on the R-loss) and the sparse
// additive model (smooth terms of a few selected features, all offers in
// one R-loss): four estimators of different construction, whose errors
// are the least correlated. T's effects are differences of two
// separately fit outcome models whose errors do not cancel, and DR's
// pseudo-outcomes divide outcome residuals by the arm's propensity (by
// 0.2 with five arms): both were the least accurate learners in every
// measurement, and averaging them in pulled the ensemble down. R fits the
// same R-loss as the causal forest with the base learner; with the causal
// forest in its place avg came closer to the oracle on every seed of
// TestPolicyVsOracle, and adding the additive model took it from 0.934
// to 0.944 of the oracle, closer on every seed (docs/EVALUATION.md,
// "Which learners avg averages", "A sparse additive learner"). T, R and
// DR are still fit and compared, and chosen where significantly better.
var Averaged = []string{SLearner, XLearner, CFLearner, AdditiveLearner}

// averaged returns the learners AvgLearner averages: those of Averaged
// among c.Learners when there are at least two, else every learner of
// c.Learners but avg; in c.Learners order.
func (c Config) averaged() []string {
	var pref, others []string
	for _, l := range c.Learners {
		if l == AvgLearner {
			continue
		}
		others = append(others, l)
		if slices.Contains(Averaged, l) {
			pref = append(pref, l)
		}
	}
	if len(pref) >= 2 {
		return pref
	}
	return others
}

// Learners lists the learners Analyze compares by default, in order of
// preference on ties.
var Learners = []string{TLearner, SLearner, XLearner, RLearner, DRLearner, CFLearner, AdditiveLearner, AvgLearner}

// Weighting schemes (Config.Weighting).
const (
	// WeightIPW fits outcome forests and the X-learner's effect forests
	// with row weights 1/P (inverse propensity), so that the rows of each
	// arm stand for all users, not for those the logging policy favoured
	// with that arm. docs/EVALUATION.md has the details.
	WeightIPW = "ipw"
	// WeightNone weighs every row 1.
	WeightNone = "none"
)

// DefaultMinPropensity is the default Config.MinPropensity. With the
// decision's logs (about 0.75 for its offer, 0.01 to 0.02 for an
// exploration offer) it caps an explored row's weight at about 25 times an
// exploited one's instead of 75: on generated confounded histories it
// keeps nearly all of the bias correction and cuts the variance enough
// that effects are more accurate than with 0.01 (docs/EVALUATION.md).
const DefaultMinPropensity = 0.03

// AllFeatures as Config.MaxFeatures has every split consider every
// feature.
const AllFeatures = -1

// Config controls fitting and evaluation. Zero fields take defaults.
type Config struct {
	Folds    int   // cross-fitting folds; 0 means 5
	Seed     int64 // folds, forests and bootstrap derive from it
	Trees    int   // trees per forest; 0 means 100
	MaxDepth int   // 0 means 10
	// MaxFeatures is how many features each split considers: 0 means a
	// third of them, AllFeatures (or more than there are) all of them.
	MaxFeatures int
	MinLeaf     int       // outcome models' minimum leaf; 0 means max(25, rows/500)
	EffectLeaf  int       // effect models' (X, DR) minimum leaf; 0 means 4*MinLeaf
	Learners    []string  // nil means Learners
	Budgets     []float64 // fractions of users who may be treated; nil means 0.1, 0.2, 0.3, 0.5, 1
	Bootstrap   int       // bootstrap resamples for intervals; 0 means 400
	// Weighting is WeightIPW or WeightNone; empty means WeightIPW when the
	// history's propensities were logged (Data.Logged), else WeightNone.
	Weighting string
	// MinPropensity floors the logged propensities in inverse-propensity
	// weights, so no row weighs more than 1/MinPropensity times a row
	// given its arm for certain; 0 means DefaultMinPropensity.
	MinPropensity float64
	// Subsample is the share of its rows each tree draws (with
	// replacement); 0 means 1. Training time falls in proportion;
	// docs/EVALUATION.md has what it costs in accuracy.
	Subsample float64
	// Value is what one unit of the outcome is worth, in the unit of
	// Costs (an order's margin for a 0/1 purchase outcome, 1 for an
	// outcome in money); 0 means 1. It matters only with Costs.
	Value float64
	// Costs is, by arm name beyond control, what giving the arm to one
	// user costs, in the unit of Value; arms not named cost nothing. With
	// costs a user's score for an arm is its value net of cost, effect x
	// Value - cost: policies rank users and pick arms by it and treat only
	// where it is positive, and policy values are net of cost (Net).
	Costs map[string]float64
	// BaseName names the base learner of every model (BaseForest,
	// BaseGBDT or BaseBlend); empty means DefaultBase(d) for the history
	// d. Base, when set, takes its place.
	BaseName string `json:"base,omitempty"`
	// Base is the base learner of every model; nil means the one BaseName
	// names. It is not encoded: a workflow's activities use BaseName.
	Base BaseLearner `json:"-"`
}

// Base learner names (Config.BaseName).
const (
	BaseForest = "forest" // random forests (Forests)
	BaseGBDT   = "gbdt"   // gradient-boosted trees (Boosters with DefaultBoost)
	BaseBlend  = "blend"  // the mean of both (Blend)
)

// DefaultBase returns the base learner of a Config without BaseName for
// the history d: BaseGBDT where the history was randomized, BaseForest
// where its propensities were logged (Data.Logged). On randomized
// histories the boosters' policies came closer to the oracle (0.925
// against 0.908 on TestPolicyVsOracle); on confounded ones, where an
// offer was rarely given to some users, their small trees of large
// leaves borrowed its effect from elsewhere and forests' did not
// (TestIPWRecoversPlantedEffect, TestRLearnerLogged;
// docs/EVALUATION.md, "Base learners").
func DefaultBase(d *Data) string {
	if d.Logged {
		return BaseForest
	}
	return BaseGBDT
}

// base returns the base learner c names (after forData).
func (c Config) base() (BaseLearner, error) {
	if c.Base != nil {
		return c.Base, nil
	}
	switch c.BaseName {
	case BaseForest:
		return Forests{}, nil
	case BaseGBDT:
		return Boosters{Params: DefaultBoost}, nil
	case BaseBlend:
		return Blend{Forests{}, Boosters{Params: DefaultBoost}}, nil
	}
	return nil, fmt.Errorf("uplift: base learner %q, want %q, %q or %q", c.BaseName, BaseForest, BaseGBDT, BaseBlend)
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
	if c.MinPropensity == 0 {
		c.MinPropensity = DefaultMinPropensity
	}
	if c.Value == 0 {
		c.Value = 1
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
	if c.BaseName != "" {
		if _, err := c.base(); err != nil {
			return err
		}
	}
	switch c.Weighting {
	case "", WeightIPW, WeightNone:
	default:
		return fmt.Errorf("uplift: weighting %q, want %q or %q", c.Weighting, WeightIPW, WeightNone)
	}
	if !(c.MinPropensity >= 0 && c.MinPropensity <= 1) {
		return fmt.Errorf("uplift: min propensity %v, want (0, 1] or 0 for the default", c.MinPropensity)
	}
	if !(c.Subsample >= 0 && c.Subsample <= 1) {
		return fmt.Errorf("uplift: subsample %v, want (0, 1] or 0 for 1", c.Subsample)
	}
	if !(c.Value > 0) || math.IsInf(c.Value, 0) {
		return fmt.Errorf("uplift: value %v, want > 0", c.Value)
	}
	for arm, v := range c.Costs {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("uplift: cost %v of arm %q, want >= 0", v, arm)
		}
	}
	if c.Folds < 2 || c.Trees < 1 || c.Bootstrap < 10 {
		return fmt.Errorf("uplift: folds %d, trees %d, bootstrap %d: want at least 2, 1, 10", c.Folds, c.Trees, c.Bootstrap)
	}
	return nil
}

// Net returns the scores policies rank by: per row, per arm beyond
// control, effect x Value - the arm's cost (Config.Costs); without costs,
// tau itself. arms are d's arm names, control first.
func (c Config) Net(arms []string, tau [][]float64) [][]float64 {
	if len(c.Costs) == 0 {
		return tau
	}
	value := c.Value
	if value == 0 {
		value = 1
	}
	out := make([][]float64, len(tau))
	for i, t := range tau {
		out[i] = make([]float64, len(t))
		for a, v := range t {
			out[i][a] = v*value - c.Costs[arms[a+1]]
		}
	}
	return out
}

// forData fills in the leaf sizes for the history d of n rows (larger
// histories get larger leaves, which estimate effects, small differences
// of noisy means, more stably) and the base learner (DefaultBase).
func (c Config) forData(d *Data) Config {
	n := d.Rows()
	if c.BaseName == "" {
		c.BaseName = DefaultBase(d)
	}
	if c.MinLeaf == 0 {
		c.MinLeaf = max(25, n/500)
	}
	if c.EffectLeaf == 0 {
		c.EffectLeaf = 4 * c.MinLeaf
	}
	return c
}

// weighting resolves c.Weighting for d.
func (c Config) weighting(d *Data) string {
	if c.Weighting != "" {
		return c.Weighting
	}
	if d.Logged {
		return WeightIPW
	}
	return WeightNone
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
		MaxFeatures: c.maxFeatures(d), Bootstrap: true, Subsample: c.Subsample, Seed: seed,
	}
}

// maxFeatures is the features a split considers among d.
func (c Config) maxFeatures(d int) int {
	if c.MaxFeatures == AllFeatures || c.MaxFeatures > d {
		return d
	}
	if c.MaxFeatures > 0 {
		return c.MaxFeatures
	}
	return max(1, int(math.Ceil(float64(d)/3)))
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

// rowsOutside returns the rows in no fold k, in row order: a fold's
// training rows, or every row for a k no fold has (a final fit's).
func (d *Data) rowsOutside(k int) []int {
	var out []int
	for i, f := range d.Fold {
		if f != k {
			out = append(out, i)
		}
	}
	return out
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

// Regressor is a fitted regression of a target on the features: what a
// BaseLearner makes. PredictBatch writes the predictions for xs (rows of
// Data.X's columns) into out.
type Regressor interface {
	PredictBatch(xs [][]float64, out []float64)
}

// BaseLearner fits the regressions every learner is made of (outcome,
// effect and propensity models) on rows of a binned Matrix: target[i] for
// each i in rows, weighted by p.Weights when set. p carries the
// analysis's settings (trees, depth, leaf size, features per split, seed)
// in forest terms; another learner maps them to its own (a leaf size, a
// seed). Forests, Boosters and their Blend are named by Config.BaseName
// (DefaultBase); another plugs in through Config.Base. Models that Fit
// returns must be *forest.Forest, *boost.Model or a Blend's of them to be
// encoded (Model.MarshalJSON).
type BaseLearner interface {
	Fit(m *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error)
}

// Forests is the BaseLearner of random regression forests (forest.Fit).
type Forests struct{}

// Fit implements BaseLearner.
func (Forests) Fit(m *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error) {
	return forest.Fit(m, target, rows, p)
}

// part is one fitted function of the features: a base learner's model,
// or a constant where there were no rows to fit one.
type part struct {
	r Regressor
	c float64
}

// features returns the feature names of the part's model, and whether it
// has a model that names them (a forest or a booster).
func (p *part) features() ([]string, bool) {
	switch r := p.r.(type) {
	case *forest.Forest:
		return r.Features, true
	case *boost.Model:
		return r.Features, true
	case *causalforest.Forest:
		return r.Features, true
	case *additive.Model:
		return r.Features, true
	case blendModel:
		// A blend's models are fit on one Matrix: the first names them.
		return (&part{r: r[0]}).features()
	}
	return nil, false
}

// predict returns the part's predictions for xs.
func (p *part) predict(xs [][]float64) []float64 {
	out := make([]float64, len(xs))
	if p.r == nil {
		for j := range out {
			out[j] = p.c
		}
		return out
	}
	p.r.PredictBatch(xs, out)
	return out
}

// fitPart fits cfg's base learner of target on rows, or, without rows,
// returns the constant 0.
func fitPart(cfg Config, m *forest.Matrix, target []float64, rows []int, p forest.Params) (*part, error) {
	if len(rows) == 0 {
		return &part{}, nil
	}
	base, err := cfg.base()
	if err != nil {
		return nil, err
	}
	r, err := base.Fit(m, target, rows, p)
	if err != nil {
		return nil, err
	}
	return &part{r: r}, nil
}

// ipwWeights returns row weights for forests fit on the given groups of
// rows (disjoint; one per forest): 1/max(P, floor), divided by the
// group's mean so each group's weights average 1 (stabilized weights:
// the scale is the same as unweighted rows'). Rows in no group weigh 0.
func ipwWeights(d *Data, floor float64, groups ...[]int) []float64 {
	w := make([]float64, d.Rows())
	for _, g := range groups {
		var sum float64
		for _, i := range g {
			w[i] = 1 / max(d.P[i], floor)
			sum += w[i]
		}
		mean := sum / float64(len(g))
		for _, i := range g {
			w[i] /= mean
		}
	}
	return w
}

// outcomeModels fits control (arm 0) and every other arm with want(a) an
// outcome model on that arm's rows in no fold of skip; other arms'
// entries are nil. Control's is a forest of the outcome. Every other arm's
// model is a forest of its rows' residuals from control's predictions, the
// arm's effect (outcome of arm a = control's + residual; see
// outcomeOf). Where the log rarely gave an arm, a forest of its outcome
// would borrow the outcome level of the users nearby who did get it (with
// a logging policy that targets, users unlike these: a loyal user's base
// rate is not a new one's), while effects vary less than levels from user
// to user, so borrowing the effect is the smaller error. Control's
// predictions for another arm's rows never saw them. An arm without
// training rows predicts control's outcome (a residual of 0). With
// WeightIPW, rows weigh 1/P within their arm. stage and id seed the
// forests.
func outcomeModels(d *Data, m *forest.Matrix, skip []int, want func(a int) bool, cfg Config, stage string, id int) ([]*part, error) {
	weighting := cfg.weighting(d)
	models := make([]*part, len(d.Arms))
	byArm := make([][]int, len(d.Arms))
	var all float64
	var nAll int
	for i := range d.A {
		if slices.Contains(skip, d.Fold[i]) {
			continue
		}
		all += d.Y[i]
		nAll++
		byArm[d.A[i]] = append(byArm[d.A[i]], i)
	}
	var residual []float64
	for a := range d.Arms {
		if a != 0 && !want(a) {
			continue
		}
		train := byArm[a]
		if len(train) == 0 {
			c := 0.0
			if a == 0 {
				c = all / float64(max(nAll, 1))
			}
			models[a] = &part{c: c}
			continue
		}
		target := d.Y
		if a != 0 {
			if residual == nil {
				residual = make([]float64, len(d.Y))
			}
			for j, v := range models[0].predict(d.rowsOf(train)) {
				residual[train[j]] = d.Y[train[j]] - v
			}
			target = residual
		}
		p := cfg.params(cfg.MinLeaf, len(d.Features), stage, a, id)
		if weighting == WeightIPW {
			p.Weights = ipwWeights(d, cfg.MinPropensity, train)
		}
		f, err := fitPart(cfg, m, target, train, p)
		if err != nil {
			return nil, fmt.Errorf("uplift: outcome model of arm %q: %w", d.Arms[a], err)
		}
		models[a] = f
	}
	return models, nil
}

// outcomeOf returns the outcome predictions of arm a for xs from models
// as outcomeModels fits them: control's plus, beyond control, the arm's
// residual model; mu0 is control's predictions for xs.
func outcomeOf(models []*part, a int, mu0 []float64, xs [][]float64) []float64 {
	if a == 0 {
		return mu0
	}
	out := models[a].predict(xs)
	for j := range out {
		out[j] += mu0[j]
	}
	return out
}

// allArms wants every arm.
func allArms(int) bool { return true }

// outcomes fits, for every arm, an outcome forest on that arm's rows in
// no fold of skip (outcomeModels), and returns its predictions for rows:
// mu[j][a] for rows[j].
func outcomes(d *Data, m *forest.Matrix, skip []int, rows []int, cfg Config, stage string, id int) ([][]float64, error) {
	models, err := outcomeModels(d, m, skip, allArms, cfg, stage, id)
	if err != nil {
		return nil, err
	}
	return predictOutcomes(models, d.rowsOf(rows)), nil
}

// predictOutcomes returns the outcome models' predictions per row of xs
// and arm.
func predictOutcomes(models []*part, xs [][]float64) [][]float64 {
	mu := make([][]float64, len(xs))
	for j := range mu {
		mu[j] = make([]float64, len(models))
	}
	mu0 := models[0].predict(xs)
	for a := range models {
		for j, v := range outcomeOf(models, a, mu0, xs) {
			mu[j][a] = v
		}
	}
	return mu
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
	cfg = cfg.WithDefaults().forData(d)
	rows := d.FoldRows(k)
	muModels, err := outcomeModels(d, m, []int{k}, allArms, cfg, "mu", k)
	if err != nil {
		return nil, fmt.Errorf("fold %d: %w", k, err)
	}
	mu := predictOutcomes(muModels, d.rowsOf(rows))
	res := &FoldResult{Mu: mu, Tau: map[string][][]float64{}}
	arms := len(d.Arms)
	// Inner out-of-fold outcome predictions (and, for the R-learner on a
	// logged history, propensities) per training row; nil in fold k.
	var inner, innerE [][]float64
	needInner := slices.ContainsFunc(cfg.Learners, func(l string) bool {
		return l == XLearner || l == DRLearner || l == RLearner || l == CFLearner || l == AdditiveLearner
	})
	needE := slices.ContainsFunc(cfg.Learners, func(l string) bool {
		return l == RLearner || l == CFLearner || l == AdditiveLearner
	}) && d.Logged
	if needInner {
		inner = make([][]float64, d.Rows())
		if needE {
			innerE = make([][]float64, d.Rows())
		}
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
			if needE {
				e, err := propensities(d, m, []int{k, j}, jr, cfg, "e-inner", k*d.Folds+j)
				if err != nil {
					return nil, fmt.Errorf("fold %d, inner fold %d: %w", k, j, err)
				}
				for t, i := range jr {
					innerE[i] = e[t]
				}
			}
		}
	}
	xs := d.rowsOf(rows)
	// effects holds each learner's fitted effects (per row of xs, per arm
	// beyond control), for AvgLearner's projection on the training rows.
	effects := map[string]func(xs [][]float64) [][]float64{}
	for _, l := range cfg.Learners {
		switch l {
		case TLearner:
			effects[l] = func(xs [][]float64) [][]float64 { return tEffects(predictOutcomes(muModels, xs)) }
		case SLearner:
			sm, err := sModel(d, k, cfg)
			if err != nil {
				return nil, fmt.Errorf("fold %d: %w", k, err)
			}
			effects[l] = func(xs [][]float64) [][]float64 { return sEffects(sm, xs, arms) }
		case XLearner, DRLearner, RLearner, CFLearner, AdditiveLearner:
			models, err := effectModels(l, d, m, inner, innerE, k, cfg)
			if err != nil {
				return nil, fmt.Errorf("fold %d: %w", k, err)
			}
			effects[l] = func(xs [][]float64) [][]float64 {
				tau := make([][]float64, len(xs))
				for j := range tau {
					tau[j] = make([]float64, arms-1)
				}
				for a := 1; a < arms; a++ {
					for j, v := range models[a-1].predict(l, xs) {
						tau[j][a-1] = v
					}
				}
				return tau
			}
		case AvgLearner:
			continue // below, once the others are known
		default:
			return nil, fmt.Errorf("uplift: unknown learner %q", l)
		}
		res.Tau[l] = effects[l](xs)
	}
	if slices.Contains(cfg.Learners, AvgLearner) {
		members := cfg.averaged()
		smooth, err := fitSmoothing(d, d.rowsOutside(k), members, func(l string, xs [][]float64) [][]float64 { return effects[l](xs) })
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		res.Tau[AvgLearner] = averageEffects(members, smooth, xs, arms-1, func(l string) [][]float64 { return res.Tau[l] })
	}
	return res, nil
}

// tEffects returns the T-learner's effects from outcome predictions per
// arm: each arm's less control's.
func tEffects(mu [][]float64) [][]float64 {
	tau := make([][]float64, len(mu))
	for j, m := range mu {
		tau[j] = make([]float64, len(m)-1)
		for a := 1; a < len(m); a++ {
			tau[j][a-1] = m[a] - m[0]
		}
	}
	return tau
}

// smoothed splits AvgLearner's members into the tree learners (every one
// but AdditiveLearner), whose mean effect AvgLearner projects onto
// additive functions, and whether AdditiveLearner is among them.
func smoothed(members []string) (trees []string, additive bool) {
	for _, l := range members {
		if l == AdditiveLearner {
			additive = true
		} else {
			trees = append(trees, l)
		}
	}
	return trees, additive
}

// fitSmoothing fits AvgLearner's projection: per arm beyond control, the
// additive model (additive.Project) of the tree members' mean effect on
// rows, effect(l, xs) being learner l's fitted effects per row of xs and
// arm. It returns nil when no member is a tree learner.
//
// Why: the tree learners' effects are piecewise constant, and their
// splits follow the outcomes' noise as well as the effects. Projected onto
// smooth functions of one feature each, every learner ranked users closer
// to the truth on TestPolicyVsOracle's histories (S 0.921 to 0.928, X
// 0.919 to 0.937, causal forest 0.907 to 0.918, T, R and DR by 0.02 to
// 0.04 of the oracle; docs/EVALUATION.md, "Smoothing the ensemble"). The
// projection loses interactions that the trees found; a tree learner
// that ranks significantly better for it is still chosen over AvgLearner
// (KeepEnsembleZ).
func fitSmoothing(d *Data, rows []int, members []string, effect func(l string, xs [][]float64) [][]float64) ([]*part, error) {
	trees, _ := smoothed(members)
	if len(trees) == 0 {
		return nil, nil
	}
	xs := d.rowsOf(rows)
	mean := make([][]float64, d.Rows())
	for _, l := range trees {
		for j, tau := range effect(l, xs) {
			i := rows[j]
			if mean[i] == nil {
				mean[i] = make([]float64, len(tau))
			}
			for a, v := range tau {
				mean[i][a] += v / float64(len(trees))
			}
		}
	}
	models, err := additive.Project(d.X, d.Features, rows, mean)
	if err != nil {
		return nil, fmt.Errorf("uplift: smoothing the averaged learners: %w", err)
	}
	parts := make([]*part, len(models))
	for a, md := range models {
		parts[a] = &part{r: md}
	}
	return parts, nil
}

// averageEffects returns AvgLearner's effects for xs (per row, per arm
// beyond control; k arms): the projection smooth of the tree members'
// mean (fitSmoothing), averaged with the additive learner's effects when
// it is a member (tau(l) returns member l's effects for xs). The additive
// learner and the smoothed trees are two kinds of estimate, each given
// half the weight: with each of four members given a quarter, the
// trees' shared errors (three learners of splits on the same features)
// outweighed the additive learner's (docs/EVALUATION.md, "Smoothing the
// ensemble"). Without tree members (the additive learner is the only
// one) it is the additive learner's.
func averageEffects(members []string, smooth []*part, xs [][]float64, k int, tau func(l string) [][]float64) [][]float64 {
	trees, withAdditive := smoothed(members)
	if len(trees) == 0 {
		return tau(AdditiveLearner)
	}
	out := make([][]float64, len(xs))
	for j := range out {
		out[j] = make([]float64, k)
	}
	var sam [][]float64
	if withAdditive {
		sam = tau(AdditiveLearner)
	}
	for a, p := range smooth {
		for j, v := range p.predict(xs) {
			if sam != nil {
				v = (v + sam[j][a]) / 2
			}
			out[j][a] = v
		}
	}
	return out
}

// effectModel is the X- or DR-learner's fitted effect of one arm.
type effectModel struct {
	// X-learner: effects imputed on the arm's rows (x1) and on control
	// rows (x0), blended as g*x0 + (1-g)*x1.
	x1, x0, g *part
	dr        *part // DR-learner: the pseudo-outcomes' regression
	r         *part // R-learner: the weighted regression of residual ratios
	cf        *part // CFLearner: the causal forest
	sam       *part // AdditiveLearner: the sparse additive effect
	smooth    *part // AvgLearner: the projection of its tree members (fitSmoothing)
}

// predict returns the learner's effects for xs.
func (e *effectModel) predict(learner string, xs [][]float64) []float64 {
	switch learner {
	case DRLearner:
		return e.dr.predict(xs)
	case RLearner:
		return e.r.predict(xs)
	case CFLearner:
		return e.cf.predict(xs)
	case AdditiveLearner:
		return e.sam.predict(xs)
	}
	p0, p1, g := e.x0.predict(xs), e.x1.predict(xs), e.g.predict(xs)
	out := make([]float64, len(xs))
	for j := range out {
		out[j] = g[j]*p0[j] + (1-g[j])*p1[j]
	}
	return out
}

// effectModels fits the X- or DR-learner, for every arm beyond control,
// on the rows outside fold k (all rows when k is no fold, as in Fit),
// with training targets from the out-of-fold outcome predictions mu; k
// also seeds the forests.
//
// With WeightIPW the X-learner's effect forests weigh rows 1/P, as the
// outcome forests do, and its blend weight is g(x) = e_a(x)/(e_a(x) +
// e_0(x)), estimated per user by a forest of the indicator of arm a on the
// rows of arm a and control: where the log rarely gave arm a, x0 rests on
// an outcome model of arm a extrapolated from elsewhere, and g puts the
// weight on x1. (The log holds only the received arm's propensity, so g
// cannot be read from it, and new users have none.) WeightNone keeps g
// at the arms' shares in the history.
//
// The R-learner's e(x), the probability of arm a among the rows of arm a
// and control, is e[i][a-1] (cross-fitted, from propensities) or, with e
// nil, the arms' shares in the history (pairShares); it is clipped to
// [MinPropensity, 1-MinPropensity].
func effectModels(learner string, d *Data, m *forest.Matrix, mu, e [][]float64, k int, cfg Config) ([]effectModel, error) {
	arms := len(d.Arms)
	pair := pairShares(d)
	ipw := cfg.weighting(d) == WeightIPW
	share := make([]float64, arms)
	for _, a := range d.A {
		share[a]++
	}
	models := make([]effectModel, arms-1)
	if learner == AdditiveLearner {
		return additiveModels(d, mu, e, k, cfg, models)
	}
	for a := 1; a < arms; a++ {
		em := &models[a-1]
		switch learner {
		case XLearner:
			// x1 from the arm's rows: y - mu0; x0 from control rows:
			// mu_a - y.
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
			p1 := cfg.params(cfg.EffectLeaf, len(d.Features), "x1", a, k)
			p0 := cfg.params(cfg.EffectLeaf, len(d.Features), "x0", a, k)
			em.g = &part{c: share[a] / (share[a] + share[0])}
			if ipw {
				w := ipwWeights(d, cfg.MinPropensity, treated, control)
				p1.Weights, p0.Weights = w, w
				label := make([]float64, len(d.Y))
				for _, i := range treated {
					label[i] = 1
				}
				var err error
				if em.g, err = fitPart(cfg, m, label, slices.Concat(treated, control), cfg.params(cfg.EffectLeaf, len(d.Features), "xg", a, k)); err != nil {
					return nil, fmt.Errorf("uplift: x-learner arm %q blend: %w", d.Arms[a], err)
				}
			}
			var err error
			if em.x1, err = fitPart(cfg, m, target, treated, p1); err != nil {
				return nil, fmt.Errorf("uplift: x-learner arm %q: %w", d.Arms[a], err)
			}
			if em.x0, err = fitPart(cfg, m, target, control, p0); err != nil {
				return nil, fmt.Errorf("uplift: x-learner arm %q: %w", d.Arms[a], err)
			}
		case DRLearner:
			target := make([]float64, len(d.Y))
			var train []int
			for i := range d.A {
				if d.Fold[i] == k {
					continue
				}
				// Propensities are clipped at MinPropensity, as in the
				// weights: a few rows of P 0.002 (exploration) would
				// otherwise make the pseudo-outcomes mostly their noise.
				phi := mu[i][a] - mu[i][0]
				p := max(d.P[i], cfg.MinPropensity)
				switch d.A[i] {
				case a:
					phi += (d.Y[i] - mu[i][a]) / p
				case 0:
					phi -= (d.Y[i] - mu[i][0]) / p
				}
				target[i] = phi
				train = append(train, i)
			}
			var err error
			if em.dr, err = fitPart(cfg, m, target, train, cfg.params(cfg.EffectLeaf, len(d.Features), "dr", a, k)); err != nil {
				return nil, fmt.Errorf("uplift: dr-learner arm %q: %w", d.Arms[a], err)
			}
		case RLearner:
			rt, ry, train := residuals(d, mu, e, pair, a, k, cfg)
			target := make([]float64, len(d.Y))
			w := make([]float64, len(d.Y))
			for _, i := range train {
				target[i] = ry[i] / rt[i]
				w[i] = rt[i] * rt[i]
			}
			p := cfg.params(cfg.EffectLeaf, len(d.Features), "r", a, k)
			p.Weights = w
			var err error
			if em.r, err = fitPart(cfg, m, target, train, p); err != nil {
				return nil, fmt.Errorf("uplift: r-learner arm %q: %w", d.Arms[a], err)
			}
		case CFLearner:
			var err error
			if em.cf, err = causalModel(d, m, mu, e, pair, a, k, cfg); err != nil {
				return nil, fmt.Errorf("uplift: causal forest arm %q: %w", d.Arms[a], err)
			}
		default:
			return nil, fmt.Errorf("uplift: learner %q has no effect model", learner)
		}
	}
	return models, nil
}

// residuals are the R-loss's residuals of the rows of arm a and control
// outside fold k (train): t - e and y - m(x), with m(x) = e*mu_a +
// (1-e)*mu_0 from the out-of-fold outcome predictions mu, e the arm's
// cross-fitted propensity (its share among the pair's rows when e is nil),
// clipped to [MinPropensity, 1-MinPropensity]. The R-learner and the
// causal forest fit the same residuals.
func residuals(d *Data, mu, e [][]float64, pair []float64, a, k int, cfg Config) (rt, ry []float64, train []int) {
	rt, ry = make([]float64, d.Rows()), make([]float64, d.Rows())
	for i := range d.A {
		if d.Fold[i] == k || (d.A[i] != a && d.A[i] != 0) {
			continue
		}
		ei := pairPropensity(e, pair, i, a, cfg)
		rt[i] = -ei
		if d.A[i] == a {
			rt[i] = 1 - ei
		}
		ry[i] = d.Y[i] - ei*mu[i][a] - (1-ei)*mu[i][0]
		train = append(train, i)
	}
	return rt, ry, train
}

// pairPropensity returns row i's probability of arm a against control:
// the cross-fitted e[i][a-1], or the arms' share pair[a] when e is nil,
// clipped to [MinPropensity, 1-MinPropensity].
func pairPropensity(e [][]float64, pair []float64, i, a int, cfg Config) float64 {
	ei := pair[a]
	if e != nil {
		ei = e[i][a-1]
	}
	return min(max(ei, cfg.MinPropensity), 1-cfg.MinPropensity)
}

// causalModel fits the causal forest of arm a on the rows of arm a and
// control outside fold k, on their residuals.
func causalModel(d *Data, m *forest.Matrix, mu, e [][]float64, pair []float64, a, k int, cfg Config) (*part, error) {
	rt, ry, train := residuals(d, mu, e, pair, a, k, cfg)
	if len(train) == 0 {
		return &part{}, nil
	}
	// Four times the analysis's trees: a causal forest's trees are
	// grown on a quarter of the rows each (half drawn, half of those
	// to split), so they are noisier than a base learner's. Leaves have
	// at least the outcome models' leaf size of offer and of control
	// rows among the splitting half: on TestPolicyVsOracle's histories
	// a quarter of it (25 rows) and four times it (400) did worse than
	// 100, and 800 trees no better than 200 (docs/EVALUATION.md).
	fp := cfg.params(cfg.MinLeaf, len(d.Features), "cf", a, k)
	p := causalforest.Params{Trees: 4 * cfg.Trees, MinLeaf: cfg.MinLeaf, MaxDepth: cfg.MaxDepth, Seed: fp.Seed}
	f, err := causalforest.Fit(m, rt, ry, train, p)
	if err != nil {
		return nil, err
	}
	return &part{r: f}, nil
}

// additiveModels fits the additive learner's effects of every arm beyond
// control jointly, on the rows outside fold k, into models: the R-loss
// of all arms, with W_a - p_a(x) per arm and y - m(x), where p(x) are
// the arms' probabilities and m(x) = sum_g p_g(x) mu_g(x) the expected
// outcome. p(x) follow from the pairwise propensities e[i][a-1] of arm a
// against control (their odds p_a / p_0), or from the arms' shares in
// the history when e is nil; the penalty is cross-validated over the
// training rows' own folds.
func additiveModels(d *Data, mu, e [][]float64, k int, cfg Config, models []effectModel) ([]effectModel, error) {
	arms := len(d.Arms)
	pair := pairShares(d)
	rt := make([][]float64, d.Rows())
	ry := make([]float64, d.Rows())
	var train []int
	p := make([]float64, arms)
	for i := range d.A {
		if d.Fold[i] == k {
			continue
		}
		sum := 1.0
		for a := 1; a < arms; a++ {
			ea := pairPropensity(e, pair, i, a, cfg)
			p[a] = ea / (1 - ea)
			sum += p[a]
		}
		p[0] = 1
		m := 0.0
		for g := range p {
			p[g] /= sum
			m += p[g] * mu[i][g]
		}
		rt[i] = make([]float64, arms-1)
		for a := 1; a < arms; a++ {
			rt[i][a-1] = -p[a]
			if d.A[i] == a {
				rt[i][a-1] = 1 - p[a]
			}
		}
		ry[i] = d.Y[i] - m
		train = append(train, i)
	}
	if len(train) == 0 {
		for a := range models {
			models[a].sam = &part{}
		}
		return models, nil
	}
	fits, err := additive.Fit(d.X, d.Features, train, d.Fold, rt, ry, additive.Params{})
	if err != nil {
		return nil, fmt.Errorf("uplift: additive effects: %w", err)
	}
	for a, md := range fits {
		models[a].sam = &part{r: md}
	}
	return models, nil
}

// pairShares returns, per arm a beyond control (index a; 0 unused), the
// share of arm a among the rows of arm a and control: the R-learner's
// propensity where the history was randomized.
func pairShares(d *Data) []float64 {
	n := make([]float64, len(d.Arms))
	for _, a := range d.A {
		n[a]++
	}
	out := make([]float64, len(d.Arms))
	for a := 1; a < len(d.Arms); a++ {
		if n[a]+n[0] > 0 {
			out[a] = n[a] / (n[a] + n[0])
		}
	}
	return out
}

// propensities fits, for every arm a beyond control, a forest of the
// indicator of arm a on the rows of arm a and control in no fold of skip,
// and returns its predictions for rows: e[j][a-1], the probability that
// rows[j] got arm a rather than control. stage and id seed the forests.
func propensities(d *Data, m *forest.Matrix, skip []int, rows []int, cfg Config, stage string, id int) ([][]float64, error) {
	arms := len(d.Arms)
	out := make([][]float64, len(rows))
	for j := range out {
		out[j] = make([]float64, arms-1)
	}
	xs := d.rowsOf(rows)
	label := make([]float64, len(d.A))
	pair := pairShares(d)
	for a := 1; a < arms; a++ {
		var train []int
		for i, arm := range d.A {
			if (arm == a || arm == 0) && !slices.Contains(skip, d.Fold[i]) {
				train = append(train, i)
				label[i] = 0
				if arm == a {
					label[i] = 1
				}
			}
		}
		p, err := fitPart(cfg, m, label, train, cfg.params(cfg.EffectLeaf, len(d.Features), stage, a, id))
		if err != nil {
			return nil, fmt.Errorf("uplift: propensity of arm %q: %w", d.Arms[a], err)
		}
		if p.r == nil {
			p.c = pair[a]
		}
		for j, v := range p.predict(xs) {
			out[j][a-1] = v
		}
	}
	return out, nil
}

// sFeatures returns the S-learner's features: d's, then one indicator
// column per arm beyond control.
func sFeatures(features, arms []string) []string {
	out := slices.Clone(features)
	for _, a := range arms[1:] {
		out = append(out, "arm="+a)
	}
	return out
}

// sRows returns xs with the S-learner's arm columns set for arm a.
func sRows(xs [][]float64, arms, a int) [][]float64 {
	out := make([][]float64, len(xs))
	for j, x := range xs {
		r := make([]float64, len(x)+arms-1)
		copy(r, x)
		if a > 0 {
			r[len(x)+a-1] = 1
		}
		out[j] = r
	}
	return out
}

// sModel fits the S-learner's outcome forest on the rows outside fold k
// (all rows when k is no fold), each row with its own arm's columns; with
// WeightIPW rows weigh 1/P within their arm, as in the outcome forests.
func sModel(d *Data, k int, cfg Config) (*part, error) {
	arms := len(d.Arms)
	x := make([][]float64, d.Rows())
	for i, row := range d.X {
		x[i] = sRows([][]float64{row}, arms, d.A[i])[0]
	}
	features := sFeatures(d.Features, d.Arms)
	bins, err := forest.ExactBins(x, len(features), 0)
	if err != nil {
		return nil, err
	}
	m, err := forest.NewMatrix(x, features, bins)
	if err != nil {
		return nil, err
	}
	byArm := make([][]int, arms)
	var train []int
	for i, a := range d.A {
		if d.Fold[i] != k {
			train = append(train, i)
			byArm[a] = append(byArm[a], i)
		}
	}
	p := cfg.params(cfg.MinLeaf, len(features), "s", 0, k)
	if cfg.weighting(d) == WeightIPW {
		p.Weights = ipwWeights(d, cfg.MinPropensity, byArm...)
	}
	out, err := fitPart(cfg, m, d.Y, train, p)
	if err != nil {
		return nil, fmt.Errorf("uplift: s-learner: %w", err)
	}
	return out, nil
}

// sEffects returns the S-learner's effects for xs: per row, per arm
// beyond control, the prediction with the arm minus without.
func sEffects(p *part, xs [][]float64, arms int) [][]float64 {
	base := p.predict(sRows(xs, arms, 0))
	out := make([][]float64, len(xs))
	for j := range out {
		out[j] = make([]float64, arms-1)
	}
	for a := 1; a < arms; a++ {
		for j, v := range p.predict(sRows(xs, arms, a)) {
			out[j][a-1] = v - base[j]
		}
	}
	return out
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
