package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/live"
	"github.com/promoflow/promoflow/workflows"
)

// TestLiveCampaignSurvivesWorkerKill runs a live campaign end to end on
// the real servers with the worker as a separate process: a regeneration
// publishes models, `live start` starts a campaign on them (3 slices, a
// small history bound so slices continue as new mid-bench), `live decide`
// answers and then caps a user, `live bench` drives it while the worker is
// SIGKILLed and replaced, and `live stop` publishes the plan. Every
// request the bench and the test sent got exactly one decision: the
// slices' counts equal the requests answered, the decision log holds each
// (slice, seq) once and as many as were counted, the log's costs add up to
// the spend, and no slice spent beyond its budget. The evaluation then
// measures the live plan and writes the template's history from it, with
// assignment probabilities; the campaign's workflows are found by its
// search attributes.
func TestLiveCampaignSurvivesWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack, c := startStack(t, false)
	store := stack.Store(t)
	cli := cliRunner(t, ctx)
	dir := t.TempDir()

	// The worker, as a process we can kill.
	bin := filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/promoflow/promoflow/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	var mu sync.Mutex
	var worker *exec.Cmd
	startWorker := func(n int) {
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.log", n)))
		must(t, err)
		cmd := exec.Command(bin)
		cmd.Env, cmd.Stdout, cmd.Stderr = os.Environ(), log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		must(t, cmd.Start())
		go func() { cmd.Wait(); log.Close() }()
		mu.Lock()
		worker = cmd
		mu.Unlock()
	}
	startWorker(0)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		syscall.Kill(-worker.Process.Pid, syscall.SIGKILL)
	})

	events := filepath.Join(dir, "events.csv.gz")
	cli("generate", "--users", "1500", "--seed", "5", "--out", events)
	// The source campaign ran two months ago (its contacts no longer
	// suppress); a campaign of today contacted the first ten users.
	ago := time.Now().UTC().AddDate(0, -2, 0)
	cli("run", "--template", "weekly", "--input", events, "--seed", "5", "--shards", "2", "--wait", "--json", "--run-id", "live-source",
		"--start", ago.Format(time.DateOnly), "--end", ago.AddDate(0, 0, 7).Format(time.DateOnly), "--future-tolerance", "-1s")
	var contacted strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&contacted, "u%07d\n", i)
	}
	must(t, store.Put(ctx, activities.ContactsKey(time.Now(), "today"), []byte(contacted.String())))

	const camp = "live-it"
	const budget = 60.0
	out := cli("live", "start", "--template", "weekly", "--campaign", camp, "--budget", fmt.Sprint(budget), "--window", "90s",
		"--slices", "3", "--max-history", "150", "--evaluate", "--json")
	var info workflows.LiveInfo
	must(t, json.Unmarshal([]byte(out), &info))
	if info.RunID != "live-source" || len(info.Slices) != 3 || info.Users != 1500 || info.Stage != workflows.StageLive {
		t.Fatalf("live start: %+v", info)
	}

	// A user contacted today is suppressed; a user whose answer counts (an
	// offer or the control holdout), asked again, is capped.
	var first, second live.Decision
	must(t, json.Unmarshal([]byte(cli("live", "decide", "--campaign", camp, "--user", "u0000003", "--event", live.CartAbandoned, "--json")), &first))
	if first.Reason != "suppressed: recently_contacted" || first.Probability != 1 {
		t.Errorf("a user contacted today: %+v", first)
	}
	user, manual := "", int64(2) // manual: decisions asked here (the one above and the one after the loop)
	for i := 11; i <= 60 && user == ""; i++ {
		id := fmt.Sprintf("u%07d", i)
		manual++
		must(t, json.Unmarshal([]byte(cli("live", "decide", "--campaign", camp, "--user", id, "--event", live.CartAbandoned, "--json")), &first))
		if first.Probability <= 0 || first.Probability > 1 || first.UserID != id || first.Capped {
			t.Fatalf("decision %+v", first)
		}
		if first.Control || first.Offer != "none" {
			user = id
		}
	}
	if user == "" {
		t.Fatal("no answer counted among 50 users")
	}
	must(t, json.Unmarshal([]byte(cli("live", "decide", "--campaign", camp, "--user", user, "--event", live.Lapsed, "--json")), &second))
	if !second.Capped || second.Offer != "none" || second.Cost != 0 {
		t.Errorf("second decision for %s: %+v after %+v", user, second, first)
	}
	// The bench, with the worker killed and replaced in the middle.
	var benchOut string
	done := make(chan struct{})
	go func() {
		defer close(done)
		var stdout, stderr strings.Builder
		if code := dispatch(ctx, []string{"live", "bench", "--campaign", camp, "--rate", "40", "--duration", "12s", "--clients", "4",
			"--timeout", "90s", "--json"}, &stdout, &stderr); code != 0 {
			t.Errorf("live bench: exit %d: %s", code, stderr.String())
		}
		benchOut = stdout.String()
	}()
	time.Sleep(5 * time.Second)
	mu.Lock()
	must(t, syscall.Kill(-worker.Process.Pid, syscall.SIGKILL))
	mu.Unlock()
	t.Log("worker killed mid-bench")
	startWorker(1)
	<-done
	t.Logf("bench: %s", benchOut)
	var bench BenchResult
	must(t, json.Unmarshal([]byte(benchOut), &bench))
	if bench.Errors != 0 || bench.Decisions != 480 || bench.BudgetExceeded {
		t.Errorf("bench: %+v", bench)
	}

	var st LiveStatus
	must(t, json.Unmarshal([]byte(cli("live", "status", "--campaign", camp, "--json")), &st))
	if want := bench.Decisions + manual; st.Total.Decisions != want {
		t.Errorf("slices counted %d decisions, %d requests were answered", st.Total.Decisions, want)
	}
	if st.Total.Runs <= 3 {
		t.Errorf("no slice continued as new: %d runs", st.Total.Runs)
	}

	var res workflows.LiveResult
	must(t, json.Unmarshal([]byte(cli("live", "stop", "--campaign", camp, "--json")), &res))
	logged, err := activities.ReadLiveDecisions(ctx, store, camp)
	must(t, err)
	spent := map[int]float64{}
	total := 0.0
	for _, d := range logged {
		spent[d.Slice] += d.Cost
		total += d.Cost
		if !(d.Probability > 0 && d.Probability <= 1) {
			t.Fatalf("decision %+v: assignment probability", d)
		}
	}
	if int64(len(logged)) != res.Total.Decisions || res.Total.Logged != res.Total.Decisions || res.Published.Decisions != len(logged) {
		t.Errorf("logged %d, counted %d, slices logged %d, published %d", len(logged), res.Total.Decisions, res.Total.Logged, res.Published.Decisions)
	}
	if math.Abs(total-res.Total.Spent) > 1e-6 || res.Total.Spent > budget || res.Published.Cost > budget+1e-6 {
		t.Errorf("log costs %.4f, slices spent %.4f, plan cost %.4f, budget %v", total, res.Total.Spent, res.Published.Cost, budget)
	}
	for s, v := range spent {
		if v > budget/3+1e-9 {
			t.Errorf("slice %d spent %.4f of %.4f", s, v, budget/3)
		}
	}
	if res.Total.Offers == 0 || res.Total.Spent < budget/10 {
		t.Errorf("the campaign hardly spent: %+v", res.Total)
	}
	t.Logf("live campaign: %d decisions, %d offers, %d control, spent %.2f of %.0f, %d slice runs", res.Total.Decisions, res.Total.Offers, res.Total.Controls, res.Total.Spent, budget, res.Total.Runs)

	// The evaluation reads the live plan: outcomes for every user of it.
	planRows, err := store.Get(ctx, layout.Campaign(camp)+"plan.csv")
	must(t, err)
	var ev strings.Builder
	ev.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i, line := range strings.Split(strings.TrimSpace(string(planRows)), "\n")[1:] {
		if i%3 == 0 {
			fmt.Fprintf(&ev, "%s,%s,purchase,i,c,,1,40,o%d,web\n", strings.Split(line, ",")[0], res.Start.Add(10*time.Second).Format(time.RFC3339), i)
		}
	}
	outcomes := filepath.Join(dir, "outcomes.csv")
	must(t, os.WriteFile(outcomes, []byte(ev.String()), 0o644))
	cli("outcomes", "--campaign", camp, "--input", outcomes, "--json")
	var eval activities.EvaluateCampaignOutput
	must(t, c.GetWorkflow(ctx, workflows.EvaluationID(camp), "").Get(ctx, &eval))
	if eval.HistoryRows == 0 || eval.Users != int64(res.Published.Rows) {
		t.Errorf("evaluation of the live plan: %+v (plan rows %d)", eval, res.Published.Rows)
	}
	if _, err := store.Get(ctx, layout.History("weekly", camp)); err != nil {
		t.Errorf("no history object: %v", err)
	}

	// Operators find the campaign and its slices by search attribute.
	var found int
	for range 50 {
		list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `CampaignId="` + camp + `"`})
		must(t, err)
		if found = len(list.Executions); found >= 5 { // the campaign, its 3 slices, its evaluation
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if found < 5 {
		t.Errorf("CampaignId=%q lists %d workflows, want the campaign, 3 slices and the evaluation", camp, found)
	}
}
