package uplift

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/policy"
	"github.com/promoflow/promoflow/internal/synth"
)

// wideHistory generates a logged history shaped like the production
// loop's: n users, d features (a few drive outcomes and effects, the rest
// are noise), control plus offers offers, 20% randomized control, 95% of
// the others given the decision's offer and 5% a random one. Offer k's
// effect is 0.1*(f(k+1) - 0.4), where f(k+1) is feature k+1; the decision
// picks offers by features 0 and 1, so it is confounded and not optimal.
// It returns the data and every row's true effects, and fresh users'
// features and true effects to score fitted models on.
func wideHistory(n, d, offers int, seed uint64) (*Data, [][]float64, [][]float64, [][]float64, error) {
	rng := rand.New(rand.NewPCG(seed, 12))
	features := make([]string, d)
	for j := range features {
		features[j] = fmt.Sprintf("f%02d", j)
	}
	arms := []string{"control"}
	for k := range offers {
		arms = append(arms, fmt.Sprintf("offer%d", k+1))
	}
	ids := make([]string, n)
	x := make([][]float64, n)
	a := make([]int, n)
	y := make([]float64, n)
	p := make([]float64, n)
	explore := 0.8 * 0.05 / float64(offers)
	truth := make([][]float64, n)
	effects := func(row []float64) []float64 {
		tau := make([]float64, offers)
		for k := range tau {
			tau[k] = 0.1 * (row[k+1] - 0.4)
		}
		return tau
	}
	for i := range n {
		ids[i] = fmt.Sprintf("u%d", i)
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = rng.Float64()
		}
		// The decision's offer depends on the first two features.
		best := 1 + min(offers-1, int(float64(offers)*(0.7*x[i][0]+0.3*x[i][1])))
		switch u := rng.Float64(); {
		case u < 0.2:
			a[i], p[i] = 0, 0.2
		case u < 0.2+0.8*0.95:
			a[i], p[i] = best, 0.8*0.95+explore
		default:
			a[i], p[i] = 1+rng.IntN(offers), explore
			if a[i] == best {
				p[i] += 0.8 * 0.95
			}
		}
		truth[i] = effects(x[i])
		mean := 0.1 + 0.2*x[i][0] + 0.1*x[i][offers+1]
		if a[i] > 0 {
			mean += truth[i][a[i]-1]
		}
		y[i] = b2f(rng.Float64() < mean)
	}
	data, err := NewData(ids, arms, features, x, a, y, p, 5, 1)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sorted := inDataOrder(data, ids, truth)
	fresh := make([][]float64, 20000)
	freshTruth := make([][]float64, len(fresh))
	for i := range fresh {
		fresh[i] = make([]float64, d)
		for j := range fresh[i] {
			fresh[i][j] = rng.Float64()
		}
		freshTruth[i] = effects(fresh[i])
	}
	return data, sorted, fresh, freshTruth, nil
}

// modelScore scores a model's effects on users with known true effects:
// the root mean squared error over users and offers, and the true value
// of its policy at a 30% budget as a share of the oracle's.
func modelScore(md *Model, xs, truth [][]float64) (rmse, share float64) {
	p := md.Predict(xs)
	tau := make([][]float64, len(xs))
	for i := range xs {
		for a, name := range md.Arms()[1:] {
			v := p.Effect[name][i]
			tau[i] = append(tau[i], v)
			rmse += (v - truth[i][a]) * (v - truth[i][a])
		}
	}
	rmse = math.Sqrt(rmse / float64(len(xs)*len(truth[0])))
	return rmse, trueValue(policy.Assign(tau, 0.3), truth) / trueValue(policy.Assign(truth, 0.3), truth)
}

// BenchmarkDecisionStage times what the weekly decision stage runs on a
// logged history of PROMOFLOW_STAGE_ROWS users (comma-separated; default
// 50000,150000) with 40 features and 4 offers: Analyze with every learner
// (5 folds), then Fit of the avg learner (which fits t, x and dr), under
// forests with the default Config and the fast settings of
// PROMOFLOW_STAGE_CONFIGS (comma-separated: default, fast, faster,
// t100s12; gbdt for the boosted base learner), on the history of
// seed PROMOFLOW_STAGE_SEED (default 1).
//
//	go test -run XXX -bench DecisionStage -benchtime 1x -v ./internal/uplift
func BenchmarkDecisionStage(b *testing.B) {
	sizes := []int{50000, 150000}
	if s := os.Getenv("PROMOFLOW_STAGE_ROWS"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	// The learners docs/EVALUATION.md's table was measured with (before
	// the S- and R-learners joined the defaults).
	learners := []string{TLearner, XLearner, DRLearner, AvgLearner}
	// The decision's base learner is the forest (workflows.UpliftConfig);
	// "gbdt" is the package's default.
	configs := map[string]Config{
		"default": {Seed: 1, Bootstrap: 100, Learners: learners, BaseName: BaseForest},
		"fast":    {Seed: 1, Bootstrap: 100, Trees: 50, Subsample: 0.25, Learners: learners, BaseName: BaseForest},
		"faster":  {Seed: 1, Bootstrap: 100, Trees: 30, Subsample: 0.2, Learners: learners, BaseName: BaseForest},
		"t100s12": {Seed: 1, Bootstrap: 100, Trees: 100, Subsample: 0.125, Learners: learners, BaseName: BaseForest},
		"gbdt":    {Seed: 1, Bootstrap: 100, Learners: learners, BaseName: BaseGBDT},
	}
	names := []string{"default", "fast", "faster"}
	if s := os.Getenv("PROMOFLOW_STAGE_CONFIGS"); s != "" {
		names = strings.Split(s, ",")
	}
	seed := uint64(1)
	if s := os.Getenv("PROMOFLOW_STAGE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		seed = v
	}
	for range b.N {
		for _, n := range sizes {
			d, truth, fresh, freshTruth, err := wideHistory(n, 40, 4, seed)
			if err != nil {
				b.Fatal(err)
			}
			for _, name := range names {
				cfg, ok := configs[name]
				if !ok {
					b.Fatalf("no config %q", name)
				}
				start, cpu0 := time.Now(), cpuTime()
				res, err := Analyze(d, cfg)
				if err != nil {
					b.Fatal(err)
				}
				analyzed := time.Since(start)
				md, err := FitWith(d, nil, AvgLearner, cfg, res.Mu)
				if err != nil {
					b.Fatal(err)
				}
				total, cpu := time.Since(start), cpuTime()-cpu0
				oof := trueValue(policy.Assign(res.Tau[res.Report.Chosen], 0.3), truth) / trueValue(policy.Assign(truth, 0.3), truth)
				rmse, share := modelScore(md, fresh, freshTruth)
				b.Logf("%d rows, %s %+v: Analyze %.1fs, Fit avg %.1fs, total %.1fs (CPU %.1fs); chosen %s (cv values %s), its out-of-fold policy at 30%% reaches %.3f of the oracle; fitted avg on new users: effect rmse %.4f, policy at 30%% %.3f of the oracle",
					n, name, cfg, analyzed.Seconds(), (total - analyzed).Seconds(), total.Seconds(), cpu.Seconds(), res.Report.Chosen, cvValues(res.Report), oof, rmse, share)
			}
		}
	}
}

// cpuTime returns the CPU time the process has used: wall time on a
// shared machine depends on the other load, CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cvValues(r *Report) string {
	var s []string
	for _, l := range r.Learners {
		s = append(s, fmt.Sprintf("%s %.4f", l.Name, l.CVPolicyValue))
	}
	return strings.Join(s, ", ")
}

// BenchmarkAnalyzeSmall analyses the small generated history of
// workflows.TestUpliftExecutorsAgree (1,200 users, 3 folds, every learner)
// with its settings: where the additive learner's group-lasso solves, not
// the rows, dominate the cost.
func BenchmarkAnalyzeSmall(b *testing.B) {
	var buf bytes.Buffer
	if err := synth.WriteHistory(&buf, synth.HistoryConfig{Config: synth.Config{Users: 1200, Seed: 7}}); err != nil {
		b.Fatal(err)
	}
	spec := Spec{ArmCol: "arm", Control: "control", OutcomeCol: "responded",
		Exclude: []string{"campaign_id", "sent_at", "revenue", "propensity"}}
	cfg := Config{Folds: 3, Seed: 5, Trees: 10, Bootstrap: 20, Budgets: []float64{0.1, 0.5}}
	d, _, err := Prepare(table(b, buf.String()), spec, cfg.Folds, cfg.Seed)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Analyze(d, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
