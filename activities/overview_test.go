package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	planpkg "github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/report"
	"github.com/promoflow/promoflow/internal/strategy"
)

// publishCampaign stores a campaign as a run publishes it: plan.csv with
// treated users of offer (the first buyers of them buy) and control users
// (the first ctlBuyers buy), and summary.json with the decision's summary,
// through WriteSummary (which lists it under the template). Outcome
// events go to raw/outcomes/<id>/.
func publishCampaign(t *testing.T, acts *Activities, tmpl, id string, start time.Time, treated, buyers, control, ctlBuyers int, learner string) {
	t.Helper()
	ctx := context.Background()
	var plan, events strings.Builder
	plan.WriteString(strings.Join(planpkg.Columns, ",") + "\n")
	events.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	win := start.Format(time.RFC3339) + "," + start.AddDate(0, 0, 7).Format(time.RFC3339) + ",," // window, then no recommendations
	for i := range treated + control {
		seg := []string{"a", "b"}[i%2]
		if i >= treated {
			fmt.Fprintf(&plan, "%s-u%d,%s,none,none,0,0,true,coupon5,2,false,x,none,0.2,0.1,%s,%s\n", id, i, seg, id, win)
			if i-treated < ctlBuyers {
				fmt.Fprintf(&events, "%s-u%d,%s,purchase,i,c,,1,40,o%d,web\n", id, i, start.Add(24*time.Hour).Format(time.RFC3339), i)
			}
			continue
		}
		fmt.Fprintf(&plan, "%s-u%d,%s,coupon5,email,2,1,false,none,0,%v,x,prior,0.2,0.855,%s,%s\n", id, i, seg, i%10 == 0, id, win)
		if i < buyers {
			fmt.Fprintf(&events, "%s-u%d,%s,purchase,i,c,,1,50,o%d,web\n", id, i, start.Add(24*time.Hour).Format(time.RFC3339), i)
		}
	}
	must(t, acts.Store.Put(ctx, layout.Campaign(id)+"plan.csv", []byte(plan.String())))
	must(t, acts.Store.Put(ctx, layout.Outcomes(id)+"events.csv", []byte(events.String())))
	mdl := 0.08
	sum := map[string]any{
		"run_id": id, "campaign": id, "template": tmpl,
		"strategy": strategy.Summary{
			Template: tmpl, Start: start, End: start.AddDate(0, 0, 7),
			Audience:                   strategy.Audience{Treated: int64(treated), Control: int64(control), Explore: int64(treated / 10)},
			Budget:                     strategy.Budget{Total: 500, Used: 420},
			Measurability:              &strategy.Measurability{MDL: &mdl, Measurable: true, Control: int64(control), Treated: int64(treated)},
			ExpectedIncrementalRevenue: 900,
		},
	}
	if learner != "" {
		sum["uplift"] = strategy.UpliftInfo{Learner: learner, CVPolicyValue: 0.0123}
	}
	data, err := json.Marshal(sum)
	must(t, err)
	_, err = acts.WriteSummary(ctx, WriteSummaryInput{Campaign: id, Summary: data})
	must(t, err)
}

// cells extracts the text of a table row's data-k cells.
func cells(t *testing.T, page, id string) map[string]string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr id="week-` + regexp.QuoteMeta(id) + `">(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		t.Fatalf("no row for %s", id)
	}
	out := map[string]string{}
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, m := range regexp.MustCompile(`(?s)<td[^>]*data-k="([a-z]+)"[^>]*>(.*?)</td>`).FindAllStringSubmatch(row[1], -1) {
		out[m[1]] = strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(m[2], " "))), " ")
	}
	return out
}

// TestOverviewMatchesEvaluations evaluates three campaigns of a template
// (each evaluation refreshes the overview) and publishes a fourth, then
// checks every figure of the page's table against the evaluations'
// summaries and the plans' summaries in the bucket.
func TestOverviewMatchesEvaluations(t *testing.T) {
	ctx := context.Background()
	acts := &Activities{Store: blob.NewMem()}
	cat := []campaign.Offer{{ID: "coupon5", Kind: campaign.Coupon, Fixed: 5, Lift: 0.07}}
	week := func(i int) time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*i) }
	ids := []string{"weekly-2026-W45", "weekly-2026-W46", "weekly-2026-W47"}
	for i, id := range ids {
		// Lift grows week by week: 20, 30, 40 buyers of 100 treated against
		// 20 of 100 control users.
		publishCampaign(t, acts, "weekly", id, week(i), 100, 20+10*i, 100, 20, []string{"", "x", "dr"}[i])
		out, err := acts.EvaluateCampaign(ctx, EvaluateCampaignInput{
			Campaign: id, Template: "weekly", Start: week(i), End: week(i + 1),
			Outcomes: []string{layout.Outcomes(id)}, Catalog: cat, Margin: 0.4,
		})
		must(t, err)
		if out.Overview != acts.Store.URL("reports/weekly/index.html") {
			t.Fatalf("evaluation %d: overview %q", i, out.Overview)
		}
	}
	publishCampaign(t, acts, "weekly", "weekly-2026-W48", week(3), 80, 0, 20, 0, "dr")
	// Another template's campaign stays off the page.
	publishCampaign(t, acts, "holiday", "holiday-xmas", week(3), 10, 0, 10, 0, "")

	data, err := acts.Store.Get(ctx, "reports/weekly/index.html")
	must(t, err)
	page := string(data)
	if p := os.Getenv("PROMOFLOW_OVERVIEW_OUT"); p != "" {
		must(t, os.WriteFile(p, data, 0o644))
	}
	if strings.Contains(page, "holiday-xmas") {
		t.Error("another template's campaign is on the page")
	}
	for i, id := range ids {
		var ev EvaluationSummary
		found, err := acts.getJSON(ctx, layout.EvaluationSummary(id), &ev)
		if err != nil || !found {
			t.Fatalf("%s: evaluation summary: %v %v", id, found, err)
		}
		o := ev.Overall
		rev := scaleInterval(o.RevenueLift, float64(o.Treated.N))
		want := map[string]string{
			"groups":  report.Int(ev.Treated) + " / " + report.Int(ev.Control),
			"lift":    report.PP(o.ResponseLift.Value) + " " + report.CIShort(o.ResponseLift, report.PP),
			"revenue": report.Money(rev.Value) + " " + report.CIShort(rev, report.Money),
			"spend":   report.Money(o.Cost) + " / " + report.Money(500),
			"roi":     report.Fixed(o.ROI, 2),
			"explore": report.Pct(0.1),
			"learner": []string{"none", "x (0.0123)", "dr (0.0123)"}[i],
			"mdl":     "8.0 pp",
		}
		got := cells(t, page, id)
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s %s: page says %q, the evaluation %q", id, k, got[k], w)
			}
		}
		// The lift the page shows is the measured one: 0.0, +10.0, +20.0 pp.
		if wantLift := fmt.Sprintf("+%d.0 pp", 10*i); i > 0 && !strings.HasPrefix(got["lift"], wantLift) {
			t.Errorf("%s: lift %q, want %s", id, got["lift"], wantLift)
		}
	}
	live := cells(t, page, "weekly-2026-W48")
	if live["groups"] != "80 / 20" || live["spend"] != "420.00 planned / 500.00" {
		t.Errorf("live campaign: %v", live)
	}
	// Three evaluated weeks charted, three state versions of effects, the
	// live campaign listed; in window order.
	for _, w := range []string{`<section id="lift">`, `aria-label="Response lift against control, 95% interval"`,
		`aria-label="Learned response effect of coupon5"`, `<section id="live">`, "Template weekly"} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %s", w)
		}
	}
	if a, b := strings.Index(page, `id="week-weekly-2026-W45"`), strings.Index(page, `id="week-weekly-2026-W48"`); a < 0 || b < a {
		t.Error("campaigns not in window order")
	}
}
