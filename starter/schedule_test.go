package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

func TestScheduleBadRequests(t *testing.T) {
	t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no subcommand", []string{"schedule"}, "missing subcommand"},
		{"unknown subcommand", []string{"schedule", "explode"}, `unknown subcommand "explode"`},
		{"neither every nor cron", []string{"schedule", "create"}, "exactly one of --every and --cron"},
		{"both", []string{"schedule", "create", "--every", "168h", "--cron", "0 3 * * MON"}, "exactly one of --every and --cron"},
		{"bad timezone", []string{"schedule", "create", "--cron", "0 3 * * MON", "--timezone", "Mars/Olympus"}, "--timezone"},
		{"bad prefix", []string{"schedule", "create", "--every", "168h", "--input-prefix", "runs/x/"}, "want a raw/ prefix"},
		{"describe without id", []string{"schedule", "describe"}, "usage: starter schedule describe ID"},
		{"bad budget", []string{"schedule", "create", "--every", "168h", "--budget", "5000abc"}, `"5000abc" is not a number`},
		{"unknown template", []string{"schedule", "create", "--every", "168h", "--template", "easter"}, `unknown template "easter"`},
		{"history without mapping", []string{"schedule", "create", "--every", "168h", "--history", "raw/h/"}, "--history needs a --mapping"},
		{"update without id", []string{"schedule", "update", "--budget", "1"}, "usage: starter schedule update ID"},
		{"update with every and cron", []string{"schedule", "update", "weekly", "--every", "1h", "--cron", "0 3 * * MON"}, "at most one of --every and --cron"},
		{"outcomes without campaign", []string{"outcomes", "--input", "x.csv"}, "usage: starter outcomes --campaign C"},
		{"outcomes of a missing file", []string{"outcomes", "--campaign", "c", "--input", "/nonexistent/x.csv"}, "no such file"},
		{"bad backfill", []string{"schedule", "backfill", "weekly", "--start", "yesterday"}, "want --start and --end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want failure mentioning %q", code, stderr.String(), tc.msg)
			}
		})
	}
}

// TestScheduleLifecycle drives a schedule through the CLI on the real dev
// server with a worker: create (twice: idempotent), list, trigger (the run
// reads the newest drop under raw/weekly/, gets the week's campaign id and
// starts its evaluation), describe, pause, resume, backfill, delete.
func TestScheduleLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack, c := startStack(t, true)
	store := stack.Store(t)
	// Two drops: the older one is garbage, so reading it would fail the run.
	path := filepath.Join(t.TempDir(), "events.csv.gz")
	if _, err := synth.WriteFile(path, synth.Config{Users: 400, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, "raw/weekly/2026-11-16/events.csv", []byte("not,a\ncanonical,file\n")); err != nil {
		t.Fatal(err)
	}
	if err := store.PutFile(ctx, "raw/weekly/2026-11-23/events.csv.gz", path); err != nil {
		t.Fatal(err)
	}
	cli := cliRunner(t, ctx)
	create := []string{"schedule", "create", "--template", "weekly", "--cron", "0 3 * * MON", "--timezone", "Europe/Paris", "--shards", "2", "--k", "3"}
	if out := cli(create...); !strings.Contains(out, "schedule weekly created") || !strings.Contains(out, "overlap:  Skip") {
		t.Errorf("first create:\n%s", out)
	}
	if out := cli(create...); !strings.Contains(out, "schedule weekly already exists") {
		t.Errorf("second create:\n%s", out)
	}
	if out := cli("schedule", "list"); !strings.Contains(out, "weekly") || !strings.Contains(out, "at dow 1 hour 3 minute 0, in Europe/Paris") {
		t.Errorf("list:\n%s", out)
	}
	triggered := time.Now().UTC()
	cli("schedule", "trigger", "weekly")

	// The triggered run: found by its search attribute, finished, on the newest drop.
	campaign := workflows.CampaignID("weekly", triggered)
	var exec *workflowservice.ListWorkflowExecutionsResponse
	var err error
	deadline := time.Now().Add(3 * time.Minute)
	for {
		exec, err = c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`CampaignId = %q AND WorkflowType = "Regenerate" AND ExecutionStatus != "Running"`, campaign),
		})
		if err == nil && len(exec.Executions) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || len(exec.Executions) != 1 {
		t.Fatalf("finished runs of campaign %s: %v, err %v", campaign, exec, err)
	}
	e := exec.Executions[0]
	if e.Status != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED || !strings.HasPrefix(e.Execution.WorkflowId, "weekly-") {
		t.Fatalf("run %s: %v", e.Execution.WorkflowId, e.Status)
	}
	var sum workflows.Summary
	if err := c.GetWorkflow(ctx, e.Execution.WorkflowId, e.Execution.RunId).Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Campaign != campaign || len(sum.Inputs) != 1 || sum.Inputs[0] != "raw/weekly/2026-11-23/events.csv.gz" || sum.Evaluation != campaign+"-evaluation" {
		t.Errorf("summary: campaign %q inputs %v evaluation %q", sum.Campaign, sum.Inputs, sum.Evaluation)
	}
	if out := cli("status", "--watch", e.Execution.WorkflowId); !strings.Contains(out, "100% done") {
		t.Errorf("status --watch of a finished run:\n%s", out)
	}
	// Its evaluation waits for the window (a week) after the run closed.
	d, err := c.DescribeWorkflowExecution(ctx, sum.Evaluation, "")
	if err != nil || d.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("evaluation %s: %v, err %v", sum.Evaluation, d, err)
	}

	if out := cli("schedule", "describe", "weekly"); !strings.Contains(out, "ran:") || !strings.Contains(out, "next:") {
		t.Errorf("describe after trigger:\n%s", out)
	}
	var described ScheduleInfo
	if out := cli("schedule", "describe", "weekly", "--json"); json.Unmarshal([]byte(out), &described) != nil || described.ID != "weekly" ||
		described.Campaign == nil || described.Campaign.Template != "weekly" || described.Campaign.Shards != 2 || len(described.Recent) != 1 || len(described.Next) != 3 {
		t.Errorf("describe --json:\n%s", out)
	}
	var listed []ScheduleInfo
	if out := cli("schedule", "list", "--json"); json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].ID != "weekly" ||
		listed[0].Spec != "at dow 1 hour 3 minute 0, in Europe/Paris" || listed[0].State != "active" {
		t.Errorf("list --json:\n%s", out)
	}
	if out := cli("schedule", "pause", "weekly", "--note", "inventory count"); !strings.Contains(out, "paused") {
		t.Error(out)
	}
	if out := cli("schedule", "describe", "weekly"); !strings.Contains(out, "paused (inventory count)") {
		t.Errorf("describe paused:\n%s", out)
	}
	cli("schedule", "resume", "weekly")
	cli("schedule", "backfill", "weekly", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-03T00:00:00Z")
	cli("schedule", "delete", "weekly")
	if out := cli("schedule", "list"); strings.Contains(out, "weekly ") {
		t.Errorf("list after delete:\n%s", out)
	}
	if out := cli("schedule", "list", "--json"); out != "[]\n" {
		t.Errorf("list --json after delete: %q", out)
	}
}

func TestProgressBar(t *testing.T) {
	p := workflows.Progress{RunID: "r", Stage: "decide", Stages: []workflows.StageProgress{
		{Name: "ingest", State: workflows.Done}, {Name: "decide", State: workflows.Running, Done: 1, Total: 2},
		{Name: "publish", State: workflows.Pending}, {Name: "x", State: workflows.Pending},
	}}
	if got, want := progressBar(p, 20), "r [#######.............]  38% decide 1/2"; got != want {
		t.Errorf("bar %q, want %q", got, want)
	}
	p.Stage = workflows.Done
	if got := progressBar(p, 4); got != "r [####] 100% done" {
		t.Errorf("done bar %q", got)
	}
}

// TestScheduleInfo: a description becomes one ScheduleInfo, printed as
// text by describe and as it is by --json.
func TestScheduleInfo(t *testing.T) {
	in := workflows.RegenerateInput{Template: "weekly", InputPrefix: "raw/shop/", Shards: 2, K: 3, Seed: 7, Evaluate: true,
		CampaignEvery: 7 * 24 * time.Hour, Approval: workflows.ApprovalPolicy{Required: true, Deadline: 48 * time.Hour}}
	arg, err := converter.GetDefaultDataConverter().ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	d := &client.ScheduleDescription{
		Schedule: client.Schedule{
			Action: &client.ScheduleWorkflowAction{ID: "weekly", Workflow: "Regenerate", TaskQueue: "promoflow", Args: []any{arg}},
			Spec:   &client.ScheduleSpec{CronExpressions: []string{"0 3 * * MON"}, TimeZoneName: "Europe/Paris"},
			Policy: &client.SchedulePolicies{Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP},
			State:  &client.ScheduleState{Paused: true, Note: "inventory count"},
		},
		Info: client.ScheduleInfo{NumActions: 4, NumActionsSkippedOverlap: 1,
			RecentActions: []client.ScheduleActionResult{
				{ScheduleTime: next.Add(-7 * 24 * time.Hour), StartWorkflowResult: &client.ScheduleWorkflowExecution{WorkflowID: "weekly-2026-11-30T02:00:00Z"}},
				{ScheduleTime: next}, // no workflow: not listed
			},
			NextActionTimes: []time.Time{next, next.Add(168 * time.Hour), next.Add(336 * time.Hour), next.Add(504 * time.Hour)},
		},
	}
	info := scheduleInfo("weekly", d)
	if info.State != "paused" || info.Note != "inventory count" || info.Overlap != "Skip" || info.Taken != 4 || info.Skipped != 1 ||
		len(info.Recent) != 1 || len(info.Next) != 3 || info.Campaign == nil || info.Campaign.Shards != 2 || info.Campaign.Deadline != "48h0m0s" {
		t.Fatalf("info %+v", info)
	}
	var text bytes.Buffer
	printScheduleInfo(&text, info)
	for _, want := range []string{
		"  state:    paused (inventory count)\n",
		"  action:   Regenerate id weekly on queue promoflow\n",
		"  campaign: template weekly, inputs raw/shop/, approval required within 48h0m0s, shards 2 k 3 seed 7, evaluated\n",
		"  actions:  4 taken, 1 skipped (overlap)\n",
		"  ran:      2026-11-30T02:00:00Z  weekly-2026-11-30T02:00:00Z\n",
		"  next:     2026-12-07T02:00:00Z  campaign " + workflows.ScheduledCampaignID("weekly", next, in.CampaignEvery) + "\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("describe text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := printJSON(&js, info); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	camp, _ := back["campaign"].(map[string]any)
	if back["state"] != "paused" || back["actions_taken"] != 4.0 || camp["template"] != "weekly" || camp["approval_required"] != true ||
		len(back["next"].([]any)) != 3 || back["spec"] != "cron 0 3 * * MON, in Europe/Paris" {
		t.Errorf("describe --json:\n%s", js.String())
	}
}
