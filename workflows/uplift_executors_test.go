package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/uplift"
)

// TestUpliftExecutorsAgree runs the uplift driver (uplift.CrossFit)
// through both executors on a generated campaign history: uplift.Analyze
// in process, and the Uplift workflow under the test suite with the real
// activities over an in-memory bucket. The reports must be equal byte for
// byte as JSON, and the written policy must have a row per user at the
// driver's policy budget.
func TestUpliftExecutorsAgree(t *testing.T) {
	ctx := context.Background()
	var hist bytes.Buffer
	if err := synth.WriteHistory(&hist, synth.HistoryConfig{Config: synth.Config{Users: 1200, Seed: 7}}); err != nil {
		t.Fatal(err)
	}
	spec := uplift.Spec{ArmCol: "arm", Control: "control", OutcomeCol: "responded",
		Exclude: []string{"campaign_id", "sent_at", "revenue", "propensity"}}
	cfg := uplift.Config{Folds: 3, Seed: 5, Trees: 10, Bootstrap: 20, Budgets: []float64{0.1, 0.5}}

	tab, err := uplift.ReadTable(bytes.NewReader(hist.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := uplift.Prepare(tab, spec, cfg.Folds, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := uplift.Analyze(d, cfg)
	if err != nil {
		t.Fatal(err)
	}

	store := blob.NewMem()
	if err := store.Put(ctx, "raw/history.csv", hist.Bytes()); err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// The suite's default 3 s guards against deadlocks; these activities
	// cross-fit every learner for real, and beside other packages' tests
	// (make test on a clean clone) took longer than 3 s.
	env.SetTestTimeout(time.Minute)
	env.RegisterActivity(&activities.Activities{Store: store, TempDir: t.TempDir()})
	env.ExecuteWorkflow(Uplift, UpliftInput{RunID: "agree", HistoryKey: "raw/history.csv", Spec: spec, Config: cfg, Window: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out UpliftOutput
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(out.Report)
	want, _ := json.Marshal(res.Report)
	if !bytes.Equal(got, want) {
		t.Errorf("workflow report differs from the in-process analysis:\n got %s\nwant %s", got, want)
	}
	if out.Rows != 1200 || out.Folds != 3 || len(out.Learners) == 0 || len(out.Budgets) != 2 {
		t.Errorf("report %+v", out.Report)
	}
	// 0.3 is not among the budgets: the policy is written at the first.
	pol, err := store.Get(ctx, out.PolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := uplift.WritePolicy(&buf, d, res.Tau[res.Report.Chosen], 0.1, cfg.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pol, buf.Bytes()) || strings.Count(string(pol), "\n") != 1201 {
		t.Errorf("policy: %d bytes, want the in-process policy at budget 0.1 (%d bytes)", len(pol), buf.Len())
	}
}
