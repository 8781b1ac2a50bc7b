package uplift

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/promoflow/promoflow/internal/policy"
)

// Report is the result of an uplift analysis. docs/EVALUATION.md defines
// every number.
type Report struct {
	Rows       int          `json:"rows"`
	Folds      int          `json:"folds"`
	Binary     bool         `json:"binary_outcome"`
	Propensity string       `json:"propensity"`
	Features   []string     `json:"features"`
	Arms       []ArmEffect  `json:"arms"`
	Learners   []LearnerCV  `json:"learners"`
	Chosen     string       `json:"chosen_learner"`
	Qini       QiniReport   `json:"qini"`
	ValueNone  float64      `json:"value_none"` // DR mean outcome if nobody were treated
	Budgets    []BudgetLine `json:"budgets"`
}

// ArmEffect is one arm's size, mean outcome and average effect.
type ArmEffect struct {
	Name    string     `json:"name"`
	N       int        `json:"n"`
	Mean    float64    `json:"mean"`
	ATE     float64    `json:"ate"`
	ATECI95 [2]float64 `json:"ate_ci95"`
}

// LearnerCV is a learner's cross-validated policy value: the mean over the
// budgets of the doubly robust incremental value of its out-of-fold policy.
// With Config.Costs it is net of cost: the incremental outcome times
// Config.Value minus the costs of the arms given.
type LearnerCV struct {
	Name          string    `json:"name"`
	CVPolicyValue float64   `json:"cv_policy_value"`
	ByBudget      []float64 `json:"by_budget"`
}

// QiniReport holds the chosen learner's Qini and uplift curve areas per
// arm: each arm's users and control users ranked by the arm's out-of-fold
// predicted effect, weighted by inverse propensity.
type QiniReport struct {
	Learner string      `json:"learner"`
	Arms    []ArmCurves `json:"arms"`
}

// ArmCurves are one arm's curve areas.
type ArmCurves struct {
	Arm string `json:"arm"`
	policy.Curves
}

// BudgetLine is the chosen learner's policy at one budget.
type BudgetLine struct {
	Fraction          float64            `json:"fraction"`
	Incremental       float64            `json:"incremental"` // DR, per user
	IncrementalCI95   [2]float64         `json:"incremental_ci95"`
	IncrementalIPS    float64            `json:"incremental_ips"`
	IncrementalIPSCI  [2]float64         `json:"incremental_ips_ci95"`
	RandomIncremental float64            `json:"random_incremental"` // fraction × best arm's ATE
	Ratio             *float64           `json:"ratio"`              // incremental / random_incremental; null unless the latter is positive
	Treated           float64            `json:"treated"`            // share of users treated
	ArmMix            map[string]float64 `json:"arm_mix"`            // share of users given each arm
	// Net is, with Config.Costs, the policy's value per user net of cost:
	// Incremental x Config.Value minus the costs of the arms given.
	Net *float64 `json:"net,omitempty"`
}

// Evaluate builds the report from out-of-fold predictions: mu (every row's
// outcome prediction per arm) and taus (per learner, every row's predicted
// effect per arm beyond control).
func Evaluate(d *Data, mu [][]float64, taus map[string][][]float64, cfg Config) (*Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for arm := range cfg.Costs {
		if !slices.Contains(d.Arms[1:], arm) {
			return nil, fmt.Errorf("uplift: cost of arm %q, which is no offer of the history (%q)", arm, d.Arms[1:])
		}
	}
	// Propensities clipped at MinPropensity (as the learners' weights):
	// the policy values of a confounded history would otherwise rest on a
	// few exploration rows of probability 0.002, and the learner chosen by
	// them would be the luckiest, not the best.
	p := make([]float64, len(d.P))
	for i, v := range d.P {
		p[i] = max(v, cfg.MinPropensity)
	}
	s := &policy.Sample{A: d.A, Y: d.Y, P: p, Mu: mu}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	r := &Report{Rows: d.Rows(), Folds: d.Folds, Binary: d.Binary(), Features: d.Features}
	best := math.Inf(-1) // the best single arm's effect
	for _, e := range policy.Effects(s) {
		ae := ArmEffect{Name: d.Arms[e.Arm], N: e.N, Mean: e.Mean}
		if e.Arm > 0 {
			ae.ATE, ae.ATECI95 = e.ATE.Est, [2]float64{e.ATE.Lo, e.ATE.Hi}
			best = max(best, e.ATE.Est)
		}
		r.Arms = append(r.Arms, ae)
	}
	for i := range d.A {
		r.ValueNone += s.DR(i, 0)
	}
	r.ValueNone /= float64(d.Rows())

	bestScore := math.Inf(-1)
	perRow := map[string][]float64{} // per learner, each row's share of its CV policy value
	for _, name := range cfg.Learners {
		tau, ok := taus[name]
		if !ok || len(tau) != d.Rows() {
			return nil, fmt.Errorf("uplift: no out-of-fold effects for learner %q", name)
		}
		cv := LearnerCV{Name: name}
		rows := make([]float64, d.Rows())
		score := cfg.Net(d.Arms, tau)
		for _, b := range cfg.Budgets {
			pi := policy.Assign(score, b)
			dr, _ := policy.Incremental(s, pi)
			for i, v := range dr {
				if len(cfg.Costs) > 0 {
					v *= cfg.Value
					if pi[i] != 0 {
						v -= cfg.Costs[d.Arms[pi[i]]]
					}
				}
				rows[i] += v / float64(len(cfg.Budgets))
			}
			v := policy.Mean(dr)
			if len(cfg.Costs) > 0 {
				v = v*cfg.Value - meanCost(d, pi, cfg)
			}
			cv.ByBudget = append(cv.ByBudget, v)
			cv.CVPolicyValue += v / float64(len(cfg.Budgets))
		}
		perRow[name] = rows
		if cv.CVPolicyValue > bestScore {
			bestScore, r.Chosen = cv.CVPolicyValue, name
		}
		r.Learners = append(r.Learners, cv)
	}
	// The ensemble is kept unless the best learner beats it significantly
	// (one-sided 2.5%): by more than 1.96 standard errors of their paired
	// per-user difference. The ensemble's errors are smaller, and the
	// best of several noisy estimates is the luckiest as often as the
	// best (docs/EVALUATION.md, "Choosing the learner").
	if avg, ok := perRow[AvgLearner]; ok && r.Chosen != AvgLearner {
		diff := make([]float64, len(avg))
		for i, v := range perRow[r.Chosen] {
			diff[i] = v - avg[i]
		}
		if policy.Mean(diff) <= KeepEnsembleZ*stdErr(diff) {
			r.Chosen = AvgLearner
		}
	}
	tau := taus[r.Chosen]

	r.Qini.Learner = r.Chosen
	for a := 1; a < len(d.Arms); a++ {
		var score, y, w []float64
		var treated []bool
		for i, arm := range d.A {
			if arm != a && arm != 0 {
				continue
			}
			score = append(score, tau[i][a-1])
			treated = append(treated, arm == a)
			y = append(y, d.Y[i])
			w = append(w, 1/s.P[i])
		}
		r.Qini.Arms = append(r.Qini.Arms, ArmCurves{Arm: d.Arms[a], Curves: policy.Rank(score, treated, y, w)})
	}

	var stats [][]float64
	var assigns [][]int
	score := cfg.Net(d.Arms, tau)
	for _, b := range cfg.Budgets {
		pi := policy.Assign(score, b)
		dr, ips := policy.Incremental(s, pi)
		stats = append(stats, dr, ips)
		assigns = append(assigns, pi)
	}
	ivs := policy.Bootstrap(stats, cfg.Bootstrap, uint64(cfg.Seed)^0xb007)
	for k, b := range cfg.Budgets {
		dr, ips := ivs[2*k], ivs[2*k+1]
		line := BudgetLine{
			Fraction: b, Incremental: dr.Est, IncrementalCI95: [2]float64{dr.Lo, dr.Hi},
			IncrementalIPS: ips.Est, IncrementalIPSCI: [2]float64{ips.Lo, ips.Hi},
			RandomIncremental: b * best, ArmMix: map[string]float64{},
		}
		if line.RandomIncremental > 0 {
			ratio := line.Incremental / line.RandomIncremental
			line.Ratio = &ratio
		}
		count := make([]int, len(d.Arms))
		for _, a := range assigns[k] {
			count[a]++
		}
		for a := 1; a < len(d.Arms); a++ {
			if count[a] > 0 {
				line.ArmMix[d.Arms[a]] = float64(count[a]) / float64(d.Rows())
			}
		}
		line.Treated = 1 - float64(count[0])/float64(d.Rows())
		if len(cfg.Costs) > 0 {
			net := dr.Est*cfg.Value - meanCost(d, assigns[k], cfg)
			line.Net = &net
		}
		r.Budgets = append(r.Budgets, line)
	}
	return r, nil
}

// KeepEnsembleZ is how many standard errors of the paired difference a
// single learner's cross-fitted policy value must beat AvgLearner's by to
// be chosen over it.
const KeepEnsembleZ = 1.96

// stdErr is the standard error of the mean of v.
func stdErr(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := policy.Mean(v)
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}

// meanCost is the cost per user of policy pi (Config.Costs).
func meanCost(d *Data, pi []int, cfg Config) float64 {
	var c float64
	for _, a := range pi {
		if a != 0 {
			c += cfg.Costs[d.Arms[a]]
		}
	}
	return c / float64(len(pi))
}

// Result is an analysis with its out-of-fold predictions.
type Result struct {
	Report *Report
	Mu     [][]float64            // per row, outcome prediction per arm
	Tau    map[string][][]float64 // per learner, per row, effect per arm beyond control
}

// CrossFit is the uplift analysis written once: which folds to fit,
// checking what each fit predicted, then the evaluation of every fold's
// out-of-fold predictions (Combine), at the budget of the written policy.
// It says what the analysis needs next and takes back the results, but
// never runs the work (budget.Solver's shape): Analyze runs it in one
// process, the workflows' crossFit as UpliftFold activities and one
// UpliftEvaluate. It holds counts only, so it can live in a workflow.
type CrossFit struct {
	cfg      Config
	foldRows []int
	step     CrossFitStep
}

// CrossFitStep is what a CrossFit needs next.
type CrossFitStep int

// The steps of a cross-fitted analysis.
const (
	// StepFolds: fit each of Folds folds (Fold), then Fitted.
	StepFolds CrossFitStep = iota
	// StepEvaluate: combine and evaluate the folds' predictions
	// (Combine, WritePolicy at PolicyBudget), then Evaluated.
	StepEvaluate
	// StepDone: the analysis is complete.
	StepDone
)

// PolicyBudget is the budget fraction of the policy an analysis writes
// (WritePolicy) when the configuration has it.
const PolicyBudget = 0.3

// NewCrossFit returns the analysis of a history encoded into folds of
// foldRows rows each, with cfg (defaults filled in), at StepFolds.
func NewCrossFit(cfg Config, foldRows []int) (*CrossFit, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(foldRows) < 2 {
		return nil, fmt.Errorf("uplift: %d folds", len(foldRows))
	}
	return &CrossFit{cfg: cfg, foldRows: foldRows}, nil
}

// Step is what the analysis needs next.
func (c *CrossFit) Step() CrossFitStep { return c.step }

// Config is the analysis's configuration, defaults filled in.
func (c *CrossFit) Config() Config { return c.cfg }

// Folds is the number of folds to fit (StepFolds), fold k predicting
// fold k's rows.
func (c *CrossFit) Folds() int { return len(c.foldRows) }

// Fitted takes the number of rows each fold's fit predicted, fold 0
// first, and moves to StepEvaluate; a fold that predicted other than its
// rows is an error.
func (c *CrossFit) Fitted(rows []int) error {
	if c.step != StepFolds {
		return fmt.Errorf("uplift: folds fitted at step %d", c.step)
	}
	if len(rows) != len(c.foldRows) {
		return fmt.Errorf("uplift: %d folds fitted of %d", len(rows), len(c.foldRows))
	}
	for k, n := range rows {
		if n != c.foldRows[k] {
			return fmt.Errorf("fold %d: %d predictions for %d rows", k, n, c.foldRows[k])
		}
	}
	c.step = StepEvaluate
	return nil
}

// PolicyBudget is the budget fraction of the written policy
// (StepEvaluate): PolicyBudget when among the configured budgets, else
// the first.
func (c *CrossFit) PolicyBudget() float64 {
	if slices.Contains(c.cfg.Budgets, PolicyBudget) {
		return PolicyBudget
	}
	return c.cfg.Budgets[0]
}

// Evaluated marks the evaluation done (StepDone).
func (c *CrossFit) Evaluated() error {
	if c.step != StepEvaluate {
		return fmt.Errorf("uplift: evaluated at step %d", c.step)
	}
	c.step = StepDone
	return nil
}

// Analyze runs the whole analysis (CrossFit) in one process: Fold for
// every fold, then Combine. The workflow runs the same driver over
// activities.
func Analyze(d *Data, cfg Config) (*Result, error) {
	rows := make([]int, d.Folds)
	for k := range rows {
		rows[k] = len(d.FoldRows(k))
	}
	cf, err := NewCrossFit(cfg, rows)
	if err != nil {
		return nil, err
	}
	m, err := Matrix(d)
	if err != nil {
		return nil, err
	}
	folds := make([]*FoldResult, cf.Folds())
	fitted := make([]int, cf.Folds())
	for k := range folds {
		if folds[k], err = Fold(d, m, k, cf.Config()); err != nil {
			return nil, err
		}
		fitted[k] = len(folds[k].Mu)
	}
	if err := cf.Fitted(fitted); err != nil {
		return nil, err
	}
	res, err := Combine(d, folds, cf.Config())
	if err != nil {
		return nil, err
	}
	return res, cf.Evaluated()
}

// Combine gathers the folds' results in row order and evaluates them.
func Combine(d *Data, folds []*FoldResult, cfg Config) (*Result, error) {
	cfg = cfg.WithDefaults()
	res := &Result{Tau: map[string][][]float64{}}
	perFold := make([][][]float64, len(folds))
	for k, f := range folds {
		perFold[k] = f.Mu
	}
	var err error
	if res.Mu, err = Gather(d, perFold); err != nil {
		return nil, err
	}
	for _, l := range cfg.Learners {
		for k, f := range folds {
			perFold[k] = f.Tau[l]
		}
		if res.Tau[l], err = Gather(d, perFold); err != nil {
			return nil, fmt.Errorf("learner %s: %w", l, err)
		}
	}
	if res.Report, err = Evaluate(d, res.Mu, res.Tau, cfg); err != nil {
		return nil, err
	}
	return res, nil
}

// WritePolicy writes, per user, the chosen learner's out-of-fold effects
// and the arm its policy gives at budget fraction: CSV with columns id,
// fold, arm, outcome, effect_<arm>..., best_arm, best_effect, assigned.
// With cfg.Costs, best_arm and the policy go by value net of cost
// (Config.Net); best_effect is still the best arm's effect.
func WritePolicy(w io.Writer, d *Data, tau [][]float64, fraction float64, cfg Config) error {
	cw := csv.NewWriter(w)
	head := []string{"id", "fold", "arm", "outcome"}
	for _, a := range d.Arms[1:] {
		head = append(head, "effect_"+a)
	}
	head = append(head, "best_arm", "best_effect", "assigned")
	if err := cw.Write(head); err != nil {
		return err
	}
	score := cfg.Net(d.Arms, tau)
	pi := policy.Assign(score, fraction)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for i := range d.A {
		rec := []string{d.IDs[i], strconv.Itoa(d.Fold[i]), d.Arms[d.A[i]], f(d.Y[i])}
		bestA, bestS := 0, math.Inf(-1)
		for a, v := range tau[i] {
			rec = append(rec, f(v))
			if score[i][a] > bestS {
				bestA, bestS = a+1, score[i][a]
			}
		}
		rec = append(rec, d.Arms[bestA], f(tau[i][bestA-1]), d.Arms[pi[i]])
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
