package workflows_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// TestIntegrationSmallHoliday is the holiday run with about 60 eligible
// users on the real servers, where the stratified 10% control group used to
// round to nothing in every shard and segment. With the template's minimum
// (holiday: 20) the plan holds out at least 20 users and the summary and
// the report state the minimum detectable lift. With a minimum the
// audience cannot hold (40 of about 60: more than half), the campaign is
// said not to be measurable and, as the holiday template chooses
// (unmeasurable: approve), waits for a reviewer, who is told why; a
// rejection publishes nothing.
func TestIntegrationSmallHoliday(t *testing.T) {
	const queue = "promoflow-small-holiday"
	store, c := startWorker(t, queue)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.csv.gz")
	_, err := synth.WriteFile(path, synth.Config{Users: 64, Seed: 3})
	must(t, err)
	must(t, store.PutFile(ctx, "raw/small-holiday/events.csv.gz", path))
	start := func(id string, spec *campaign.Template, cat *campaign.Catalog) client.WorkflowRun {
		t.Helper()
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate,
			workflows.RegenerateInput{RunID: id, Template: spec.Name, Inputs: []string{"raw/small-holiday/events.csv.gz"}, Seed: 1, Spec: spec, Catalog: cat})
		must(t, err)
		return wr
	}
	load := func() (*campaign.Template, *campaign.Catalog) {
		spec, cat, err := workflows.LoadCampaign("holiday")
		must(t, err)
		if spec.MinControl != 20 || spec.UnmeasurableAction() != campaign.UnmeasurableApprove {
			t.Fatalf("holiday template: min_control %d, unmeasurable %q", spec.MinControl, spec.Unmeasurable)
		}
		// The review step is the approval test's; here the template's own
		// rule is off so that only measurability can ask for a reviewer.
		spec.Approval = campaign.Approval{}
		spec.Event = "Small Fest"
		return spec, cat
	}

	t.Run("minimum held", func(t *testing.T) {
		spec, cat := load()
		var sum workflows.Summary
		must(t, start("small-holiday", spec, cat).Get(ctx, &sum))
		m := sum.Strategy.Measurability
		a := sum.Strategy.Audience
		if m == nil || !m.Measurable || m.MDL == nil || m.HeldOut < 20 || a.Control != m.HeldOut || !m.ToppedUp {
			t.Fatalf("audience %+v, measurability %+v: want at least 20 held out, topped up, a stated MDL", a, m)
		}
		if a.Eligible < 50 || a.Eligible > 70 {
			t.Errorf("%d eligible users, want about 60", a.Eligible)
		}
		t.Logf("%d eligible, %d held out (%d would have got an offer), %d treated: MDL %.1f pp, expected lift %.1f pp",
			a.Eligible, m.HeldOut, m.Control, m.Treated, 100**m.MDL, 100*m.ExpectedLift)
		html, err := store.Get(ctx, layout.Campaign("small-holiday")+"report.html")
		must(t, err)
		if !strings.Contains(string(html), "Minimum detectable lift") || !strings.Contains(string(html), `<section id="measurability">`) {
			t.Error("report.html states no minimum detectable lift")
		}
		// The plan's summary.json says it too, and the template's overview
		// lists the campaign as live.
		js, err := store.Get(ctx, layout.CampaignSummary("small-holiday"))
		must(t, err)
		if !strings.Contains(string(js), `"mdl":`) {
			t.Error("summary.json has no mdl")
		}
		page, err := store.Get(ctx, layout.TemplateOverview("holiday"))
		must(t, err)
		if !strings.Contains(string(page), `id="week-small-holiday"`) {
			t.Error("the holiday overview does not list the campaign")
		}
	})

	t.Run("not measurable waits for approval", func(t *testing.T) {
		spec, cat := load()
		spec.MinControl = 40
		const id = "small-holiday-unmeasurable"
		wr := start(id, spec, cat)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
			var p workflows.Progress
			if err == nil && v.Get(&p) == nil && p.Stage == workflows.AwaitingApproval {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not awaiting approval after 3 minutes: %+v %v", p, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: workflows.RejectUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.ApprovalInput{By: "tester", Comment: "not measurable"}},
		})
		must(t, err)
		var rec workflows.ApprovalRecord
		must(t, h.Get(ctx, &rec))
		var sum workflows.Summary
		must(t, wr.Get(ctx, &sum))
		m := sum.Strategy.Measurability
		if m == nil || m.Measurable || m.Action != campaign.UnmeasurableApprove || m.ToppedUp {
			t.Fatalf("measurability %+v: want not measurable, approve", m)
		}
		if sum.Approval == nil || sum.Approval.Status != workflows.ApprovalRejected || !strings.Contains(sum.Approval.Reason, "not measurable") {
			t.Errorf("approval %+v: want rejected, with the reason", sum.Approval)
		}
		t.Logf("reviewer was told: %s", sum.Approval.Reason)
		if _, err := store.Get(ctx, layout.Campaign(id)+"plan.csv"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("a rejected campaign was published: %v", err)
		}
	})
}
