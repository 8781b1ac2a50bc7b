package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
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
	stack := testenv.Start(t)
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
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
	c := stack.TemporalClient(t)
	queue := os.Getenv("PROMOFLOW_TASK_QUEUE")
	if queue == "" {
		queue = "promoflow"
	}
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	cli := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(ctx, args, &stdout, &stderr); code != 0 {
			t.Fatalf("starter %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		t.Logf("$ starter %s\n%s", strings.Join(args, " "), stdout.String())
		return stdout.String()
	}
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
