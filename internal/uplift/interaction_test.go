package uplift

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/policy"
)

// TestInteractionEffect is the history the avg learner's smoothing cannot
// express: one offer whose effect is 0.2 where exactly one of x0 > 0.5
// and x1 > 0.5 holds (an exclusive or) and 0 elsewhere. Every additive
// function of x0 and x1 ranks those users no better than chance, so the
// additive learner and the smoothed avg cannot find them; the tree
// learners can, and the choice by cross-fitted policy value must take
// one of them over avg.
func TestInteractionEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 users, every learner")
	}
	const n = 20000
	rng := rand.New(rand.NewPCG(11, 2))
	var b strings.Builder
	b.WriteString("id,arm,y,x0,x1,x2\n")
	truth := map[string]float64{}
	for i := range n {
		x0, x1, x2 := rng.Float64(), rng.Float64(), rng.Float64()
		arm := rng.IntN(2)
		var tau float64
		if (x0 > 0.5) != (x1 > 0.5) {
			tau = 0.2
		}
		id := fmt.Sprintf("u%d", i)
		truth[id] = tau
		y := 0.3 + 0.2*x2 + 0.3*rng.NormFloat64()
		if arm == 1 {
			y += tau
		}
		fmt.Fprintf(&b, "%s,%d,%g,%g,%g,%g\n", id, arm, y, x0, x1, x2)
	}
	tab, err := ReadTable(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := Prepare(tab, Spec{ArmCol: "arm", Control: "0", OutcomeCol: "y"}, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(d, Config{Seed: 1, Trees: 50, Bootstrap: 100})
	if err != nil {
		t.Fatal(err)
	}
	tr := make([][]float64, d.Rows())
	for i, id := range d.IDs {
		tr[i] = []float64{truth[id]}
	}
	// Half the users have the effect: the oracle gives the offer to all of
	// them at a 50% budget.
	oracle := trueValue(policy.Assign(tr, 0.5), tr)
	share := map[string]float64{}
	for _, l := range res.Report.Learners {
		share[l.Name] = trueValue(policy.Assign(res.Tau[l.Name], 0.5), tr) / oracle
		t.Logf("learner %s: cv policy value %.4f, true value at 50%% %.3f of the oracle", l.Name, l.CVPolicyValue, share[l.Name])
	}
	chosen := res.Report.Chosen
	t.Logf("chosen %s", chosen)
	if chosen == AvgLearner || chosen == AdditiveLearner {
		t.Errorf("chose %s (%.3f of the oracle), an additive ranking of an exclusive or", chosen, share[chosen])
	}
	if share[chosen] < 0.85 {
		t.Errorf("the chosen %s reaches %.3f of the oracle at 50%%, want >= 0.85", chosen, share[chosen])
	}
	if share[AvgLearner] > 0.8 {
		t.Errorf("avg reaches %.3f of the oracle on an exclusive or: the history does not test what it says", share[AvgLearner])
	}
}
