package activities

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
)

// outcomesMapping reads a shop's order export: semicolon-separated,
// its own column names, local times in Paris, cents.
const outcomesMapping = `
sources:
  - name: orders
    files: "orders*"
    table: events
    delimiter: ";"
    timezone: Europe/Paris
    columns:
      user_id: {expr: customer, missing: reject}
      ts: {expr: placed, layout: "02/01/2006 15:04"}
      type: lower(kind)
      quantity: units
      price: number(cents) / 100
      order_id: {expr: order_no, optional: true}
`

// TestEvaluateOutcomesThroughMapping: the same purchases, as canonical
// event CSV and as a foreign export read through a mapping, give the same
// evaluation; the export's bad rows are counted with their reasons, not
// dropped silently, and a mapping that fits no file is bad input.
func TestEvaluateOutcomesThroughMapping(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	acts := &Activities{Store: store}
	var plan, canonical, export strings.Builder
	plan.WriteString("user_id,segment,offer,channel,expected_incremental_revenue,expected_cost,control,explore,reasons,source,propensity\n")
	canonical.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	export.WriteString("customer;placed;kind;units;cents;order_no\n")
	paris, err := time.LoadLocation("Europe/Paris")
	must(t, err)
	for i := 0; i < 200; i++ {
		control := i >= 100
		fmt.Fprintf(&plan, "u%d,a,coupon5,email,2,1,%v,false,x,prior,0.2\n", i, control)
		if (!control && i < 30) || (control && i < 125) {
			at := time.Date(2026, 11, 24, 10, i%60, 0, 0, time.UTC)
			q, cents := 1+i%3, 1999+i
			fmt.Fprintf(&canonical, "u%d,%s,purchase,i,c,,%d,%.2f,o%d,web\n", i, at.Format(time.RFC3339), q, float64(cents)/100, i)
			fmt.Fprintf(&export, "u%d;%s;PURCHASE;%d;%d;o%d\n", i, at.In(paris).Format("02/01/2006 15:04"), q, cents, i)
		}
		if i%50 == 0 { // a view and a purchase after the window: not outcomes
			fmt.Fprintf(&canonical, "u%d,2026-11-25T10:00:00Z,view,i,c,,0,0,,web\nu%d,2026-12-05T10:00:00Z,purchase,i,c,,1,10,x%d,web\n", i, i, i)
			fmt.Fprintf(&export, "u%d;25/11/2026 11:00;view;0;0;\nu%d;05/12/2026 11:00;purchase;1;1000;x%d\n", i, i, i)
		}
	}
	// Rows the mapping rejects: a bad time, an unknown type, no customer.
	export.WriteString("u1;yesterday;purchase;1;500;b1\nu2;24/11/2026 11:00;teleport;1;500;b2\n;24/11/2026 11:00;purchase;1;500;b3\n")
	for _, c := range []string{"canon", "mapped"} {
		must(t, store.Put(ctx, "campaigns/"+c+"/plan.csv", []byte(plan.String())))
	}
	must(t, store.Put(ctx, "raw/outcomes/canon/events.csv", []byte(canonical.String())))
	must(t, store.Put(ctx, "raw/outcomes/mapped/abc/orders-2026-11.csv", []byte(export.String())))
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	in := EvaluateCampaignInput{
		Start: start, End: start.Add(7 * 24 * time.Hour), Margin: 0.4,
		Catalog: []campaign.Offer{{ID: "coupon5", Kind: campaign.Coupon, Fixed: 5, Lift: 0.07}},
	}
	in.Campaign, in.Outcomes = "canon", []string{"raw/outcomes/canon/"}
	want, err := acts.EvaluateCampaign(ctx, in)
	must(t, err)
	in.Campaign, in.Outcomes, in.Mapping = "mapped", []string{"raw/outcomes/mapped/"}, outcomesMapping
	got, err := acts.EvaluateCampaign(ctx, in)
	must(t, err)
	if want.Purchases != 55 || want.Users != 200 || want.OutcomeRows != nil {
		t.Fatalf("canonical evaluation %+v", want)
	}
	rows := got.OutcomeRows
	if rows == nil {
		t.Fatal("no outcome rows accounted for the mapped file")
	}
	wantRows := OutcomeRows{Read: 55 + 8 + 3, Accepted: 55 + 8, Rejected: 3,
		ByReason: map[string]int64{"bad ts": 1, "unknown type": 1, "missing user_id": 1}}
	if !reflect.DeepEqual(*rows, wantRows) {
		t.Errorf("outcome rows %+v, want %+v", *rows, wantRows)
	}
	got.OutcomeRows = nil
	for _, o := range []*EvaluateCampaignOutput{&want, &got} {
		o.Summary, o.Report = "", ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("through the mapping:\n%+v\nas canonical CSV:\n%+v", got, want)
	}

	in.Mapping = "sources:\n  - table: events\n    files: \"events*\"\n    columns: {user_id: customer, ts: placed, type: kind}\n"
	if _, err := acts.EvaluateCampaign(ctx, in); err == nil || !strings.Contains(err.Error(), "no events source of the outcomes mapping matches") {
		t.Errorf("mapping for other files: %v", err)
	}
}

func TestResolveKeys(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	acts := &Activities{Store: store}
	for _, k := range []string{"raw/optout/b.txt", "raw/optout/a.txt", "raw/optout/2026/c.txt", "raw/history/h.csv"} {
		must(t, store.Put(ctx, k, []byte("u1\n")))
	}
	got, err := acts.ResolveKeys(ctx, []string{"raw/lists/x.csv", "raw/optout/", "raw/history/"})
	must(t, err)
	want := []string{"raw/lists/x.csv", "raw/optout/2026/c.txt", "raw/optout/a.txt", "raw/optout/b.txt", "raw/history/h.csv"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	// A list that was asked for and is missing is not an empty list.
	if _, err := acts.ResolveKeys(ctx, []string{"raw/none/"}); err == nil || !strings.Contains(err.Error(), "no objects under this prefix") {
		t.Errorf("empty prefix: %v", err)
	}
}
