package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/promoflow/promoflow/internal/browser"
	"github.com/promoflow/promoflow/internal/evaluate"
)

// iv is an interval with the given value and 95% bounds.
func iv(v, lo, hi float64) evaluate.Interval {
	return evaluate.Interval{Value: v, Lo: lo, Hi: hi, SE: (hi - lo) / 3.92, Defined: true}
}

// SampleEvaluation is a known evaluation, also used by the browser test.
func SampleEvaluation() Evaluation {
	coupon := &evaluate.Effect{
		Treated:      evaluate.Arm{N: 4000, Responders: 600, Revenue: 36000},
		Control:      evaluate.Arm{N: 500, Responders: 50, Revenue: 3000},
		ResponseLift: iv(0.05, 0.021, 0.079), RevenueLift: iv(3, 0.5, 5.5),
		Predicted: 2.5, Cost: 1500, IncrementalProfit: 2100, ROI: 1.4,
	}
	points := &evaluate.Effect{
		Treated:      evaluate.Arm{N: 2000, Responders: 190, Revenue: 11000},
		Control:      evaluate.Arm{N: 250, Responders: 25, Revenue: 1400},
		ResponseLift: iv(-0.005, -0.045, 0.035), RevenueLift: iv(-0.1, -2.2, 2),
		Predicted: 1.2, Cost: 400, IncrementalProfit: -460, ROI: -1.15,
	}
	tiny := &evaluate.Effect{
		Treated:      evaluate.Arm{N: 1, Responders: 1, Revenue: 20},
		ResponseLift: evaluate.Interval{Value: 1}, RevenueLift: evaluate.Interval{Value: 20},
		Cost: 2, IncrementalProfit: -2,
	}
	return Evaluation{
		Campaign: "weekly-2026-W48", Template: "weekly", Margin: 0.3, StateVersion: 4,
		Start: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		Result: evaluate.Result{
			Users: 7500, Treated: 6001, Control: 750,
			Overall: evaluate.Effect{
				Treated:      evaluate.Arm{N: 6001, Responders: 791, Revenue: 47020},
				Control:      evaluate.Arm{N: 750, Responders: 75, Revenue: 4400},
				ResponseLift: iv(0.0318, 0.0091, 0.0545), RevenueLift: iv(1.9, 0.4, 3.4),
				Predicted: 2.07, Cost: 1902, IncrementalProfit: 1518.57, ROI: 0.798,
			},
			Offers: map[string]*evaluate.Effect{"points200": points, "coupon5": coupon, "gift": tiny},
			Cells: map[string]map[string]*evaluate.Effect{
				"loyal":   {"coupon5": coupon, "points200": points},
				"at risk": {"gift": tiny},
			},
			Calibration: []evaluate.CalibrationBin{
				{PredictedLo: 0, PredictedHi: 0.8, Predicted: 0.4, Realised: iv(0.2, -1.1, 1.5), Treated: 1200, Control: 150},
				{PredictedLo: 0.8, PredictedHi: 1.6, Predicted: 1.2, Realised: iv(1.5, 0.1, 2.9), Treated: 1200, Control: 150},
				{PredictedLo: 1.6, PredictedHi: 2.4, Predicted: 2, Realised: iv(1.4, -0.2, 3), Treated: 1200, Control: 150},
				{PredictedLo: 2.4, PredictedHi: 3.6, Predicted: 3, Realised: iv(2.6, 0.9, 4.3), Treated: 1200, Control: 150},
				{PredictedLo: 3.6, PredictedHi: 9.9, Predicted: 4.8, Realised: evaluate.Interval{Value: 3.7}, Treated: 1201, Control: 1},
			},
			Qini: 0.1234,
		},
	}
}

func TestRenderEvaluation(t *testing.T) {
	nan := SampleEvaluation()
	nan.Result.Overall.ROI = math.NaN()
	nan.Result.Calibration[0].Predicted = math.Inf(1)
	nan.Result.Offers["coupon5"].ResponseLift.Hi = math.NaN()
	loss := SampleEvaluation()
	loss.Result.Overall.RevenueLift = iv(-2, -3.5, -0.5)
	loss.Result.Overall.ResponseLift = iv(-0.01, -0.03, 0.01)
	loss.Result.Qini = -0.02

	for _, tc := range []struct {
		name    string
		data    Evaluation
		want    []string // substrings of the page, unescaped
		notWant []string
		charts  int
	}{
		{"known", SampleEvaluation(), []string{
			"Evaluation of campaign weekly-2026-W48", "template weekly", "window 2026-11-23 to 2026-11-30", "adjustment state v4 written",
			// Key figures: treated and control, incremental response and
			// revenue (1.9 × 6,001 users) with their intervals, cost,
			// profit, ROI, Qini.
			"6,001", "80.0% of 7,500 users", "750", "+3.2 pp", "95% CI +0.9 pp to +5.5 pp",
			"11,401.90", "95% CI 2,400.40 to 20,403.40", "a real gain", "about 191 more buyers",
			"1,902.00", "1,518.57", "0.80", "0.123", "margin 30.0%",
			"from 10.0% (control) to 13.2% (treated)",
			// Per-offer table and chart, sorted by offer.
			"Response lift per offer, 95% interval", "+5.0 pp", "+2.1 pp to +7.9 pp", "-0.5 pp", "-4.5 pp to +3.5 pp",
			"-460.00", "-1.15", "too few users", "Not charted, too few control users to measure: gift.",
			"4,000 / 500", "15.0% / 10.0%",
			// Calibration chart and table.
			"Realised vs predicted, per treated user", "realised = predicted", "3.60 to 9.90", "0.90 to 4.30",
			// Per-segment table.
			"<td>at risk</td><td>gift</td>", "<td>loyal</td><td>coupon5</td>", "<td>loyal</td><td>points200</td>",
		}, []string{"not distinguishable from no effect (the 95% interval contains zero): the offers"}, 2},
		{"loss", loss, []string{"a real loss", "-12,002.00", "not distinguishable from no effect", "about 60 fewer buyers", "no better than chance"}, []string{"a real gain"}, 2},
		{"no offer measurable", func() Evaluation {
			e := SampleEvaluation()
			// A null effect (hand-edited summary) is not measurable either.
			e.Result.Offers = map[string]*evaluate.Effect{"gift": e.Result.Offers["gift"], "null": nil}
			return e
		}(), []string{"No offer had enough control users for an interval.", "Not charted, too few control users to measure: gift, null."}, nil, 1},
		{"calibration without control", func() Evaluation {
			e := SampleEvaluation()
			for i := range e.Result.Calibration {
				e.Result.Calibration[i].Control = 0
			}
			return e
		}(), []string{"No bin has both treated and control users: nothing to chart.", "Not charted: 5 bin(s)"}, nil, 1},
		{"non-finite numbers", nan, []string{NA}, nil, 2},
		{"nothing offered", Evaluation{Campaign: "c", Result: evaluate.Result{Users: 10, Control: 10}}, []string{
			"No user got an offer.", "No prediction to compare.", "No segment got an offer.", "too few users to tell",
		}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RenderEvaluation(&buf, tc.data); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			checkHTML(t, page)
			for _, id := range []string{"summary", "offers", "calibration", "segments"} {
				if !strings.Contains(page, `<section id="`+id+`">`) {
					t.Errorf("section %s missing", id)
				}
			}
			text := html.UnescapeString(page)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(text, w) {
					t.Errorf("page has %q", w)
				}
			}
			for _, bad := range []string{"NaN", "Inf", "<script", "%!"} {
				if strings.Contains(page, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			if !onlyNamespaces(page) {
				t.Error("page names an http:// resource")
			}
			if n := strings.Count(page, `<svg class="chart"`); n != tc.charts {
				t.Errorf("%d charts, want %d", n, tc.charts)
			}
		})
	}
}

func TestPP(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0.0123, "+1.2 pp"}, {-0.0456, "-4.6 pp"}, {0, "0.0 pp"}, {-0.0001, "0.0 pp"}, {0.0001, "0.0 pp"}, {math.NaN(), NA},
	} {
		if got := PP(tc.in); got != tc.want {
			t.Errorf("PP(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIntervalChart(t *testing.T) {
	if _, err := IntervalChart("x", "", "", nil, nil, nil, nil); err == nil {
		t.Error("empty chart: no error")
	}
	if _, err := IntervalChart("x", "", "", []string{"a"}, []float64{1}, []float64{0}, nil); err == nil {
		t.Error("mismatched chart: no error")
	}
	nan := math.NaN()
	with, err := IntervalChart("x", "", "", []string{"a", "b"}, []float64{2, -1}, []float64{1, nan}, []float64{3, nan})
	if err != nil {
		t.Fatal(err)
	}
	without, err := IntervalChart("x", "", "", []string{"a", "b"}, []float64{2, -1}, []float64{nan, nan}, []float64{nan, nan})
	if err != nil {
		t.Fatal(err)
	}
	// One error bar is three strokes of its dark grey: the bar and its
	// two caps; a point without bounds has none.
	const ink = "stroke:#333333;"
	if a, b := strings.Count(string(with), ink), strings.Count(string(without), ink); a != 3 || b != 0 {
		t.Errorf("error bar strokes: %d with bounds, %d without; want 3 and 0", a, b)
	}
}

// TestEvaluationInBrowser opens a rendered evaluation report in headless
// Chromium on a desktop and a phone screen: both charts are drawn, the
// page does not scroll sideways, asks for no other resource, and the
// console stays clean.
func TestEvaluationInBrowser(t *testing.T) {
	var page bytes.Buffer
	if err := RenderEvaluation(&page, SampleEvaluation()); err != nil {
		t.Fatal(err)
	}
	browser.CheckPage(t, servePage(t, page.Bytes()), "svg.chart", 2, 0.03)
}
