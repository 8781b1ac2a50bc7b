package uplift

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/policy"
	"github.com/promoflow/promoflow/internal/synth"
	"gonum.org/v1/gonum/stat"
)

func table(t testing.TB, csv string) *Table {
	t.Helper()
	tab, err := ReadTable(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestPrepare(t *testing.T) {
	csv := "\xef\xbb\xbfid,arm,y,x,colour,p\r\n" +
		"1,0,1,2.5,red,0.5\r\n" +
		"2,b,0,,blue,0.25\r\n" +
		"3,a,1,1,red,0.25\r\n" +
		"4,10,0,NA,,0.5\r\n" +
		"5,,1,1,red,0.5\r\n" + // no arm: dropped
		"6,0,,1,red,0.5\r\n" // no outcome: dropped
	d, info, err := Prepare(table(t, csv), Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y", Exclude: []string{"p"}}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Arms, []string{"0", "10", "a", "b"}) {
		t.Errorf("arms %q, want control first, numbers, then names", d.Arms)
	}
	if !slices.Equal(d.Features, []string{"x", "colour=red", "colour=blue"}) {
		t.Errorf("features %q", d.Features)
	}
	if info.Dropped != 2 || d.Rows() != 4 || info.IDCol != "id" || !info.Binary {
		t.Errorf("info %+v", info)
	}
	// Rows are ordered by fold; look them up by id.
	at := map[string]int{}
	for i, id := range d.IDs {
		at[id] = i
		if i > 0 && d.Fold[i] < d.Fold[i-1] {
			t.Errorf("rows not ordered by fold: %v", d.Fold)
		}
	}
	for id, want := range map[string]struct {
		x    []float64
		arm  int
		prop float64
	}{
		"1": {[]float64{2.5, 1, 0}, 0, 0.5},
		"2": {[]float64{math.NaN(), 0, 1}, 3, 0.25},
		"3": {[]float64{1, 1, 0}, 2, 0.25},
		"4": {[]float64{math.NaN(), 0, 0}, 1, 0.5},
	} {
		i, ok := at[id]
		if !ok {
			t.Fatalf("id %s missing", id)
		}
		if !slices.EqualFunc(d.X[i], want.x, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("id %s: features %v, want %v", id, d.X[i], want.x)
		}
		if d.A[i] != want.arm || d.P[i] != 0.25 {
			t.Errorf("id %s: arm %d propensity %v, want %d and the arm share 0.25", id, d.A[i], d.P[i], want.arm)
		}
	}
	if info.Propensity != "randomized: arm shares" {
		t.Errorf("propensity %q", info.Propensity)
	}
	logged, _, err := Prepare(table(t, csv), Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y", PropensityCol: "p"}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range logged.IDs {
		if want := map[string]float64{"1": 0.5, "2": 0.25, "3": 0.25, "4": 0.5}[id]; logged.P[i] != want {
			t.Errorf("id %s: logged propensity %v, want %v", id, logged.P[i], want)
		}
	}
	// Folds come from the id hash: the same id lands in the same fold
	// whatever else the table holds.
	d2, _, _ := Prepare(table(t, "id,arm,y,x\n3,a,0,9\n1,0,0,1\n"), Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y"}, 3, 1)
	for i, id := range d2.IDs {
		if d2.Fold[i] != d.Fold[at[id]] {
			t.Errorf("id %s: fold %d here, %d in the other table", id, d2.Fold[i], d.Fold[at[id]])
		}
	}

	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{ArmCol: "nope", Control: "0", OutcomeCol: "y"}, `arm column "nope"`},
		{Spec{ArmCol: "arm", Control: "0", OutcomeCol: "nope"}, `outcome column "nope"`},
		{Spec{ArmCol: "arm", Control: "z", OutcomeCol: "y"}, `control value "z" never appears`},
		{Spec{ArmCol: "arm", Control: "0", OutcomeCol: "colour"}, `outcome column "colour"`},
		{Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y", Features: []string{"x", "arm"}}, "also the id, arm"},
		{Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y", PropensityCol: "x"}, `propensity column "x"`},
	} {
		if _, _, err := Prepare(table(t, csv), tc.spec, 3, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestManyLevels(t *testing.T) {
	var b strings.Builder
	b.WriteString("arm,y,city\n")
	for i := range 100 {
		fmt.Fprintf(&b, "%d,%d,c%d\n", i%2, i%3%2, i%(MaxLevels+4))
	}
	d, _, err := Prepare(table(t, b.String()), Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y"}, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Features) != MaxLevels+1 || d.Features[MaxLevels] != "city=other" {
		t.Errorf("features %q, want %d levels and other", d.Features, MaxLevels)
	}
	for i, row := range d.X {
		var s float64
		for _, v := range row {
			s += v
		}
		if s != 1 {
			t.Fatalf("row %d one-hot sums to %v", i, s)
		}
	}
}

// simple builds a randomized three-arm history: arm 1 adds 0.3 to y where
// x0 > 0.5, arm 2 adds 0.2 where x0 <= 0.5, plus a categorical column
// that shifts the baseline. Returns the data and each row's true effects.
func simple(n int, seed uint64, binary bool) (*Data, [][]float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("id,arm,y,x0,x1,kind\n")
	truth := make([][]float64, n)
	for i := range n {
		x0, x1 := rng.Float64(), rng.Float64()
		kind := []string{"a", "b", "c"}[rng.IntN(3)]
		arm := rng.IntN(3)
		tau := []float64{0, 0}
		if x0 > 0.5 {
			tau[0] = 0.3
		} else {
			tau[1] = 0.2
		}
		truth[i] = tau
		mean := 0.2 + 0.2*x1
		if kind == "b" {
			mean += 0.1
		}
		if arm > 0 {
			mean += tau[arm-1]
		}
		y := mean + 0.3*rng.NormFloat64()
		if binary {
			y = 0
			if rng.Float64() < mean {
				y = 1
			}
		}
		fmt.Fprintf(&b, "u%d,%d,%g,%g,%g,%s\n", i, arm, y, x0, x1, kind)
	}
	tab, _ := ReadTable(strings.NewReader(b.String()))
	d, _, err := Prepare(tab, Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y"}, 4, 1)
	if err != nil {
		panic(err)
	}
	ids := map[string]int{}
	for i := range n {
		ids[fmt.Sprintf("u%d", i)] = i
	}
	out := make([][]float64, d.Rows())
	for i, id := range d.IDs {
		out[i] = truth[ids[id]]
	}
	return d, out
}

// trueValue is the true incremental value per user of a policy.
func trueValue(pi []int, truth [][]float64) float64 {
	var s float64
	for i, a := range pi {
		if a > 0 {
			s += truth[i][a-1]
		}
	}
	return s / float64(len(pi))
}

func TestLearnersRecoverEffects(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binary), func(t *testing.T) {
			d, truth := simple(6000, 2, binary)
			res, err := Analyze(d, Config{Seed: 3, Trees: 40, Bootstrap: 100})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Report
			oracle := trueValue(policy.Assign(truth, 1), truth) // 0.5*0.3 + 0.5*0.2
			for _, l := range r.Learners {
				v := trueValue(policy.Assign(res.Tau[l.Name], 1), truth)
				t.Logf("%s: cv value %.4f, true value %.4f of oracle %.4f", l.Name, l.CVPolicyValue, v, oracle)
				if v < 0.85*oracle {
					t.Errorf("%s: true value %.4f < 85%% of oracle %.4f", l.Name, v, oracle)
				}
			}
			// Both arms' effects are 0.15 and 0.1 on average.
			for a, want := range []float64{0, 0.15, 0.1} {
				e := r.Arms[a]
				if a > 0 && !(e.ATECI95[0] < want && want < e.ATECI95[1]) {
					t.Errorf("arm %s ATE %v %v, want an interval around %v", e.Name, e.ATE, e.ATECI95, want)
				}
			}
			last := r.Budgets[len(r.Budgets)-1]
			if !(last.IncrementalCI95[0] < oracle+0.02 && last.Incremental > 0.8*oracle) {
				t.Errorf("budget 1: %+v, oracle %v", last, oracle)
			}
			if mix := last.ArmMix["1"] + last.ArmMix["2"]; math.Abs(mix-last.Treated) > 1e-9 || last.Treated < 0.9 {
				t.Errorf("budget 1 arm mix %v treated %v", last.ArmMix, last.Treated)
			}
		})
	}
}

func TestAnalyzeDeterministic(t *testing.T) {
	d, _ := simple(1500, 4, true)
	cfg := Config{Seed: 1, Trees: 10, Bootstrap: 50}
	a, err := Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Analyze(d, cfg)
	ja, _ := json.Marshal(a.Report)
	jb, _ := json.Marshal(b.Report)
	if !bytes.Equal(ja, jb) {
		t.Error("two analyses with the same seed differ")
	}
	cfg.Seed = 2
	c, _ := Analyze(d, cfg)
	if jc, _ := json.Marshal(c.Report); bytes.Equal(ja, jc) {
		t.Error("another seed gives the same report")
	}
	var buf bytes.Buffer
	if err := WritePolicy(&buf, d, a.Tau[a.Report.Chosen], 0.3, Config{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != d.Rows()+1 || lines[0] != "id,fold,arm,outcome,effect_1,effect_2,best_arm,best_effect,assigned" {
		t.Errorf("policy CSV: %d lines, header %q", len(lines), lines[0])
	}
}

// TestAvgLearner: the avg learner averages the learners of Averaged
// requested, or every other learner requested when fewer than two of
// Averaged are; fold by fold, its effects are the smoothed mean of the
// tree learners among them (averaged with the additive learner's when it
// is one): they follow that mean closely (the projection is fit on the
// training rows, so on the fold's rows they are near it, not equal).
func TestAvgLearner(t *testing.T) {
	d, _ := simple(1500, 5, true)
	m, err := Matrix(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		learners, averaged []string
	}{
		{[]string{TLearner, DRLearner, AvgLearner}, []string{TLearner, DRLearner}},
		{[]string{TLearner, SLearner, DRLearner, AvgLearner}, []string{TLearner, SLearner, DRLearner}},
		{[]string{TLearner, SLearner, XLearner, RLearner, DRLearner, AvgLearner}, []string{SLearner, XLearner}},
		{[]string{TLearner, SLearner, XLearner, RLearner, DRLearner, CFLearner, AvgLearner}, []string{SLearner, XLearner, CFLearner}},
		{[]string{TLearner, CFLearner, SLearner, AvgLearner}, []string{CFLearner, SLearner}},
		{[]string{TLearner, RLearner, SLearner, AvgLearner}, []string{TLearner, RLearner, SLearner}},
		{[]string{TLearner, SLearner, AdditiveLearner, AvgLearner}, []string{SLearner, AdditiveLearner}},
	} {
		cfg := Config{Seed: 1, Trees: 5, Learners: tc.learners, BaseName: BaseForest}
		if got := cfg.averaged(); !slices.Equal(got, tc.averaged) {
			t.Errorf("learners %v: avg averages %v, want %v", tc.learners, got, tc.averaged)
		}
		f, err := Fold(d, m, 2, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Tau[AvgLearner]) != len(d.FoldRows(2)) {
			t.Fatalf("%d avg rows, fold has %d", len(f.Tau[AvgLearner]), len(d.FoldRows(2)))
		}
		trees, additive := smoothed(tc.averaged)
		for a := range d.Arms[1:] {
			// smooth is avg less the additive learner's half.
			var smooth, mean []float64
			for j, row := range f.Tau[AvgLearner] {
				v := row[a]
				if additive {
					v = 2*v - f.Tau[AdditiveLearner][j][a]
				}
				smooth = append(smooth, v)
				var m float64
				for _, l := range trees {
					m += f.Tau[l][j][a] / float64(len(trees))
				}
				mean = append(mean, m)
			}
			r := stat.Correlation(smooth, mean, nil)
			diff := math.Abs(stat.Mean(smooth, nil) - stat.Mean(mean, nil))
			// A five-tree forest's effects are rough: the smoothed S-learner
			// alone correlated 0.78 with them.
			if r < 0.7 || diff > 0.005 {
				t.Errorf("learners %v, arm %d: avg's smoothed trees correlate %.3f with their mean (want >= 0.7), means %.4f apart (want <= 0.005)", tc.learners, a, r, diff)
			}
		}
	}
}

// TestNetOfCost: on simple's history (arm 1 adds 0.3 where x0 > 0.5, arm
// 2 adds 0.2 elsewhere), a cost on arm 1 moves the policy to arm 2, whose
// value net of cost is higher, and a cost above arm 1's effect keeps arm 1
// out of the policy; the report's net value is the incremental value
// times Value minus the costs of the arms given.
func TestNetOfCost(t *testing.T) {
	d, _ := simple(6000, 2, false)
	for _, tc := range []struct {
		costs    map[string]float64
		value    float64
		budget   float64
		arm1Max  float64 // largest share of users arm 1 may get
		arm2Min  float64 // smallest share of users arm 2 must get
		wantsNet bool
	}{
		{nil, 0, 0.4, 0.45, 0, false},                           // without costs arm 1 (0.3) ranks first
		{map[string]float64{"1": 0.25}, 1, 0.4, 0.1, 0.3, true}, // net 0.05 against arm 2's 0.2
		{map[string]float64{"1": 0.4}, 2, 0.4, 0.1, 0.3, true},  // 0.3 x 2 - 0.4 = 0.2 against 0.2 x 2 = 0.4
		{map[string]float64{"1": 0.5}, 1, 1, 0.01, 0.4, true},   // arm 1 never pays
	} {
		cfg := Config{Seed: 3, Trees: 20, Bootstrap: 50, Learners: []string{TLearner}, Budgets: []float64{tc.budget}, Costs: tc.costs, Value: tc.value}
		res, err := Analyze(d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		line := res.Report.Budgets[0]
		t.Logf("costs %v value %v: arm mix %v, net %v", tc.costs, tc.value, line.ArmMix, line.Net)
		if line.ArmMix["1"] > tc.arm1Max || line.ArmMix["2"] < tc.arm2Min {
			t.Errorf("costs %v value %v: arm mix %v, want arm 1 <= %v and arm 2 >= %v", tc.costs, tc.value, line.ArmMix, tc.arm1Max, tc.arm2Min)
		}
		if (line.Net != nil) != tc.wantsNet {
			t.Fatalf("costs %v: net %v", tc.costs, line.Net)
		}
		if line.Net != nil {
			value := cfg.WithDefaults().Value
			want := line.Incremental*value - line.ArmMix["1"]*tc.costs["1"]
			if math.Abs(*line.Net-want) > 1e-9 || math.Abs(res.Report.Learners[0].CVPolicyValue-want) > 1e-9 {
				t.Errorf("costs %v: net %v, cv value %v, want %v", tc.costs, *line.Net, res.Report.Learners[0].CVPolicyValue, want)
			}
		}
	}
}

// TestNetUnknownArm: costs must name offers of the history.
func TestNetUnknownArm(t *testing.T) {
	d, _ := simple(300, 2, false)
	_, err := Analyze(d, Config{Trees: 2, Bootstrap: 10, Learners: []string{TLearner}, Costs: map[string]float64{"0": 1}})
	if err == nil || !strings.Contains(err.Error(), `cost of arm "0"`) {
		t.Errorf("a cost for control: %v", err)
	}
}

// TestNet checks Config.Net's arithmetic.
func TestNet(t *testing.T) {
	arms := []string{"control", "a", "b"}
	tau := [][]float64{{0.1, 0.2}, {-0.1, 0.05}}
	for _, tc := range []struct {
		cfg  Config
		want [][]float64
	}{
		{Config{}, tau},
		{Config{Costs: map[string]float64{"b": 1}, Value: 10}, [][]float64{{1, 1}, {-1, -0.5}}},
		{Config{Costs: map[string]float64{"a": 0.05}}, [][]float64{{0.05, 0.2}, {-0.15, 0.05}}},
	} {
		got := tc.cfg.Net(arms, tau)
		for i := range got {
			for a := range got[i] {
				if math.Abs(got[i][a]-tc.want[i][a]) > 1e-12 {
					t.Errorf("%+v: net %v, want %v", tc.cfg, got, tc.want)
				}
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Learners: []string{"q"}},
		{Value: -1},
		{Value: math.Inf(1)},
		{Costs: map[string]float64{"a": -1}},
		{Costs: map[string]float64{"a": math.NaN()}},
		{Learners: []string{}},
		{Learners: []string{AvgLearner}},
		{Learners: []string{TLearner, XLearner, TLearner}},
		{Budgets: []float64{0}},
		{Budgets: []float64{1.5}},
		{Folds: 1},
		{Weighting: "aipw"},
		{Subsample: 1.5},
		{Subsample: -0.1},
		{Subsample: math.NaN()},
		{MinPropensity: -0.1},
		{MinPropensity: 2},
		{BaseName: "lightgbm"},
	} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// synthHistory generates a campaign history with the planted effects of
// package synth and returns it prepared, with every row's true uplift per
// offer.
func synthHistory(t testing.TB, cfg synth.HistoryConfig, spec Spec) (*Data, [][]float64) {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.WriteHistory(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	spec.ArmCol, spec.Control, spec.OutcomeCol = "arm", "control", "responded"
	spec.Exclude = append(spec.Exclude, "campaign_id", "sent_at", "revenue", "propensity")
	d, _, err := Prepare(table(t, buf.String()), spec, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	truth := make([][]float64, d.Rows())
	tr := synth.NewTruth(cfg.Config)
	for i, id := range d.IDs {
		p := tr.Persona(id)
		for _, arm := range d.Arms[1:] {
			truth[i] = append(truth[i], p.Uplift[arm])
		}
	}
	return d, truth
}

// oracleRun is a learned policy measured against the oracle on a generated
// history.
type oracleRun struct {
	res     *Result
	d       *Data
	truth   [][]float64 // true effect per row and offer (synth.Truth)
	persona [][]float64 // the persona's mean effect per row and offer
}

// learnGenerated generates a history of users users with seed seed,
// analyses it as TestPolicyVsOracle does, and returns the truths to
// measure it with.
func learnGenerated(t testing.TB, users int, seed int64, budgets []float64) *oracleRun {
	gen := synth.Config{Users: users, Seed: seed}
	d, truth := synthHistory(t, synth.HistoryConfig{Config: gen}, Spec{})
	cfg := Config{Seed: 1, Trees: 50, Bootstrap: 100, Budgets: budgets}
	res, err := Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &oracleRun{res: res, d: d, truth: truth, persona: make([][]float64, d.Rows())}
	tr := synth.NewTruth(gen)
	for i, id := range d.IDs {
		m := synth.MeanUplift(tr.Persona(id).Name)
		for _, arm := range d.Arms[1:] {
			o.persona[i] = append(o.persona[i], m[arm])
		}
	}
	return o
}

// at returns, at budget b, the true incremental purchases per user of the
// oracle (knows every user's true effects), the persona oracle (knows
// every user's persona and its mean effects), the chosen learner's policy
// and random targeting with the best single offer.
func (o *oracleRun) at(b float64) (oracle, persona, learned, random float64) {
	oracle = trueValue(policy.Assign(o.truth, b), o.truth)
	persona = trueValue(policy.Assign(o.persona, b), o.truth)
	learned = trueValue(policy.Assign(o.res.Tau[o.res.Report.Chosen], b), o.truth)
	var bestArm float64
	for a := range o.d.Arms[1:] {
		var s float64
		for _, tr := range o.truth {
			s += tr[a]
		}
		bestArm = max(bestArm, s/float64(len(o.truth)))
	}
	return oracle, persona, learned, b * bestArm
}

// TestPolicyVsOracle learns a policy from generated histories (50,000
// users each, seeds 7, 8 and 9, whose offer effects are a function of
// their behaviour plus a small hidden term: synth.WriteHistory) and
// measures its true incremental value against the oracle that knows every
// user's true effect (synth.Truth), at a 30% budget, with the package's
// default base learner and learners: at least 0.90 of the oracle's on each
// seed and 0.95 on average, issue 15's goal (0.960, 0.951 and 0.943, mean
// 0.951, with avg's smoothed tree learners and the additive model; 0.945
// with the plain mean of S, X, the causal forest and the additive model,
// 0.934 without the additive model; forests reached 0.908).
// docs/EVALUATION.md has the numbers.
func TestPolicyVsOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("3 x 50,000 users")
	}
	budgets := []float64{0.1, 0.3, 0.5}
	seeds := []int64{7, 8, 9}
	var sum float64
	for _, seed := range seeds {
		o := learnGenerated(t, 50000, seed, budgets)
		r := o.res.Report
		for k, b := range budgets {
			oracle, persona, learned, random := o.at(b)
			t.Logf("seed %d, %.0f%% budget, true incremental per user: oracle %.4f, persona oracle %.4f (%.3f), learned %s %.4f (%.3f of oracle), random best arm %.4f; DR estimate %.4f %.4f",
				seed, 100*b, oracle, persona, persona/oracle, r.Chosen, learned, learned/oracle, random, r.Budgets[k].Incremental, r.Budgets[k].IncrementalCI95)
		}
		oracle, persona, learned, random := o.at(0.3)
		for _, l := range r.Learners {
			v := trueValue(policy.Assign(o.res.Tau[l.Name], 0.3), o.truth)
			t.Logf("seed %d, learner %s: cv policy value %.4f, true value at 30%% %.4f (%.3f of oracle)", seed, l.Name, l.CVPolicyValue, v, v/oracle)
		}
		sum += learned / oracle
		if learned < 0.90*oracle {
			t.Errorf("seed %d: learned policy reaches %.3f of the oracle at 30%%, want >= 0.90", seed, learned/oracle)
		}
		// Effects vary within personas with behaviour: a policy that knows
		// only the persona falls short, and the learned policy does better.
		if learned < persona {
			t.Errorf("seed %d: learned %.4f below the persona oracle's %.4f", seed, learned, persona)
		}
		if learned < 2*random {
			t.Errorf("seed %d: learned %.4f is not twice random targeting's %.4f", seed, learned, random)
		}
	}
	mean := sum / float64(len(seeds))
	t.Logf("mean share of the oracle at 30%% over seeds %v: %.3f", seeds, mean)
	if mean < 0.95 {
		t.Errorf("learned policies reach %.3f of the oracle at 30%% on average, want >= 0.95", mean)
	}
}

// TestLoggedPropensities uses a history that favoured recent buyers with
// control: the naive difference in means is biased, the doubly robust
// effect with the logged propensities is not.
func TestLoggedPropensities(t *testing.T) {
	if testing.Short() {
		t.Skip("30,000 users")
	}
	gen := synth.Config{Users: 30000, Seed: 9}
	d, truth := synthHistory(t, synth.HistoryConfig{Config: gen, Targeted: true}, Spec{PropensityCol: "propensity"})
	res, err := Analyze(d, Config{Seed: 1, Trees: 30, Bootstrap: 100, Learners: []string{TLearner}})
	if err != nil {
		t.Fatal(err)
	}
	for a, e := range res.Report.Arms[1:] {
		var s float64
		for _, tr := range truth {
			s += tr[a]
		}
		want := s / float64(len(truth))
		naive := e.Mean - res.Report.Arms[0].Mean
		t.Logf("%s: true ATE %.4f, DR %.4f %v, naive difference %.4f", e.Name, want, e.ATE, e.ATECI95, naive)
		if !(e.ATECI95[0] < want && want < e.ATECI95[1]) {
			t.Errorf("%s: DR interval %v misses the true ATE %.4f", e.Name, e.ATECI95, want)
		}
	}
}

// artea is the Artea coupon experiment shipped beside the repository (see
// ../shared/data/artea/README.md); tests that need it skip without it.
const artea = "../../../shared/data/artea/artea-a_b-experiment.csv"

// TestArtea analyses the Artea coupon experiment: 5,000 customers, half
// given a coupon at random. The README reports mean transactions of 0.126
// without and 0.152 with the coupon. The configuration is starter
// uplift's defaults (5 folds, base learner gbdt, 400 bootstrap resamples,
// seed 42, every learner): its log is docs/EVALUATION.md's Artea figures.
func TestArtea(t *testing.T) {
	f, err := os.Open(artea)
	if err != nil {
		t.Skipf("Artea data not found: %v", err)
	}
	defer f.Close()
	tab, err := ReadTable(f)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{ArmCol: "test_coupon", Control: "0", OutcomeCol: "trans_after",
		Features: []string{"channel_acq", "num_past_purch", "spent_last_purchase", "weeks_since_visit", "browsing_minutes", "shopping_cart"}}
	d, info, err := Prepare(tab, spec, 5, 42)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 5000 || info.IDCol != "id" || !slices.Equal(d.Arms, []string{"0", "1"}) {
		t.Fatalf("info %+v arms %q", info, d.Arms)
	}
	res, err := Analyze(d, Config{Seed: 42, Trees: 100, Bootstrap: 400})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	c, coupon := r.Arms[0], r.Arms[1]
	if math.Abs(c.Mean-0.126) > 0.001 || math.Abs(coupon.Mean-0.152) > 0.001 || c.N+coupon.N != 5000 {
		t.Errorf("arms %+v, want means 0.126 and 0.152", r.Arms)
	}
	if !(coupon.ATECI95[0] > 0 && coupon.ATECI95[0] < coupon.ATE && coupon.ATE < coupon.ATECI95[1]) {
		t.Errorf("coupon ATE %v %v: want an interval above zero around it", coupon.ATE, coupon.ATECI95)
	}
	for _, b := range r.Budgets {
		if !(b.IncrementalCI95[0] < b.Incremental && b.Incremental < b.IncrementalCI95[1]) || b.Ratio == nil {
			t.Errorf("budget %+v", b)
		}
	}
	out, _ := json.Marshal(r)
	for _, field := range []string{`"arms":[{"name":"0","n":`, `"ate_ci95":[`, `"learners":[{"name":"t","cv_policy_value":`, `"chosen_learner":"`, `"qini":{`, `"budgets":[{"fraction":0.1,"incremental":`, `"random_incremental":`, `"ratio":`, `"arm_mix":{`} {
		if !strings.Contains(string(out), field) {
			t.Errorf("report JSON lacks %s", field)
		}
	}
	t.Logf("coupon ATE %.4f %v; chosen %s", coupon.ATE, coupon.ATECI95, r.Chosen)
	for _, l := range r.Learners {
		t.Logf("learner %s: cv policy value %.4f %.4f", l.Name, l.CVPolicyValue, l.ByBudget)
	}
	t.Logf("qini %.3f auuc %.4f (random %.4f)", r.Qini.Arms[0].Qini, r.Qini.Arms[0].AUUC, r.Qini.Arms[0].AUUCRandom)
	for _, b := range r.Budgets {
		ratio := math.NaN()
		if b.Ratio != nil {
			ratio = *b.Ratio
		}
		t.Logf("budget %.0f%%: incremental %+.4f [%+.4f, %+.4f], random %.4f, ratio %.2f, treated %.3f", 100*b.Fraction, b.Incremental, b.IncrementalCI95[0], b.IncrementalCI95[1], b.RandomIncremental, ratio, b.Treated)
	}
}

// BenchmarkPolicyVsOracle measures, on a generated history of
// PROMOFLOW_ORACLE_USERS users (default 100,000; seed 7), the share of the
// oracle's true incremental value that the learned policy reaches at
// budgets of 10, 30 and 50%: the figure docs/EVALUATION.md reports.
//
//	go test -run XXX -bench PolicyVsOracle -benchtime 1x ./internal/uplift
func BenchmarkPolicyVsOracle(b *testing.B) {
	users := 100000
	if s := os.Getenv("PROMOFLOW_ORACLE_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		users = n
	}
	budgets := []float64{0.1, 0.3, 0.5}
	for range b.N {
		o := learnGenerated(b, users, 7, budgets)
		for _, bu := range budgets {
			oracle, persona, learned, random := o.at(bu)
			b.Logf("%d users, %.0f%% budget: oracle %.4f, persona oracle %.4f, learned %s %.4f (%.3f of oracle), random best arm %.4f",
				users, 100*bu, oracle, persona, o.res.Report.Chosen, learned, learned/oracle, random)
			b.ReportMetric(learned/oracle, fmt.Sprintf("oracle_share@%.0f%%", 100*bu))
		}
	}
}
