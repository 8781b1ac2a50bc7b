package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/history"
	planpkg "github.com/promoflow/promoflow/internal/plan"
)

func TestEvaluateCampaignWritesReportAndState(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	acts := &Activities{Store: store}
	// 200 users of segment "a" offered coupon5: 100 treated of whom 30 buy,
	// 100 control of whom 20 buy; every purchase worth 50.
	var plan, events strings.Builder
	plan.WriteString(strings.Join(planpkg.Columns, ",") + "\n")
	events.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i := 0; i < 200; i++ {
		control := i >= 100
		if control {
			fmt.Fprintf(&plan, "u%d,a,none,none,0,0,true,coupon5,2,false,x,none,0.2,0.1,c1,2026-11-23T00:00:00Z,2026-11-30T00:00:00Z,,\n", i)
		} else {
			fmt.Fprintf(&plan, "u%d,a,coupon5,email,2,1,false,none,0,false,x,prior,0.2,0.855,c1,2026-11-23T00:00:00Z,2026-11-30T00:00:00Z,,\n", i)
		}
		if (!control && i < 30) || (control && i < 120) {
			fmt.Fprintf(&events, "u%d,2026-11-24T10:00:00Z,purchase,i,c,,1,50,o%d,web\n", i, i)
		}
	}
	must(t, store.Put(ctx, "campaigns/c1/plan.csv", []byte(plan.String())))
	must(t, store.Put(ctx, "raw/outcomes/c1/events.csv", []byte(events.String())))
	must(t, store.Put(ctx, "campaigns/c1/summary.json", []byte(`{"run_id":"run-1","campaign":"c1"}`)))
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	in := EvaluateCampaignInput{
		Campaign: "c1", Template: "weekly", Start: start, End: start.Add(7 * 24 * time.Hour),
		Outcomes: []string{"raw/outcomes/c1/"}, Catalog: []campaign.Offer{{ID: "coupon5", Kind: campaign.Coupon, Fixed: 5, Lift: 0.07}}, Margin: 0.4,
	}
	out, err := acts.EvaluateCampaign(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Users != 200 || out.Treated != 100 || out.Control != 100 || out.Purchases != 50 || out.State.Version != 1 ||
		out.Cost != 150 || fmt.Sprintf("%.2f", out.ResponseLift) != "0.10" {
		t.Errorf("output %+v", out)
	}
	// The campaign's history: every user, arm and outcome, the decision's run.
	hdata, err := store.Get(ctx, "history/weekly/c1.parquet")
	must(t, err)
	hist, err := history.Read(hdata, memory.DefaultAllocator)
	must(t, err)
	arms, responders := map[string]int{}, 0
	for _, r := range hist {
		arms[r.Arm]++
		if r.Responded {
			responders++
		}
		if r.RunID != "run-1" || r.Campaign != "c1" || !(r.Probability == 0.1 || r.Probability == 0.855) {
			t.Fatalf("history row %+v", r)
		}
	}
	if out.HistoryRows != 200 || arms["coupon5"] != 100 || arms[history.ControlArm] != 100 || responders != 50 {
		t.Errorf("history: %d rows, arms %v, %d responders", out.HistoryRows, arms, responders)
	}
	// A retry (the activity ran, its result was lost) does not count twice.
	again, err := acts.EvaluateCampaign(ctx, in)
	if err != nil || again.State.Version != 1 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	v1, err := store.Get(ctx, "state/weekly/v000001.json")
	must(t, err)
	latest, err := store.Get(ctx, adjust.Key("weekly"))
	must(t, err)
	st, err := adjust.Parse(latest)
	must(t, err)
	if string(v1) != string(latest) || st.Counts["a"]["coupon5"].Treated.N != 100 || st.Campaign != "c1" {
		t.Errorf("state %+v", st)
	}
	var sum EvaluationSummary
	data, err := store.Get(ctx, "campaigns/c1/evaluation/summary.json")
	must(t, err)
	must(t, json.Unmarshal(data, &sum))
	if sum.Offers["coupon5"].Treated.Responders != 30 || sum.StateVersion != 1 {
		t.Errorf("summary %+v", sum.Offers["coupon5"])
	}
	html, err := store.Get(ctx, "campaigns/c1/evaluation/report.html")
	must(t, err)
	// The page is internal/report's evaluation (tested there in full).
	if !strings.Contains(string(html), "Evaluation of campaign c1") || !strings.Contains(string(html), "coupon5") ||
		!strings.Contains(string(html), `<section id="calibration">`) || !strings.Contains(string(html), `<svg class="chart"`) {
		t.Errorf("report:\n%s", html)
	}
	// A malformed outcome file is bad input, with its line and column.
	must(t, store.Put(ctx, "raw/outcomes/c1/bad.csv", []byte("user_id,ts,type,quantity,price\nu1,yesterday,purchase,1,5\n")))
	if _, err := acts.EvaluateCampaign(ctx, in); err == nil || !strings.Contains(err.Error(), "raw/outcomes/c1/bad.csv:2:2: ts") {
		t.Errorf("bad outcomes: %v", err)
	}
}

func TestNewestDrop(t *testing.T) {
	for _, c := range []struct {
		keys []string
		want []string
	}{
		{[]string{"raw/w/2026-11-16/a.csv", "raw/w/2026-11-23/a.csv", "raw/w/2026-11-23/b.csv"}, []string{"raw/w/2026-11-23/a.csv", "raw/w/2026-11-23/b.csv"}},
		{[]string{"raw/w/a.csv", "raw/w/b.csv"}, []string{"raw/w/a.csv", "raw/w/b.csv"}},
		{[]string{"raw/w/x.csv", "raw/w/2026-11-23/", "raw/w/2026-11-23/e.csv.gz"}, []string{"raw/w/2026-11-23/e.csv.gz"}},
	} {
		got, err := newestDrop("raw/w/", c.keys)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("newestDrop(%v) = %v, %v; want %v", c.keys, got, err, c.want)
		}
	}
	if _, err := newestDrop("raw/w/", nil); err == nil || !strings.Contains(err.Error(), "no input files") {
		t.Errorf("empty prefix: %v", err)
	}
}
