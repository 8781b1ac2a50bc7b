package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/strategy"
)

func TestAddStrategy(t *testing.T) {
	s := &strategy.Summary{
		Event: "Christmas", Objective: "profit",
		Audience: strategy.Audience{Users: 100, Treated: 60, Control: 10, NoOffer: 30},
		Offers: []strategy.OfferStat{
			{Offer: "c5", Kind: "coupon", Channel: "email", Users: 40, ExpectedCost: 200, IncrementalRevenue: 900},
			{Offer: "pts", Kind: "points", Channel: "app", Users: 20, ExpectedCost: 50, IncrementalRevenue: 150},
		},
		Budget:                     strategy.Budget{Total: 300, Used: 250},
		ExpectedIncrementalRevenue: 1050, ExpectedCost: 250,
		Guards: []strategy.Guard{{Name: "budget", Status: strategy.GuardConstrained, Detail: "lambda 0.4"}},
		Fairness: &strategy.Fairness{Attribute: "age_band", MaxGap: 0.1, Gap: 0.2, Groups: []strategy.FairnessGroup{
			{Group: "", Eligible: 10, Offered: 2}, {Group: "30-39", Eligible: 80, Offered: 58, AvgDiscount: 5},
		}},
		LiftCurve: []strategy.CurvePoint{{}, {Users: 30, Cost: 100, IncrementalRevenue: 700}, {Users: 60, Cost: 250, IncrementalRevenue: 1050}, {Users: 90, Cost: 900, IncrementalRevenue: 1400}},
	}
	d := Data{Campaign: "x"}
	d.AddStrategy(s)
	if d.Users != 100 || d.Treated != 60 || d.Control != 10 || d.Budget.Total != 300 || len(d.Offers) != 2 || len(d.Lift) != 4 || d.Lift[2].Revenue != 1050 {
		t.Fatalf("data = %+v", d)
	}
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, w := range []string{"Campaign x: Christmas", "(unknown)", "age_band", "exceeded", "20.0%", "72.5%", "budget: constrained (lambda 0.4)", "83.3%", "of 300.00", "The plan targets the best 60 users (the marked point): 1,050.00 of expected incremental revenue at a cost of 250.00. Every offer worth its cost (90 users) would bring 1,400.00 at a cost of 900.00."} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if n := strings.Count(page, `<svg class="chart"`); n != 2 { // offers and lift; no segments given
		t.Errorf("%d charts, want 2", n)
	}
}
