package report

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/browser"
	"github.com/promoflow/promoflow/internal/evaluate"
)

// SampleOverview is eight evaluated weeks of a template with a growing
// lift, four offers learned in three segments, an offer retired and one
// promoted, and a live campaign.
func SampleOverview() Overview {
	o := Overview{Template: "weekly", Generated: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	start := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	for i := range 8 {
		lift := 0.01 + 0.006*float64(i)
		mdl := 0.02
		c := OverviewCampaign{
			Campaign: fmt.Sprintf("weekly-2026-W%d", 41+i), Start: start.AddDate(0, 0, 7*i), End: start.AddDate(0, 0, 7*i+7),
			Evaluated: true, Treated: 6000, Control: 1500, StateVersion: i + 1,
			ResponseLift:       iv(lift, lift-0.015, lift+0.015),
			IncrementalRevenue: iv(4000+900*float64(i), 1000+900*float64(i), 7000+900*float64(i)),
			Cost:               2500, IncrementalProfit: 400 * float64(i), ROI: 0.16 * float64(i),
			Budget: 3000, PlannedCost: 2900, ExpectedRevenue: 5000, PlanTreated: 6000, PlanControl: 1500,
			Explore: []int64{3000, 3000, 60, 60, 60, 60, 60, 60}[i], MDL: &mdl, Measurable: true, HasMDL: true,
		}
		if i > 0 {
			c.Learner, c.CVPolicyValue = []string{"x", "dr"}[i%2], 0.01+0.002*float64(i)
		}
		o.Campaigns = append(o.Campaigns, c)
	}
	o.Campaigns = append(o.Campaigns, OverviewCampaign{Campaign: "weekly-2026-W49", Start: start.AddDate(0, 0, 56), End: start.AddDate(0, 0, 63),
		Budget: 3000, PlannedCost: 2950, ExpectedRevenue: 5200, PlanTreated: 6100, PlanControl: 1500, Explore: 61})
	for k, offer := range []string{"coupon5", "discount10", "free_shipping", "points2x"} {
		oe := OfferEffects{Offer: offer}
		for s, seg := range []string{"bargain hunters", "loyal", "new"} {
			es := EffectSeries{Segment: seg}
			for v := 1; v <= 8; v++ {
				es.Points = append(es.Points, EffectPoint{Version: v, Response: 0.02*float64(k-1) + 0.01*float64(s), SD: 0.04 / float64(v), N: int64(200 * v)})
			}
			oe.Segments = append(oe.Segments, es)
		}
		o.Effects = append(o.Effects, oe)
	}
	o.Changes = []StateChange{{Version: 3, Campaign: "weekly-2026-W43", Retired: []string{"flash20"}, Promoted: []string{"coupon5"}}}
	return o
}

func TestOverviewPage(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderOverview(&buf, SampleOverview()); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(buf.String())
	for _, want := range []string{
		"Template weekly: the loop at a glance", "8 evaluated, 1 live",
		`id="week-weekly-2026-W41"`, `id="week-weekly-2026-W48"`, `id="week-weekly-2026-W49"`,
		"+5.2 pp", "+3.7 pp to +6.7 pp", // week 8's lift and interval
		"not evaluated yet; expected revenue 5,200.00", "flash20", "coupon5",
		"dr (0.0240)", "50.0%", "1.0%", "2.0 pp",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<svg class="chart"`); n != 2+4 {
		t.Errorf("%d charts, want 6 (lift, money, four offers)", n)
	}
	if strings.Contains(page, "<script") || strings.Contains(page, " src=") || strings.Contains(page, `href="http`) {
		t.Error("the page has a script or an external resource")
	}
}

// TestOverviewEmpty: a template without campaigns or states still gets a
// page that says so, without charts.
func TestOverviewEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderOverview(&buf, Overview{Template: "winback"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"No campaign of this template has been evaluated yet", "No adjustment state yet", "No campaign is live"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("an empty overview has a chart")
	}
}

// TestOverviewUndefinedInterval: a week whose control group was too small
// shows its lift without an interval, and the chart still draws.
func TestOverviewUndefinedInterval(t *testing.T) {
	o := SampleOverview()
	o.Campaigns[0].ResponseLift = evaluate.Interval{Value: 0.3}
	o.Campaigns[0].IncrementalRevenue = evaluate.Interval{Value: 10}
	var buf bytes.Buffer
	if err := RenderOverview(&buf, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "too few users") {
		t.Error("an undefined interval is not said to be one")
	}
}

// TestOverviewInBrowser opens the overview in headless Chromium on a
// desktop and a phone screen (internal/browser.CheckPage): six charts
// drawn, no sideways scroll, no other resource, a clean console.
func TestOverviewInBrowser(t *testing.T) {
	var page bytes.Buffer
	if err := RenderOverview(&page, SampleOverview()); err != nil {
		t.Fatal(err)
	}
	browser.CheckPage(t, servePage(t, page.Bytes()), "svg.chart", 6, 0.03)
}

// OverviewFileEnv names an overview page on disk (for example one copied
// from a simulation's bucket) that TestOverviewFileInBrowser checks like
// the sample: every chart drawn on a desktop and a phone, no sideways
// scroll, a clean console. With $PROMOFLOW_SCREENSHOT_DIR the screenshots
// are kept. Skipped without it.
const OverviewFileEnv = "PROMOFLOW_OVERVIEW_FILE"

func TestOverviewFileInBrowser(t *testing.T) {
	path := os.Getenv(OverviewFileEnv)
	if path == "" {
		t.Skip("$" + OverviewFileEnv + " names no page")
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	browser.CheckPage(t, servePage(t, page), "svg.chart", strings.Count(string(page), `<svg class="chart"`), 0.03)
}
