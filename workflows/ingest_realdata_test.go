package workflows_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// The real Online Retail file (its README: ../shared/data/online-retail).
const onlineRetail = "../../shared/data/online-retail/online_retail.csv.gz"

// TestIngestOnlineRetail ingests the whole Online Retail file through the
// Ingest workflow with deploy/datasets/online-retail.yaml on the real
// Temporal dev server and S3 gateway, and checks the dataset's known
// counts; then runs Regenerate with two wrong mappings, which must stop at
// the plan with a non-retryable error naming file, column and an example
// value, and publish nothing.
func TestIngestOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers, reads 541,909 rows")
	}
	if _, err := os.Stat(onlineRetail); err != nil {
		t.Skip("Online Retail file absent: ", err)
	}
	mappingYAML, err := os.ReadFile("../deploy/datasets/online-retail.yaml")
	must(t, err)
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)
	const key = "raw/online-retail/online_retail.csv.gz"
	must(t, store.PutFile(ctx, key, onlineRetail))

	c := stack.TemporalClient(t)
	const queue = "promoflow-retail"
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()

	start := time.Now()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "retail-ingest", TaskQueue: queue}, workflows.Ingest,
		workflows.IngestInput{RunID: "retail-ingest", Inputs: []string{key}, Mapping: string(mappingYAML), Shards: 4, Window: 4})
	must(t, err)
	var tot workflows.IngestTotals
	if err := wr.Get(ctx, &tot); err != nil {
		t.Fatal(err)
	}
	t.Logf("ingest took %v: %+v", time.Since(start).Round(time.Millisecond), tot)
	if staged, err := store.List(ctx, layout.IngestDir("retail-ingest")); err != nil || len(staged) > 0 || tot.StagedDeleted == 0 {
		t.Errorf("after the ingest, %d staged objects left (%v), %d deleted: want none left, some deleted", len(staged), err, tot.StagedDeleted)
	}

	// The dataset README's numbers; the rest from an independent recount
	// of the file (internal/ingest TestLocalOnlineRetail).
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"rows read", tot.RowsRead, 541909},
		{"exact duplicates", tot.Duplicates, 5268},
		{"rows without a customer", tot.NoUser, 135080},
		{"accepted without a customer", tot.AcceptedNoUser, 132706},
		{"returns (cancellations)", tot.ByType["return"], 8668},
		{"purchases", tot.ByType["purchase"], 523727},
		{"not a product", tot.ByReason["not a product"], 2910},
		{"stock adjustment", tot.ByReason["stock adjustment"], 1336},
		{"accepted + duplicates + rejected", tot.Accepted + tot.Duplicates + tot.Rejected, tot.RowsRead},
		{"purchases + returns", tot.ByType["purchase"] + tot.ByType["return"], tot.Accepted},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(tot.Sources) != 1 || tot.Sources[0].MinTS.Format(time.DateOnly) != "2010-12-01" || tot.Sources[0].MaxTS.Format(time.DateOnly) != "2011-12-09" {
		t.Errorf("sources %+v, want one from 2010-12-01 to 2011-12-09", tot.Sources)
	}
	// The rejects file has one line per rejected row, each naming the
	// file, its line and the reason.
	data, err := store.Get(ctx, tot.Rejects[0])
	must(t, err)
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	must(t, err)
	if int64(len(rows)-1) != tot.Rejected || strings.Join(rows[0], ",") != "source,line,column,reason,value" {
		t.Fatalf("rejects: %d rows (header %v), want %d", len(rows)-1, rows[0], tot.Rejected)
	}
	for _, r := range rows[1:] {
		if r[0] != key || r[1] == "" || tot.ByReason[r[3]] == 0 {
			t.Fatalf("reject %v", r)
		}
	}

	// Wrong mappings stop Regenerate at the plan, non-retryably, and
	// nothing is published.
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"missing column", "trimsuffix(CustomerID", "trimsuffix(CustomerNo",
			[]string{key, `column "CustomerNo": not in the file`, `"CustomerID"`}},
		{"unparseable timestamps", `layout: "2006-01-02 15:04:05"`, `layout: "02/01/2006 15:04"`,
			[]string{key, `column "InvoiceDate": bad ts in`, `wrong file or mapping (example value "2010-12-01 08:26:00")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrong := strings.Replace(string(mappingYAML), tc.from, tc.to, 1)
			if wrong == string(mappingYAML) {
				t.Fatalf("%q not in the mapping", tc.from)
			}
			id := "retail-wrong-" + strings.ReplaceAll(tc.name, " ", "-")
			begin := time.Now()
			wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate,
				workflows.RegenerateInput{RunID: id, Template: "weekly", Inputs: []string{key}, Mapping: wrong, Shards: 4, Seed: 1, K: 3})
			must(t, err)
			err = wr.Get(ctx, nil)
			if !badInput(err) {
				t.Fatalf("err = %v, want a non-retryable %s error", err, activities.BadInputType)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v\nwant it to name %s", err, s)
				}
			}
			// Early: in the plan (which reads 1,000 rows), once, before
			// any split is scheduled.
			var scheduled []string
			iter := c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				must(t, err)
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
					scheduled = append(scheduled, a.GetActivityType().GetName())
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
					t.Errorf("activity attempt %d: bad input must not be retried", a.GetAttempt())
				}
			}
			if strings.Join(scheduled, ",") != "IngestPlan" {
				t.Errorf("activities scheduled: %v, want only IngestPlan", scheduled)
			}
			t.Logf("failed after %v", time.Since(begin).Round(time.Millisecond))
			for _, prefix := range []string{"campaigns/" + id + "/", "runs/" + id + "/"} {
				keys, err := store.List(ctx, prefix)
				must(t, err)
				if len(keys) != 0 {
					t.Errorf("%d objects under %s after a failed plan: %v", len(keys), prefix, keys)
				}
			}
		})
	}
}

// badInput reports whether err's chain holds a non-retryable BadInput
// application error (the workflow wraps the activity's).
func badInput(err error) bool {
	for err != nil {
		var app *temporal.ApplicationError
		if !errors.As(err, &app) {
			return false
		}
		if app.Type() == activities.BadInputType && app.NonRetryable() {
			return true
		}
		err = app.Unwrap()
	}
	return false
}
