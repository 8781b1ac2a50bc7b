package workflows_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/internal/uplift"
	"github.com/promoflow/promoflow/workflows"
)

// TestIntegrationUplift runs the Uplift workflow on the real Temporal dev
// server and S3 gateway on a generated campaign history, and checks that
// its report equals the in-process analysis of the same history, that the
// report and policy objects exist, and that a history the spec does not
// fit fails as bad input.
func TestIntegrationUplift(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)
	var hist bytes.Buffer
	must(t, synth.WriteHistory(&hist, synth.HistoryConfig{Config: synth.Config{Users: 4000, Seed: 3}}))
	must(t, store.Put(ctx, "raw/uplift/history.csv", hist.Bytes()))

	c := stack.TemporalClient(t)
	const queue = "promoflow-uplift-it"
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()

	spec := uplift.Spec{ArmCol: "arm", Control: "control", OutcomeCol: "responded",
		Exclude: []string{"campaign_id", "sent_at", "revenue", "propensity"}}
	cfg := uplift.Config{Folds: 3, Seed: 5, Trees: 20, Bootstrap: 50, Budgets: []float64{0.1, 0.3, 1}}
	in := workflows.UpliftInput{RunID: "up-1", HistoryKey: "raw/uplift/history.csv", Spec: spec, Config: cfg, Window: 2}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.RunID, TaskQueue: queue}, workflows.Uplift, in)
	must(t, err)
	var out workflows.UpliftOutput
	must(t, wr.Get(ctx, &out))

	// The same analysis in one process.
	tab, err := uplift.ReadTable(bytes.NewReader(hist.Bytes()))
	must(t, err)
	d, info, err := uplift.Prepare(tab, spec, cfg.Folds, cfg.Seed)
	must(t, err)
	res, err := uplift.Analyze(d, cfg)
	must(t, err)
	got, _ := json.Marshal(out.Report)
	want, _ := json.Marshal(res.Report)
	if !bytes.Equal(got, want) {
		t.Errorf("workflow report differs from the in-process analysis:\n got %s\nwant %s", got, want)
	}
	if len(out.Arms) != 5 || out.Arms[0].Name != "control" || out.Info.Rows != 4000 || out.Chosen == "" || len(out.Budgets) != 3 {
		t.Errorf("output %+v", out)
	}
	if !slicesEqual(out.Info.Features, info.Features) {
		t.Errorf("features %q, want %q", out.Info.Features, info.Features)
	}
	stored, err := store.Get(ctx, out.ReportKey)
	must(t, err)
	var rep uplift.Report
	must(t, json.Unmarshal(stored, &rep))
	if rep.Chosen != out.Chosen {
		t.Errorf("stored report chose %q, workflow %q", rep.Chosen, out.Chosen)
	}
	pol, err := store.Get(ctx, out.PolicyKey)
	must(t, err)
	if n := strings.Count(string(pol), "\n"); n != 4001 {
		t.Errorf("policy CSV has %d lines, want 4001", n)
	}

	// A spec that does not fit the file fails at once, without retries.
	bad := in
	bad.RunID, bad.Spec.ArmCol = "up-bad", "treatment"
	wr, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: bad.RunID, TaskQueue: queue}, workflows.Uplift, bad)
	must(t, err)
	if err := wr.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), `arm column "treatment"`) {
		t.Errorf("bad spec: %v", err)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
