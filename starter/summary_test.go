package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/workflows"
)

// recordedSummary is the result of the regeneration recorded in
// workflows/testdata (3,001 users, weekly template, 5 segments).
func recordedSummary(t *testing.T) workflows.Summary {
	t.Helper()
	f, err := os.Open("../workflows/testdata/regenerate.history.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := h.Events[len(h.Events)-1].GetWorkflowExecutionCompletedEventAttributes()
	if last == nil {
		t.Fatal("the recorded history does not end with the workflow's completion")
	}
	var sum workflows.Summary
	if err := converter.GetDefaultDataConverter().FromPayloads(last.Result, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestRunSummary: make demo's short summary of a real run (the recorded
// one) is under 60 lines and says the stages, users, segments, offers,
// budget, control and links.
func TestRunSummary(t *testing.T) {
	sum := recordedSummary(t)
	var b bytes.Buffer
	printRunSummary(&b, RunOutput{Summary: sum, UIURL: "http://127.0.0.1:8233/namespaces/default/workflows/it-1/x/history"}, "")
	out := b.String()
	t.Logf("summary:\n%s", out)
	if n := strings.Count(out, "\n"); n >= 60 {
		t.Errorf("%d lines, want under 60", n)
	}
	for _, want := range []string{
		"run it-1: template weekly, campaign it-1, seed ",
		"\nstages (12.4s in all):\n  ingest       1.8s  rejects\n  features     1.1s  1733 terms of 2330\n",
		"\n  segment      5.8s",
		"\nusers: 3001: 3001 eligible, 2031 treated (126 exploring), 668 no offer, 302 control\n",
		"\nsegments (5):\n  champions                767 users  25.6%",
		"\noffers (5):\n  discount10           457 users  cost     589.18  incremental revenue    2178.04\n  coupon5             1509 users",
		"\nbudget: 2948.53 of 10000.00 expected to be spent (29%)",
		"\nexpected: incremental revenue 15525.54, cost 2948.53, incremental profit ",
		"\ncontrol: 302 users held out (10.1% of the eligible), never contacted\n",
		"\nplan:    s3://promoflow/campaigns/it-1/plan.csv (3001 rows)\n",
		"\nreport:  s3://promoflow/campaigns/it-1/report.html\n",
		"\nsummary: s3://promoflow/campaigns/it-1/summary.json\n",
		"\nui:      http://127.0.0.1:8233/namespaces/default/workflows/it-1/x/history\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

// TestRunSummaryDense: a run with density clusters says them in one line
// after the segments; the recorded run, without, says nothing.
func TestRunSummaryDense(t *testing.T) {
	sum := recordedSummary(t)
	var b bytes.Buffer
	printRunSummary(&b, RunOutput{Summary: sum}, "")
	if strings.Contains(b.String(), "density:") {
		t.Errorf("a run without density clusters:\n%s", b.String())
	}
	sum.DenseClusters = &workflows.DenseSummary{
		Clusters: []segment.Profile{{Name: "dense 0", Size: 3961}},
		Outliers: segment.Profile{Name: "outliers", Size: 402, Share: 0.0921, Mean: map[string]float64{"monetary": 7159.4, "frequency": 8.5}},
		Everyone: map[string]float64{"monetary": 1895.4, "frequency": 4.2}, Excluded: true,
	}
	b.Reset()
	printRunSummary(&b, RunOutput{Summary: sum}, "")
	want := "\ndensity: 1 dense clusters, 402 outliers (9.2%): spend 7159.40 against 1895.40, orders 8.5 against 4.2; left out of the audience\noffers ("
	if !strings.Contains(b.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, b.String())
	}
}

// TestRunSummaryBounded: however many segments and offers a run has, the
// summary stays under 60 lines.
func TestRunSummaryBounded(t *testing.T) {
	sum := recordedSummary(t)
	sum.Segments, sum.Strategy.Offers = nil, nil
	for i := range 40 {
		sum.Segments = append(sum.Segments, segment.Profile{ID: i, Name: fmt.Sprintf("seg%d", i), Size: 10})
		sum.Strategy.Offers = append(sum.Strategy.Offers, strategy.OfferStat{Offer: fmt.Sprintf("offer%d", i), Users: 5})
	}
	sum.Approval = &workflows.ApprovalRecord{RunID: "it-1", Status: workflows.ApprovalApproved, By: "ana"}
	sum.Evaluation = "it-1-evaluation"
	var b bytes.Buffer
	printRunSummary(&b, RunOutput{Summary: sum}, ".promoflow/demo/summary.json")
	out := b.String()
	if n := strings.Count(out, "\n"); n >= 60 || !strings.Contains(out, "  ... 28 more in the JSON summary\n") ||
		!strings.Contains(out, "\nsummary: .promoflow/demo/summary.json (the whole summary, JSON; also s3://promoflow/campaigns/it-1/summary.json)\n") {
		t.Errorf("%d lines:\n%s", n, out)
	}
}

// TestRunSummaryMeasurability: the summary says the minimum detectable
// lift of a measurable campaign, and plainly that one is not measurable.
func TestRunSummaryMeasurability(t *testing.T) {
	mdl := 0.354
	for _, tc := range []struct {
		m    strategy.Measurability
		want string
	}{
		{strategy.Measurability{Measurable: true, MDL: &mdl, Detail: "20 control users (of 20 held out) can detect a response lift of 35.4 pp or more"},
			"\nmeasurable: 20 control users (of 20 held out) can detect a response lift of 35.4 pp or more\n"},
		{strategy.Measurability{Action: "approve", Detail: "not measurable: the audience is too small"},
			"\nNOT MEASURABLE (approve): not measurable: the audience is too small\n"},
	} {
		sum := recordedSummary(t)
		sum.Strategy.Measurability = &tc.m
		var b bytes.Buffer
		printRunSummary(&b, RunOutput{Summary: sum}, "")
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("summary lacks %q:\n%s", tc.want, b.String())
		}
	}
}
