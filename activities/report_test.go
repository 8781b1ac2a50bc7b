package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/report"
)

func TestWriteReport(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	shards := [][]plan.Row{
		{{UserID: "a", Offer: "c5", ExpectedIncrementalRevenue: 10, ExpectedCost: 2}, {UserID: "b", Offer: "none"}},
		{{UserID: "c", Offer: "c5", ExpectedIncrementalRevenue: 30, ExpectedCost: 3}, {UserID: "d", Offer: "c5", Control: true, ExpectedIncrementalRevenue: 99, ExpectedCost: 9}},
	}
	var keys []string
	for i, rows := range shards {
		rec := plan.Record(rows, memory.DefaultAllocator)
		data, err := arrowio.Encode(plan.Schema, memory.DefaultAllocator, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		key := "runs/r/scores/shard=" + string(rune('0'+i)) + ".arrow"
		if err := store.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	env, acts := newEnv(store)
	for _, tc := range []struct {
		name string
		data report.Data
		want string
	}{
		{"lift from plan rows", report.Data{Campaign: "c", Users: 4, Treated: 2, Control: 1}, "Targeting all 2 offered users is expected to bring 40.00 of incremental revenue at a cost of 5.00; the best 1 users (50.0%) bring half of it."},
		{"offer mix from plan rows", report.Data{Campaign: "c", Offers: []report.Offer{{ID: "stale", Users: 9}}}, `<td class="num">2</td><td class="num">n/a</td><td class="num">5.00</td><td class="num">40.00</td><td class="num">8.00</td>`},
		{"lift given", report.Data{Campaign: "c", Lift: []report.LiftPoint{{}, {Users: 7, Revenue: 70, Cost: 7}}}, "Targeting all 7 offered users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := env.ExecuteActivity(acts.WriteReport, WriteReportInput{Key: "campaigns/c/report.html", Data: tc.data, ScoreKeys: keys})
			if err != nil {
				t.Fatal(err)
			}
			var url string
			if err := v.Get(&url); err != nil || !strings.HasSuffix(url, "campaigns/c/report.html") {
				t.Fatalf("url %q, %v", url, err)
			}
			page, err := store.Get(ctx, "campaigns/c/report.html")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(page), tc.want) {
				t.Errorf("report lacks %q", tc.want)
			}
		})
	}
	if _, err := env.ExecuteActivity(acts.WriteReport, WriteReportInput{Key: "k", ScoreKeys: []string{"missing"}}); err == nil {
		t.Error("missing plan shard: no error")
	}
}
