package report

import (
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/promoflow/promoflow/internal/evaluate"
)

// Evaluation is what a campaign's evaluation report shows: the effects
// internal/evaluate measured, aggregates only, no user's row.
type Evaluation struct {
	Campaign     string
	Template     string // may be empty
	Start, End   time.Time
	Margin       float64 // share of incremental revenue that is profit
	StateVersion int     // adjustment state written; 0: none
	Result       evaluate.Result
}

// RenderEvaluation writes e's evaluation report: key figures, a plain
// summary, the response lift per offer with its 95% interval, the
// calibration of the predictions and the per-offer and per-segment tables.
func RenderEvaluation(w io.Writer, e Evaluation) error {
	p, err := e.page()
	if err != nil {
		return err
	}
	return RenderPage(w, p)
}

// PP formats a difference of two shares in signed percentage points:
// 0.0123 → "+1.2 pp". Non-finite values are NA.
func PP(d float64) string {
	if !isFinite(d) {
		return NA
	}
	s := strconv.FormatFloat(d*100, 'f', 1, 64)
	switch {
	case s == "-0.0":
		s = "0.0"
	case d > 0 && s != "0.0":
		s = "+" + s
	}
	return s + " pp"
}

// CIShort formats an interval's bounds with f for a table cell whose
// header says they are a 95% interval.
func CIShort(iv evaluate.Interval, f func(float64) string) string {
	if !iv.Defined {
		return "too few users"
	}
	return f(iv.Lo) + " to " + f(iv.Hi)
}

// CI formats an interval's 95% bounds with f, or says it has none.
func CI(iv evaluate.Interval, f func(float64) string) string {
	if !iv.Defined {
		return "too few users for an interval"
	}
	return "95% CI " + f(iv.Lo) + " to " + f(iv.Hi)
}

// scaled is iv times k (k > 0): per-user effects to campaign totals.
func scaled(iv evaluate.Interval, k float64) evaluate.Interval {
	return evaluate.Interval{Value: iv.Value * k, Lo: iv.Lo * k, Hi: iv.Hi * k, SE: iv.SE * k, Defined: iv.Defined}
}

// buyers says how many more (or fewer) buyers the offers made.
func buyers(n float64) string {
	switch {
	case !isFinite(n) || math.Round(n) == 0:
		return "about as many buyers as without offers"
	case n > 0:
		return "about " + Fixed(n, 0) + " more buyers"
	default:
		return "about " + Fixed(-n, 0) + " fewer buyers"
	}
}

// verdict says in words whether iv tells an effect from none.
func verdict(iv evaluate.Interval) string {
	switch {
	case !iv.Defined:
		return "too few users to tell"
	case iv.Lo > 0:
		return "a real gain (the 95% interval is above zero)"
	case iv.Hi < 0:
		return "a real loss (the 95% interval is below zero)"
	default:
		return "not distinguishable from no effect (the 95% interval contains zero)"
	}
}

func (e Evaluation) page() (Page, error) {
	r := e.Result
	o := r.Overall
	sub := "evaluation"
	if e.Template != "" {
		sub += " · template " + e.Template
	}
	if !e.Start.IsZero() && !e.End.IsZero() {
		sub += " · window " + e.Start.UTC().Format("2006-01-02") + " to " + e.End.UTC().Format("2006-01-02")
	}
	if e.StateVersion > 0 {
		sub += fmt.Sprintf(" · adjustment state v%d written", e.StateVersion)
	}
	revenue := scaled(o.RevenueLift, float64(o.Treated.N))
	responders := scaled(o.ResponseLift, float64(o.Treated.N))
	p := Page{
		Title: "Evaluation of campaign " + e.Campaign, Subtitle: sub,
		Footer: "promoflow evaluation report · aggregates only, no personal data · intervals are 95% normal confidence intervals",
	}
	p.KPIs = []KPI{
		{"Treated", Int(r.Treated), Pct(Ratio(float64(r.Treated), float64(r.Users))) + " of " + Int(r.Users) + " users"},
		{"Control", Int(r.Control), "held out at random, never contacted"},
		{"Incremental response", PP(o.ResponseLift.Value), CI(o.ResponseLift, PP)},
		{"Incremental revenue", Money(revenue.Value), CI(revenue, Money)},
		{"Cost", Money(o.Cost), "what responders redeemed"},
		{"Incremental profit", Money(o.IncrementalProfit), "margin " + Pct(e.Margin) + " of incremental revenue, minus cost"},
		{"ROI", Fixed(o.ROI, 2), "profit per unit of cost"},
		{"Qini", Fixed(r.Qini, 3), "ranking by predicted uplift; 0 = random"},
	}
	summary, err := execute(evalSummaryTmpl, struct {
		Revenue         evaluate.Interval
		Buyers          string
		Overall         evaluate.Effect
		RevenueVerdict  string
		ResponseVerdict string
		Qini            float64
	}{revenue, buyers(responders.Value), o, verdict(revenue), verdict(o.ResponseLift), r.Qini})
	if err != nil {
		return Page{}, fmt.Errorf("evaluation summary: %w", err)
	}
	p.Sections = append(p.Sections, Section{ID: "summary", Title: "In short", Body: summary})
	for _, s := range []struct {
		id, title string
		body      func() (template.HTML, error)
	}{
		{"offers", "Response lift by offer", e.offers},
		{"calibration", "Predicted against realised", e.calibration},
		{"segments", "By segment and offer", e.segments},
	} {
		body, err := s.body()
		if err != nil {
			return Page{}, fmt.Errorf("evaluation %s: %w", s.id, err)
		}
		p.Sections = append(p.Sections, Section{ID: s.id, Title: s.title, Body: body})
	}
	return p, nil
}

// effectRow is one line of the effect tables.
type effectRow struct {
	Segment, Offer string
	E              *evaluate.Effect
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (e Evaluation) offers() (template.HTML, error) {
	ids := sortedKeys(e.Result.Offers)
	if len(ids) == 0 {
		return `<p class="empty">No user got an offer.</p>`, nil
	}
	rows := make([]effectRow, len(ids))
	var labels, unmeasured []string
	var vals, lo, hi []float64
	for i, id := range ids {
		ef := e.Result.Offers[id]
		rows[i] = effectRow{Offer: id, E: ef}
		// An offer without an interval (no control user, or one) has a lift
		// that is mostly noise: charting it would dwarf the measured ones.
		if ef == nil || !ef.ResponseLift.Defined {
			unmeasured = append(unmeasured, id)
			continue
		}
		// Percentage points, so the axis reads like the tables.
		labels = append(labels, id)
		vals = append(vals, 100*ef.ResponseLift.Value)
		lo, hi = append(lo, 100*ef.ResponseLift.Lo), append(hi, 100*ef.ResponseLift.Hi)
	}
	var chart template.HTML
	if len(labels) > 0 {
		var err error
		if chart, err = IntervalChart("Response lift per offer, 95% interval", "", "percentage points", labels, vals, lo, hi); err != nil {
			return "", err
		}
	}
	return execute(evalOffersTmpl, struct {
		Chart      template.HTML
		Rows       []effectRow
		Unmeasured []string
	}{chart, rows, unmeasured})
}

func (e Evaluation) segments() (template.HTML, error) {
	var rows []effectRow
	for _, seg := range sortedKeys(e.Result.Cells) {
		for _, o := range sortedKeys(e.Result.Cells[seg]) {
			rows = append(rows, effectRow{Segment: seg, Offer: o, E: e.Result.Cells[seg][o]})
		}
	}
	if len(rows) == 0 {
		return `<p class="empty">No segment got an offer.</p>`, nil
	}
	return execute(evalSegmentsTmpl, rows)
}

func (e Evaluation) calibration() (template.HTML, error) {
	bins := e.Result.Calibration
	if len(bins) == 0 {
		return `<p class="empty">No prediction to compare.</p>`, nil
	}
	// A bin without treated or without control users has no lift to show:
	// its "realised" is one arm's mean alone.
	var charted []evaluate.CalibrationBin
	for _, b := range bins {
		if b.Treated > 0 && b.Control > 0 && isFinite(b.Predicted) && isFinite(b.Realised.Value) {
			charted = append(charted, b)
		}
	}
	var chart template.HTML
	if len(charted) > 0 {
		var err error
		if chart, err = calibrationChart(charted); err != nil {
			return "", err
		}
	}
	return execute(evalCalibrationTmpl, struct {
		Chart   template.HTML
		Bins    []evaluate.CalibrationBin
		Skipped int
	}{chart, bins, len(bins) - len(charted)})
}

// errPoints are points with asymmetric Y errors for plotter.YErrorBars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// errorBars draws vertical bars from lo to hi at x, in dark grey; points
// whose bounds are not finite get none. Nil when no point has bounds.
func errorBars(x, y, lo, hi []float64) (*plotter.YErrorBars, error) {
	var pts errPoints
	for i := range x {
		if !isFinite(x[i]) || !isFinite(y[i]) || !isFinite(lo[i]) || !isFinite(hi[i]) {
			continue
		}
		pts.XYs = append(pts.XYs, plotter.XY{X: x[i], Y: y[i]})
		// YErrorBars takes distances below and above the point.
		pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{y[i] - lo[i], hi[i] - y[i]})
	}
	if len(pts.XYs) == 0 {
		return nil, nil
	}
	eb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return nil, err
	}
	eb.LineStyle.Color = color.Gray{Y: 0x33}
	eb.LineStyle.Width = vg.Points(1.5)
	eb.CapWidth = vg.Points(8)
	return eb, nil
}

// zeroLine is a thin horizontal line at y = 0 across [x0, x1].
func zeroLine(x0, x1 float64) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}})
	if err != nil {
		return nil, err
	}
	l.Color = color.Gray{Y: 0x66}
	l.Width = vg.Points(1)
	return l, nil
}

// IntervalChart draws one bar per label from zero to its value (negative
// values go down), with an error bar from lo to hi where both are finite.
// Values that are not finite are drawn as zero; an empty chart is an error.
func IntervalChart(title, xlabel, ylabel string, labels []string, values, lo, hi []float64) (template.HTML, error) {
	n := len(labels)
	if n == 0 || len(values) != n || len(lo) != n || len(hi) != n {
		return "", fmt.Errorf("interval chart %q: %d labels, %d values, %d lows, %d highs", title, n, len(values), len(lo), len(hi))
	}
	p := newPlot(title, xlabel, ylabel)
	vs := make(plotter.Values, n)
	xs := make([]float64, n)
	for i, v := range values {
		vs[i], xs[i] = finite(v), float64(i)
	}
	w := vg.Points(min(40, float64(ChartWidth)*0.6/float64(n)))
	bars, err := plotter.NewBarChart(vs, w)
	if err != nil {
		return "", fmt.Errorf("interval chart %q: %w", title, err)
	}
	bars.Color = Palette[4]
	bars.LineStyle.Width = 0
	zero, err := zeroLine(-0.5, float64(n)-0.5)
	if err != nil {
		return "", fmt.Errorf("interval chart %q: %w", title, err)
	}
	p.Add(bars, zero)
	eb, err := errorBars(xs, vs, lo, hi)
	if err != nil {
		return "", fmt.Errorf("interval chart %q: %w", title, err)
	}
	if eb != nil {
		p.Add(eb)
	}
	p.NominalX(labels...)
	if n > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	// Zero stays in view, so a bar's length reads as its effect.
	p.Y.Min, p.Y.Max = math.Min(p.Y.Min, 0), math.Max(p.Y.Max, 0)
	return SVG(p, title, ChartWidth, ChartHeight)
}

// calibrationChart plots each bin's realised revenue lift per treated user
// (with its 95% interval) against the predicted one, and the diagonal
// where the two agree.
func calibrationChart(bins []evaluate.CalibrationBin) (template.HTML, error) {
	const title = "Realised vs predicted, per treated user"
	p := newPlot(title, "predicted incremental revenue", "realised")
	p.X.Tick.Marker = thousands{}
	n := len(bins)
	x, y, lo, hi := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var xys plotter.XYs
	for i, b := range bins {
		x[i], y[i], lo[i], hi[i] = b.Predicted, b.Realised.Value, math.NaN(), math.NaN()
		if b.Realised.Defined {
			lo[i], hi[i] = b.Realised.Lo, b.Realised.Hi
		}
		if isFinite(x[i]) && isFinite(y[i]) {
			xys = append(xys, plotter.XY{X: x[i], Y: y[i]})
		}
	}
	if len(xys) == 0 {
		return "", fmt.Errorf("chart %q: no finite points", title)
	}
	// The diagonal spans the predictions, not the realised values: a noisy
	// bin would otherwise stretch the x axis far beyond any prediction.
	d0, d1 := xys[0].X, xys[0].X
	for _, pt := range xys {
		d0, d1 = math.Min(d0, pt.X), math.Max(d1, pt.X)
	}
	if d0 == d1 {
		d0, d1 = d0-1, d1+1
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: d0, Y: d0}, {X: d1, Y: d1}})
	if err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	diag.Color = Palette[1]
	diag.Width = vg.Points(1.5)
	diag.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
	eb, err := errorBars(x, y, lo, hi)
	if err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	sc.GlyphStyle.Color = Palette[0]
	sc.GlyphStyle.Radius = vg.Points(4)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	p.Add(diag)
	if eb != nil {
		p.Add(eb)
	}
	p.Add(sc)
	p.Legend.Add("quantile bin", sc)
	p.Legend.Add("realised = predicted", diag)
	// A margin around the points, so the outer glyphs are not cut.
	pad := (p.X.Max - p.X.Min) / 20
	p.X.Min, p.X.Max = p.X.Min-pad, p.X.Max+pad
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(12)
	return SVG(p, title, ChartWidth, ChartHeight)
}
