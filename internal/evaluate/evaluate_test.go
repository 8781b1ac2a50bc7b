package evaluate

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
)

// rows makes n users of segment and offer, k of whom respond with revenue
// each.
func rows(segment, offer string, control bool, n, k int, revenue float64) []Row {
	out := make([]Row, n)
	for i := range out {
		out[i] = Row{UserID: segment + offer, Segment: segment, Offer: offer, Control: control, Predicted: 2}
		if i < k {
			out[i].Responded, out[i].Revenue = true, revenue
		}
	}
	return out
}

func TestMeasureKnownLift(t *testing.T) {
	var rs []Row
	rs = append(rs, rows("a", "coupon5", false, 1000, 300, 50)...) // 30% treated
	rs = append(rs, rows("a", "coupon5", true, 1000, 200, 50)...)  // 20% control
	rs = append(rs, rows("a", "none", false, 10, 5, 50)...)        // no offer: not in the effects
	res, err := Measure(rs, testCatalog(), 0.4)
	if err != nil {
		t.Fatal(err)
	}
	e := res.Offers["coupon5"]
	if e.Treated.N != 1000 || e.Control.N != 1000 || res.Users != 2010 || res.Treated != 1000 || res.Control != 1000 {
		t.Fatalf("counts %+v users %d", e, res.Users)
	}
	// Lift 0.10, SE sqrt(.3*.7/1000 + .2*.8/1000) = 0.01924.
	se := math.Sqrt(0.3*0.7/1000 + 0.2*0.8/1000)
	if math.Abs(e.ResponseLift.Value-0.10) > 1e-12 || math.Abs(e.ResponseLift.SE-se) > 1e-12 ||
		math.Abs(e.ResponseLift.Lo-(0.10-1.959963984540054*se)) > 1e-12 || !e.ResponseLift.Defined {
		t.Errorf("response lift %+v, want 0.10 ± 1.96 x %v", e.ResponseLift, se)
	}
	// Revenue lift 5 per treated user; cost 300 redemptions x 5; profit 0.4 x 5 x 1000 - 1500.
	if math.Abs(e.RevenueLift.Value-5) > 1e-9 || e.Cost != 1500 || math.Abs(e.IncrementalProfit-500) > 1e-9 || math.Abs(e.ROI-500.0/1500) > 1e-12 {
		t.Errorf("revenue lift %v cost %v profit %v roi %v", e.RevenueLift.Value, e.Cost, e.IncrementalProfit, e.ROI)
	}
	if e.Predicted != 2 || res.Cells["a"]["coupon5"].Treated.N != 1000 || res.SegmentControl["a"].N != 1000 {
		t.Errorf("predicted %v, cell %+v, segment control %+v", e.Predicted, res.Cells["a"]["coupon5"], res.SegmentControl["a"])
	}
	if len(res.Calibration) != 5 {
		t.Errorf("%d calibration bins, want 5", len(res.Calibration))
	}
}

func TestMeasureRejectsUnknownOffer(t *testing.T) {
	_, err := Measure(rows("a", "mystery", false, 3, 0, 0), testCatalog(), 0.4)
	if err == nil || !strings.Contains(err.Error(), `offer "mystery" not in the catalog`) {
		t.Errorf("err = %v", err)
	}
}

func TestDiffUndefinedForTinyGroups(t *testing.T) {
	a := Arm{N: 1, Responders: 1, Revenue: 3, RevenueSq: 9}
	iv := Diff(a.Mean(), 0, a.MeanVar(), 0)
	if iv.Defined || iv.Value != 3 {
		t.Errorf("interval of one user %+v, want undefined", iv)
	}
}

func TestReadPlanAndOutcomes(t *testing.T) {
	plan := "user_id,segment,offer,channel,propensity,expected_incremental_revenue,expected_cost,control,reasons\n" +
		"u1,a,coupon5,email,0.2,3.5,1,false,x\n" +
		"u2,a,coupon5,email,0.2,3.5,1,true,x\n"
	rs, err := ReadPlan(strings.NewReader(plan), "plan.csv")
	if err != nil || len(rs) != 2 || !rs[1].Control || rs[0].Predicted != 3.5 {
		t.Fatalf("rows %+v, err %v", rs, err)
	}
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	events := "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n" +
		"u1,2026-11-24T10:00:00Z,purchase,i,c,,2,10,o1,web\n" +
		"u1,2026-11-24T10:00:00Z,view,i,c,,1,10,,web\n" +
		"u2,2026-11-22T10:00:00Z,purchase,i,c,,1,10,o2,web\n" + // before the window
		"u9,2026-11-25T10:00:00Z,purchase,i,c,,1,7,o3,web\n"
	out := map[string]*Outcome{}
	n, err := ReadOutcomes(strings.NewReader(events), "ev.csv", start, start.Add(7*24*time.Hour), out)
	if err != nil || n != 2 {
		t.Fatalf("%d purchases, err %v", n, err)
	}
	if unknown := Join(rs, out); unknown != 1 || !rs[0].Responded || rs[0].Revenue != 20 || rs[1].Responded {
		t.Errorf("joined %+v, unknown %d", rs, unknown)
	}
	bad := "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\nu1,2026-11-24T10:00:00Z,purchase,i,c,,two,10,o1,web\n"
	_, err = ReadOutcomes(strings.NewReader(bad), "ev.csv", start, start.Add(time.Hour*999), out)
	if err == nil || !strings.Contains(err.Error(), "ev.csv:2:7: quantity") {
		t.Errorf("err = %v, want file:line:column", err)
	}
	_, err = ReadPlan(strings.NewReader("user_id,offer\nu1,x\n"), "p.csv")
	if err == nil || !strings.Contains(err.Error(), `p.csv:1: no "segment" column`) {
		t.Errorf("err = %v", err)
	}
}

// testCatalog is the weekly template's four offers the generator knows.
func testCatalog() []campaign.Offer {
	return []campaign.Offer{
		{ID: "discount10", Kind: campaign.Discount, Channel: "email", Rate: 0.10, Lift: 0.10},
		{ID: "coupon5", Kind: campaign.Coupon, Channel: "email", Fixed: 5, Lift: 0.07},
		{ID: "free_shipping", Kind: campaign.FreeShipping, Channel: "app", Fixed: 4, Lift: 0.05},
		{ID: "points2x", Kind: campaign.Points, Channel: "app", Rate: 0.03, Lift: 0.06},
	}
}
