package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// shopMapping reads the test's shop export (semicolons, its own column
// names, "2006-01-02 15:04:05" times) and the generated campaign history:
// deploy/datasets/shop.yaml.
var shopMapping = func() string {
	b, err := os.ReadFile("../deploy/datasets/shop.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// writeShopExport turns canonical gzip CSV events into the shop's layout.
func writeShopExport(t *testing.T, from, to string) (users []string) {
	t.Helper()
	f, err := os.Open(from)
	must(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	must(t, err)
	r := csv.NewReader(gz)
	head, err := r.Read()
	must(t, err)
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.Comma = ';'
	must(t, w.Write([]string{"customer", "happened", "kind", "sku", "cat", "title", "qty", "unit_price", "order_no", "chan"}))
	seen := map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		must(t, err)
		ts, err := time.Parse(time.RFC3339, rec[col["ts"]])
		must(t, err)
		u := rec[col["user_id"]]
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
		must(t, w.Write([]string{u, ts.UTC().Format("2006-01-02 15:04:05"), strings.ToUpper(rec[col["type"]]),
			rec[col["item_id"]], rec[col["category"]], rec[col["text"]], rec[col["quantity"]], rec[col["price"]],
			rec[col["order_id"]], rec[col["channel"]]}))
	}
	w.Flush()
	must(t, w.Error())
	must(t, os.WriteFile(to, out.Bytes(), 0o644))
	return users
}

// startStack starts the dev server and S3 gateway with the starter's
// environment pointing at them, and a worker when withWorker.
func startStack(t *testing.T, withWorker bool) (*testenv.Stack, client.Client) {
	t.Helper()
	stack := testenv.Start(t)
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c := stack.TemporalClient(t)
	if withWorker {
		queue := os.Getenv("PROMOFLOW_TASK_QUEUE")
		if queue == "" {
			queue = "promoflow"
		}
		w := workflows.NewWorker(c, queue, &activities.Activities{Store: stack.Store(t), TempDir: t.TempDir()}, worker.Options{})
		must(t, w.Start())
		t.Cleanup(w.Stop)
	}
	return stack, c
}

// cliRunner runs starter commands in-process, failing the test on a
// non-zero exit.
func cliRunner(t *testing.T, ctx context.Context) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(ctx, args, &stdout, &stderr); code != 0 {
			t.Fatalf("starter %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		t.Logf("$ starter %s\n%s", strings.Join(args, " "), stdout.String())
		return stdout.String()
	}
}

// TestScheduledRunEqualsManualRun: a schedule created with a mapping,
// opt-out and history prefixes, a budget, shares and a window runs the
// campaign `starter run` runs with the same flags: the same plan.csv,
// byte for byte. The opt-out list gets a second file after the schedule is
// created: the run reads the prefix as it is when it starts. Then the
// campaign's evaluation (started by the scheduled run) gets its outcomes
// from `starter outcomes` with a mapping, and measures them.
func TestScheduledRunEqualsManualRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack, c := startStack(t, true)
	store := stack.Store(t)
	cli := cliRunner(t, ctx)
	dir := t.TempDir()

	// The shop's export (not canonical), its mapping, a campaign history.
	gz := filepath.Join(dir, "events.csv.gz")
	_, err := synth.WriteFile(gz, synth.Config{Users: 500, Seed: 5})
	must(t, err)
	export := filepath.Join(dir, "shop-events.csv")
	users := writeShopExport(t, gz, export)
	mappingPath := filepath.Join(dir, "shop.yaml")
	must(t, os.WriteFile(mappingPath, []byte(shopMapping), 0o644))
	var hist bytes.Buffer
	must(t, synth.WriteHistory(&hist, synth.HistoryConfig{Config: synth.Config{Users: 500, Seed: 5}}))
	must(t, store.PutFile(ctx, "raw/shop/2026-11-23/shop-events.csv", export))
	must(t, store.Put(ctx, "raw/shop-history/2026-11/history.csv", hist.Bytes()))
	// Opt-outs: a first list now, a second after the schedule exists.
	firstOut, secondOut := users[:15], users[15:30]
	must(t, store.Put(ctx, "raw/shop-optout/2026-11-20/optout.txt", []byte(strings.Join(firstOut, "\n")+"\n")))

	campaignFlags := []string{"--template", "weekly", "--mapping", mappingPath, "--budget", "3000", "--control-share", "0.2",
		"--explore-share", "0.1", "--window-days", "10", "--shards", "2", "--k", "3", "--seed", "9"}
	out := cli(append([]string{"schedule", "create", "--id", "shop-weekly", "--cron", "0 3 * * MON", "--input-prefix", "raw/shop/",
		"--opt-out", "raw/shop-optout/", "--history", "raw/shop-history/"}, campaignFlags...)...)
	if !strings.Contains(out, "schedule shop-weekly created") || !strings.Contains(out, "budget 3000") ||
		!strings.Contains(out, "opt-out raw/shop-optout/") || !strings.Contains(out, "history raw/shop-history/") || !strings.Contains(out, "mapping") {
		t.Errorf("create:\n%s", out)
	}
	must(t, store.Put(ctx, "raw/shop-optout/2026-11-27/optout.txt", []byte(strings.Join(secondOut, "\n")+"\n")))
	cli("schedule", "trigger", "shop-weekly")

	// The scheduled run: the one Regenerate of the template, finished.
	var exec *workflowservice.ListWorkflowExecutionsResponse
	deadline := time.Now().Add(4 * time.Minute)
	for {
		exec, err = c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `CampaignTemplate = "weekly" AND WorkflowType = "Regenerate" AND ExecutionStatus != "Running"`,
		})
		if err == nil && len(exec.Executions) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || len(exec.Executions) != 1 {
		t.Fatalf("finished scheduled runs: %v, err %v", exec, err)
	}
	e := exec.Executions[0]
	var sched workflows.Summary
	if err := c.GetWorkflow(ctx, e.Execution.WorkflowId, e.Execution.RunId).Get(ctx, &sched); err != nil {
		t.Fatalf("scheduled run %s: %v", e.Execution.WorkflowId, err)
	}
	wantInputs := []string{"raw/shop/2026-11-23/shop-events.csv", "raw/shop-history/2026-11/history.csv"}
	if fmt.Sprint(sched.Inputs) != fmt.Sprint(wantInputs) || sched.Evaluation != workflows.EvaluationID(sched.Campaign) {
		t.Errorf("scheduled run: inputs %v, evaluation %q", sched.Inputs, sched.Evaluation)
	}
	if sched.Ingest.ByType["purchase"] == 0 || sched.Ingest.Rejected != 0 {
		t.Errorf("scheduled ingest through the mapping: %+v", sched.Ingest)
	}
	if sched.Strategy == nil || sched.Strategy.Budget.Total != 3000 {
		t.Errorf("strategy %+v: want budget 3000", sched.Strategy)
	} else if days := sched.Strategy.End.Sub(sched.Strategy.Start).Hours() / 24; days != 10 {
		t.Errorf("window %v .. %v: want 10 days", sched.Strategy.Start, sched.Strategy.End)
	}
	planKey := "campaigns/" + sched.Campaign + "/plan.csv"
	scheduledPlan, err := store.Get(ctx, planKey)
	must(t, err)
	// Both lists are honoured: the second, delivered after the schedule
	// was created, too.
	rows, err := csv.NewReader(bytes.NewReader(scheduledPlan)).ReadAll()
	must(t, err)
	reasons := map[string]string{}
	col := slices.Index(rows[0], "reasons")
	for _, r := range rows[1:] {
		reasons[r[0]] = r[col]
	}
	for _, u := range append(append([]string(nil), firstOut...), secondOut...) {
		if r, ok := reasons[u]; ok && !strings.Contains(r, "suppressed: opted_out") {
			t.Errorf("opted-out user %s: reasons %q", u, r)
		}
	}
	if sched.Strategy != nil && !strings.Contains(fmt.Sprint(sched.Strategy.Guards), fmt.Sprintf("%d opted out", len(firstOut)+len(secondOut))) {
		t.Errorf("guards %+v: want %d opted out", sched.Strategy.Guards, len(firstOut)+len(secondOut))
	}

	// The manual run with the same flags, the scheduled campaign id
	// (control group and exploration are salted with it) and its window
	// (the scheduled time) publishes the same bytes.
	_, err = stack.S3Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(store.Bucket()), Key: aws.String(planKey)})
	must(t, err)
	out = cli(append([]string{"run", "--run-id", "manual-shop", "--campaign", sched.Campaign, "--start", sched.Strategy.Start.Format(time.RFC3339), "--wait", "--json",
		"--input", store.URL("raw/shop/2026-11-23/shop-events.csv"),
		"--opt-out", store.URL("raw/shop-optout/2026-11-20/optout.txt") + "," + store.URL("raw/shop-optout/2026-11-27/optout.txt"),
		"--history", store.URL("raw/shop-history/2026-11/history.csv")}, campaignFlags...)...)
	var manual RunOutput
	must(t, json.Unmarshal([]byte(out), &manual))
	if fmt.Sprint(manual.Inputs) != fmt.Sprint(wantInputs) || manual.Plan.Rows != sched.Plan.Rows {
		t.Errorf("manual run: inputs %v, %d plan rows (scheduled: %d)", manual.Inputs, manual.Plan.Rows, sched.Plan.Rows)
	}
	manualPlan, err := store.Get(ctx, planKey)
	must(t, err)
	if !bytes.Equal(manualPlan, scheduledPlan) {
		t.Errorf("plans differ: scheduled %d bytes, manual %d bytes", len(scheduledPlan), len(manualPlan))
	}

	// Outcomes: a few plan users buy, in the shop's layout; the
	// evaluation reads them through the mapping, a bad row counted.
	var orders strings.Builder
	orders.WriteString("customer;happened;kind;sku;cat;title;qty;unit_price;order_no;chan\n")
	at := sched.Strategy.Start.Add(time.Hour).Format("2006-01-02 15:04:05")
	buyers := 0
	for _, r := range rows[1:] {
		if buyers == 20 {
			break
		}
		fmt.Fprintf(&orders, "%s;%s;purchase;i1;home;lamp;2;10.5;o%d;web\n", r[0], at, buyers)
		buyers++
	}
	orders.WriteString("u1;not a time;purchase;i1;home;lamp;1;5;ox;web\n")
	ordersPath := filepath.Join(dir, "shop-events-outcomes.csv")
	must(t, os.WriteFile(ordersPath, []byte(orders.String()), 0o644))
	out = cli("outcomes", "--campaign", sched.Campaign, "--input", ordersPath, "--mapping", mappingPath, "--json")
	var oo OutcomesOutput
	must(t, json.Unmarshal([]byte(out), &oo))
	if !oo.Signalled || len(oo.Outcomes) != 1 || !strings.HasPrefix(oo.Outcomes[0], "raw/outcomes/"+sched.Campaign+"/") ||
		!strings.HasSuffix(oo.Outcomes[0], "/shop-events-outcomes.csv") || oo.Evaluation != sched.Evaluation {
		t.Errorf("outcomes: %+v", oo)
	}
	// The answer names the mapping file; its text goes in the signal only
	// (the evaluation below reads through it: the bad time is rejected).
	if oo.MappingFile != mappingPath || strings.Contains(out, "sources:") {
		t.Errorf("outcomes --json: mapping %q, or the mapping's text printed:\n%s", oo.MappingFile, out)
	}
	if ok, err := store.Exists(ctx, oo.Outcomes[0]); err != nil || !ok {
		t.Errorf("outcome file %s not in the bucket: %v", oo.Outcomes[0], err)
	}
	var res activities.EvaluateCampaignOutput
	ectx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.GetWorkflow(ectx, sched.Evaluation, "").Get(ectx, &res); err != nil {
		t.Fatalf("evaluation: %v", err)
	}
	if res.Purchases != buyers || res.OutcomeRows == nil || res.OutcomeRows.Rejected != 1 || res.OutcomeRows.ByReason["bad ts"] != 1 {
		t.Errorf("evaluation: %d purchases (want %d), rows %+v", res.Purchases, buyers, res.OutcomeRows)
	}

	// The evaluation is over: more outcomes are uploaded, and refused.
	var stdout, stderr bytes.Buffer
	code := dispatch(ctx, []string{"outcomes", "--campaign", sched.Campaign, "--input", ordersPath + "," + export}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "is not running (Completed)") || !strings.Contains(stdout.String(), "uploaded ") {
		t.Errorf("outcomes after the evaluation: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = dispatch(ctx, []string{"outcomes", "--campaign", "nosuch-2026-W01", "--input", ordersPath, "--json"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "no evaluation nosuch-2026-W01-evaluation") || !strings.Contains(stdout.String(), `"signalled": false`) {
		t.Errorf("outcomes of no campaign: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	keys, err := store.List(ctx, "raw/outcomes/nosuch-2026-W01/")
	if err != nil || len(keys) != 1 {
		t.Errorf("uploaded before refusing: %v, %v", keys, err)
	}
	d, err := c.DescribeWorkflowExecution(ctx, sched.Evaluation, "")
	if err != nil || d.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("evaluation status: %v, %v", d, err)
	}
}

// describedInput is the RegenerateInput of a schedule's action, as the
// server keeps it.
func describedInput(t *testing.T, ctx context.Context, c client.Client, id string) (workflows.RegenerateInput, *client.ScheduleDescription) {
	t.Helper()
	d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	must(t, err)
	wa, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		t.Fatalf("action %#v", d.Schedule.Action)
	}
	in, ok := actionInput(wa)
	if !ok {
		t.Fatalf("action args %#v", wa.Args)
	}
	return in, d
}

// TestScheduleUpdate: `schedule update` replaces the action with what its
// flags build (flags not given take their defaults) and keeps the spec
// unless --every or --cron is given.
func TestScheduleUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	_, c := startStack(t, false)
	cli := cliRunner(t, ctx)
	dir := t.TempDir()
	mappingPath := filepath.Join(dir, "shop.yaml")
	must(t, os.WriteFile(mappingPath, []byte(shopMapping), 0o644))

	cli("schedule", "create", "--id", "w", "--cron", "0 3 * * MON", "--timezone", "Europe/Paris", "--budget", "3000", "--opt-out", "raw/optout/")
	in, d := describedInput(t, ctx, c, "w")
	if in.Spec.Budget != 3000 || fmt.Sprint(in.OptOut) != "[raw/optout/]" || in.Mapping != "" || in.Approval.Required {
		t.Fatalf("created: budget %v opt-out %v mapping %q approval %+v", in.Spec.Budget, in.OptOut, in.Mapping, in.Approval)
	}
	created := d.Schedule.Spec

	out := cli("schedule", "update", "w", "--template", "holiday", "--budget", "2000", "--mapping", mappingPath,
		"--window-days", "5", "--input-prefix", "raw/shop/", "--shards", "3")
	if !strings.Contains(out, "schedule w updated") || !strings.Contains(out, "budget 2000") || !strings.Contains(out, "approval required within 48h0m0s") ||
		!strings.Contains(out, "at dow 1 hour 3 minute 0, in Europe/Paris") {
		t.Errorf("update:\n%s", out)
	}
	in, d = describedInput(t, ctx, c, "w")
	if in.Template != "holiday" || in.Spec.Name != "holiday" || in.Spec.Budget != 2000 || in.Spec.WindowDays != 5 || in.Mapping != shopMapping ||
		in.InputPrefix != "raw/shop/" || in.Shards != 3 || in.OptOut != nil ||
		in.Approval != (workflows.ApprovalPolicy{Required: true, Deadline: 48 * time.Hour}) {
		t.Errorf("updated action: %+v", in)
	}
	if wa := d.Schedule.Action.(*client.ScheduleWorkflowAction); wa.ID != "holiday" {
		t.Errorf("updated action's workflow id prefix %q", wa.ID)
	}
	if fmt.Sprint(d.Schedule.Spec) != fmt.Sprint(created) {
		t.Errorf("spec changed without --every/--cron: %+v, was %+v", d.Schedule.Spec, created)
	}

	out = cli("schedule", "update", "w", "--every", "24h")
	if !strings.Contains(out, "every 24h0m0s") || strings.Contains(out, "dow 1") {
		t.Errorf("update --every:\n%s", out)
	}
	in, _ = describedInput(t, ctx, c, "w")
	if in.Template != "weekly" || in.Spec.Budget != 10000 || in.InputPrefix != "raw/weekly/" {
		t.Errorf("action after an update with no campaign flags: template %s budget %v prefix %s", in.Template, in.Spec.Budget, in.InputPrefix)
	}

	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"schedule", "update", "nosuch", "--budget", "1"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "update schedule nosuch") {
		t.Errorf("update of no schedule: exit %d, %s", code, stderr.String())
	}
	if code := dispatch(ctx, []string{"schedule", "update", "w", "--budget", "1x"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), `"1x" is not a number`) {
		t.Errorf("update with a bad budget: exit %d, %s", code, stderr.String())
	}
}
