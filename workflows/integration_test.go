package workflows_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// recordEnv, when set, makes the integration test store the histories the
// replay test reads: PROMOFLOW_RECORD_HISTORY=1 go test -run Integration ./workflows
const recordEnv = "PROMOFLOW_RECORD_HISTORY"

// TestIntegrationRegenerate runs the regeneration on the real Temporal dev
// server and the real S3 gateway, twice with the same seed.
func TestIntegrationRegenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)

	// Inputs: generated users, plus a small file with known bad rows.
	dir := t.TempDir()
	eventsPath := filepath.Join(dir, "events.csv.gz")
	if _, err := synth.WriteFile(eventsPath, synth.Config{Users: 3000, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	rows, users := readCSV(t, eventsPath)
	bad := "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n" +
		"u9999001,2026-11-01T10:00:00Z,view,i1,shoes,red shoe,1,10,,web\n" +
		"u9999001,not a time,view,i1,shoes,red shoe,1,10,,web\n" +
		"u9999002,2026-11-01T10:00:00Z,teleport,i1,shoes,red shoe,1,10,,web\n" +
		",2026-11-01T10:00:00Z,view,i1,shoes,red shoe,1,10,,web\n"
	must(t, store.PutFile(ctx, "raw/it/events.csv.gz", eventsPath))
	must(t, store.Put(ctx, "raw/it/bad.csv", []byte(bad)))
	users["u9999001"] = true
	wantRows := rows + 4

	c := stack.TemporalClient(t)
	const queue = "promoflow-it"
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()

	run := func(id, campaign string) workflows.Summary {
		t.Helper()
		in := workflows.RegenerateInput{
			RunID: id, Campaign: campaign, Template: "weekly", Inputs: []string{"raw/it/events.csv.gz", "raw/it/bad.csv"},
			Shards: 4, Seed: 7, K: 5, Window: 3,
			// The plan names its window: a re-run of the campaign repeats it.
			Start: time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC),
		}
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate, in)
		if err != nil {
			t.Fatal(err)
		}
		var sum workflows.Summary
		if err := wr.Get(ctx, &sum); err != nil {
			t.Fatalf("run %s: %v", id, err)
		}
		return sum
	}
	start := time.Now()
	sum := run("it-1", "")
	t.Logf("run it-1 took %v; stages %v", time.Since(start).Round(time.Millisecond), sum.StageSeconds)

	// Every input row is accounted for.
	ing := sum.Ingest
	if ing.RowsRead != int64(wantRows) || ing.Accepted+ing.Duplicates+ing.Rejected != ing.RowsRead {
		t.Errorf("ingest %+v, want %d rows read, all accounted for", ing, wantRows)
	}
	if ing.Rejected != 3 || ing.ByReason["bad ts"] != 1 || ing.ByReason["unknown type"] != 1 || ing.ByReason["missing user_id"] != 1 {
		t.Errorf("rejected %d by %v, want 3: one bad ts, one unknown type, one missing user_id", ing.Rejected, ing.ByReason)
	}
	rejects, err := store.Get(ctx, ing.Rejects[1])
	must(t, err)
	if n := strings.Count(string(rejects), "\n"); n != 4 || !strings.Contains(string(rejects), "raw/it/bad.csv,3,ts,bad ts,not a time") {
		t.Errorf("rejects file:\n%s", rejects)
	}
	// The ingest staging is gone once ingest is done; the tables stay.
	t.Logf("ingest staging: %d objects deleted", ing.StagedDeleted)
	if staged, err := store.List(ctx, layout.IngestDir("it-1")); err != nil || len(staged) > 0 || ing.StagedDeleted == 0 {
		t.Errorf("after the run, %d staged objects left (%v), %d deleted: want none left, some deleted", len(staged), err, ing.StagedDeleted)
	}

	// Users in the plan equal users in the input.
	planCSV, err := store.Get(ctx, "campaigns/it-1/plan.csv")
	must(t, err)
	plan, err := csv.NewReader(bytes.NewReader(planCSV)).ReadAll()
	must(t, err)
	if sum.Users != int64(len(users)) || sum.Plan.Rows != int64(len(users)) || len(plan)-1 != len(users) {
		t.Errorf("users: summary %d, plan rows %d (csv %d), input %d", sum.Users, sum.Plan.Rows, len(plan)-1, len(users))
	}
	control := 0
	seen := map[string]bool{}
	for _, r := range plan[1:] {
		if !users[r[0]] || seen[r[0]] {
			t.Fatalf("plan user %q not in input or repeated", r[0])
		}
		seen[r[0]] = true
		if r[slices.Index(plan[0], "control")] == "true" {
			control++
		}
	}
	// The control group is 10% within one percentage point.
	share := float64(control) / float64(len(plan)-1)
	if math.Abs(share-0.10) > 0.01 || int64(control) != sum.Plan.ControlRows {
		t.Errorf("control %d of %d = %.4f (summary %d), want 0.10 ± 0.01", control, len(plan)-1, share, sum.Plan.ControlRows)
	}
	if len(sum.Segments) != 5 || sum.Plan.TreatedRows == 0 {
		t.Errorf("segments %d, treated %d", len(sum.Segments), sum.Plan.TreatedRows)
	}
	if sum.Models.Propensity == nil {
		t.Fatal("summary without a propensity model")
	}
	model := *sum.Models.Propensity
	if model.AUC < 0.7 || model.NHoldout == 0 || model.Model != workflows.ModelBoost || model.Trees == 0 || model.Trees > model.Rounds ||
		model.Sampled != model.TrainRows || model.ForestKey != layout.Booster("it-1") {
		t.Errorf("propensity model %+v: want a boosted model with AUC >= 0.7 on held-out users, trees up to its best round, trained on every user", model)
	}
	holdout, err := store.Get(ctx, model.HoldoutScores)
	must(t, err)
	if lines := strings.Split(strings.TrimSpace(string(holdout)), "\n"); lines[0] != "user_id,score,label" || int64(len(lines)-1) != model.NHoldout {
		t.Errorf("%s: header %q and %d rows, want user_id,score,label and %d", model.HoldoutScores, lines[0], len(lines)-1, model.NHoldout)
	}
	checkRecommendations(t, sum, plan, eventsPath)
	if rec, err := store.List(ctx, layout.RecommendationsTable("it-1")); err != nil || len(rec) != 1 {
		t.Errorf("%s: %v, %v: want the table", layout.RecommendationsTable("it-1"), rec, err)
	}
	summaryJSON, err := store.Get(ctx, "campaigns/it-1/summary.json")
	must(t, err)
	var stored workflows.Summary
	must(t, json.Unmarshal(summaryJSON, &stored))
	if stored.Plan.Rows != sum.Plan.Rows || stored.Plan.Summary != sum.Plan.Summary {
		t.Errorf("stored summary plan %+v, returned %+v", stored.Plan, sum.Plan)
	}

	// Same inputs, window and seed, the campaign run again (a campaign
	// never suppresses its own contacts): identical plan bytes.
	first := map[string][]byte{}
	for _, f := range []string{"plan.parquet", "plan.csv"} {
		first[f], err = store.Get(ctx, "campaigns/it-1/"+f)
		must(t, err)
	}
	run("it-2", "it-1")
	for f, a := range first {
		b, err := store.Get(ctx, "campaigns/it-1/"+f)
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
	}

	if os.Getenv(recordEnv) != "" {
		for id, name := range map[string]string{"it-1": "regenerate", "it-1-segment": "segment", "it-1-train": "train"} {
			recordHistory(t, c, id, recordedPath(name))
		}
	}
}

// recordedPath is where a history of workflow name recorded now goes:
// testdata/<name>.<date>T<hhmm>.history.json (several versions can land in
// a day), beside the earlier recordings, which
// stay: TestReplayRecordedHistories replays them all, so every change to a
// workflow is checked against the histories of running workflows of every
// earlier version.
func recordedPath(name string) string {
	return filepath.Join("testdata", fmt.Sprintf("%s.%s.history.json", name, time.Now().UTC().Format("2006-01-02T1504")))
}

// recordHistory writes a workflow's history as JSON, the format the
// replayer and the Temporal CLI read.
func recordHistory(t *testing.T, c client.Client, workflowID, path string) {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []json.RawMessage
	for iter.HasNext() {
		ev, err := iter.Next()
		must(t, err)
		data, err := protojsonMarshal(ev)
		must(t, err)
		events = append(events, data)
	}
	out, err := json.MarshalIndent(map[string]any{"events": events}, "", " ")
	must(t, err)
	must(t, os.WriteFile(path, out, 0o644))
	t.Logf("recorded %d events of %s to %s", len(events), workflowID, path)
}

// readCSV counts the data rows and distinct users of a generated file.
// checkRecommendations: every plan row features 10 distinct products the
// user had not bought (the weekly template does not allow repeats), with
// their most frequent category, and the summary counts every user.
func checkRecommendations(t *testing.T, sum workflows.Summary, plan [][]string, eventsPath string) {
	t.Helper()
	rs := sum.Recommendations
	if rs == nil || rs.Users != sum.Users || rs.Rows != 10*sum.Users || rs.Items == 0 || rs.ModelUsers != int(sum.Users) {
		t.Fatalf("recommendations summary %+v: want %d users (all in the model), 10 rows each", rs, sum.Users)
	}
	bought := map[string]map[string]bool{}
	f, err := os.Open(eventsPath)
	must(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	must(t, err)
	r := csv.NewReader(gz)
	head, err := r.Read()
	must(t, err)
	cu, ct, ci := slices.Index(head, "user_id"), slices.Index(head, "type"), slices.Index(head, "item_id")
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		must(t, err)
		if rec[ct] == "purchase" {
			if bought[rec[cu]] == nil {
				bought[rec[cu]] = map[string]bool{}
			}
			bought[rec[cu]][rec[ci]] = true
		}
	}
	ii, ic := slices.Index(plan[0], "recommended_items"), slices.Index(plan[0], "recommended_category")
	withCategory := 0
	for _, row := range plan[1:] {
		items := strings.Split(row[ii], "|")
		if len(items) != 10 || len(slices.Compact(slices.Sorted(slices.Values(items)))) != 10 {
			t.Fatalf("user %s: recommended %q, want 10 distinct items", row[0], row[ii])
		}
		for _, it := range items {
			if bought[row[0]][it] {
				t.Fatalf("user %s: recommended %s, which they bought", row[0], it)
			}
		}
		if row[ic] != "" {
			withCategory++
		}
	}
	if withCategory != len(plan)-1 {
		t.Errorf("%d of %d rows have a recommended category; the generated items all have one", withCategory, len(plan)-1)
	}
}

func readCSV(t *testing.T, path string) (int, map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	must(t, err)
	r := csv.NewReader(gz)
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	rows, users := 0, map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		must(t, err)
		rows++
		users[rec[0]] = true
	}
	return rows, users
}

// startWorker starts the real servers (skipping in -short mode) and a
// worker of every workflow and activity on queue, stopped when the test
// ends.
func startWorker(t *testing.T, queue string) (*blob.S3, client.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts servers")
	}
	stack := testenv.Start(t)
	store := stack.Store(t)
	c := stack.TemporalClient(t)
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	t.Cleanup(w.Stop)
	return store, c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
