package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/promoflow/promoflow/internal/evaluate"
)

// Overview is a template's overview page (reports/<template>/index.html):
// whether the weekly loop is learning, one campaign a line. Aggregates
// only: the evaluations' and the decisions' summaries and the adjustment
// states.
type Overview struct {
	Template  string
	Generated time.Time // when the page was written
	// Campaigns are the template's campaigns in window order: evaluated
	// ones with their measured figures, live ones (published, not yet
	// evaluated) with their plan's.
	Campaigns []OverviewCampaign
	// Effects are the learned effects of each offer per segment, one
	// point per adjustment state version.
	Effects []OfferEffects
	// Changes are the offers each state version retired or promoted.
	Changes []StateChange
}

// OverviewCampaign is one campaign of a template.
type OverviewCampaign struct {
	Campaign   string
	Start, End time.Time
	Evaluated  bool // an evaluation summary exists; else the campaign is live

	// Measured by the evaluation (Evaluated only): response lift and the
	// campaign's incremental revenue (per treated user times treated
	// users) with 95% intervals, realised cost, profit and ROI.
	Treated, Control   int64
	ResponseLift       evaluate.Interval
	IncrementalRevenue evaluate.Interval
	Cost               float64
	IncrementalProfit  float64
	ROI                float64
	StateVersion       int

	// From the decision's summary (zero when the campaign has none).
	Budget          float64 // 0: no budget
	PlannedCost     float64 // expected cost of the plan (the budget used)
	ExpectedRevenue float64 // expected incremental revenue
	PlanTreated     int64
	PlanControl     int64
	Explore         int64  // treated users given a random offer
	Learner         string // uplift learner used; "" when none was trained
	CVPolicyValue   float64
	// MDL is the minimum detectable lift stated before publishing (nil:
	// not stated); Measurable whether the campaign was measurable.
	MDL        *float64
	Measurable bool
	HasMDL     bool // the plan stated its measurability
}

// ExploreShare is the share of treated users given a random offer.
func (c OverviewCampaign) ExploreShare() float64 {
	return Ratio(float64(c.Explore), float64(c.PlanTreated))
}

// OfferEffects is one offer's learned response effect per segment over
// the state versions.
type OfferEffects struct {
	Offer    string
	Segments []EffectSeries
}

// EffectSeries is one segment's estimates, in version order.
type EffectSeries struct {
	Segment string
	Points  []EffectPoint
}

// EffectPoint is one state version's estimate of a response effect.
type EffectPoint struct {
	Version  int
	Campaign string  // the evaluation that wrote the version
	Response float64 // incremental response per treated user
	SD       float64 // posterior standard deviation
	N        int64   // treated users behind it
}

// StateChange is what one adjustment state version changed: offers
// retired (their global lift reliably negative), restored, and promoted
// (their global lift became reliably positive: the 95% interval above
// zero).
type StateChange struct {
	Version  int
	Campaign string
	Retired  []string
	Restored []string
	Promoted []string
}

// RenderOverview writes the template overview page.
func RenderOverview(w io.Writer, o Overview) error {
	p, err := o.page()
	if err != nil {
		return err
	}
	return RenderPage(w, p)
}

// weekLabel is campaign i's short label on the charts: its position.
func weekLabel(i int) string { return strconv.Itoa(i + 1) }

func (o Overview) page() (Page, error) {
	var evaluated, live []OverviewCampaign
	for _, c := range o.Campaigns {
		if c.Evaluated {
			evaluated = append(evaluated, c)
		} else {
			live = append(live, c)
		}
	}
	sub := "template overview"
	if !o.Generated.IsZero() {
		sub += " · written " + o.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	p := Page{
		Title: "Template " + o.Template + ": the loop at a glance", Subtitle: sub,
		Footer: "promoflow template overview · aggregates only, no personal data · intervals are 95% normal confidence intervals",
	}
	var revenue, cost, budget, spent float64
	for _, c := range evaluated {
		revenue += c.IncrementalRevenue.Value
		cost += c.Cost
		budget += c.Budget
		spent += c.PlannedCost
	}
	p.KPIs = []KPI{
		{"Campaigns", Int(int64(len(o.Campaigns))), Int(int64(len(evaluated))) + " evaluated, " + Int(int64(len(live))) + " live"},
		{"Incremental revenue", Money(revenue), "measured, all evaluated campaigns"},
		{"Cost", Money(cost), "what responders redeemed"},
	}
	if budget > 0 {
		p.KPIs = append(p.KPIs, KPI{"Budget used", Pct(Ratio(spent, budget)), Money(spent) + " planned of " + Money(budget)})
	}
	if n := len(evaluated); n > 0 {
		last := evaluated[n-1]
		p.KPIs = append(p.KPIs, KPI{"Latest lift", PP(last.ResponseLift.Value), last.Campaign + " · " + CI(last.ResponseLift, PP)})
		if last.Learner != "" {
			p.KPIs = append(p.KPIs, KPI{"Latest learner", last.Learner, "cross-validated policy value " + Fixed(last.CVPolicyValue, 4)})
		}
	}
	for _, s := range []struct {
		id, title string
		body      func() (template.HTML, error)
	}{
		{"lift", "Measured lift by week", func() (template.HTML, error) { return o.lift(evaluated) }},
		{"money", "Revenue, spend and ROI by week", func() (template.HTML, error) { return o.money(evaluated) }},
		{"weeks", "Every campaign", o.weeks},
		{"effects", "Learned effects per offer and segment", o.effects},
		{"changes", "Offers retired or promoted", o.changes},
		{"live", "Live campaigns", func() (template.HTML, error) { return o.live(live) }},
	} {
		body, err := s.body()
		if err != nil {
			return Page{}, fmt.Errorf("overview %s: %w", s.id, err)
		}
		p.Sections = append(p.Sections, Section{ID: s.id, Title: s.title, Body: body})
	}
	return p, nil
}

func (o Overview) lift(evaluated []OverviewCampaign) (template.HTML, error) {
	if len(evaluated) == 0 {
		return `<p class="empty">No campaign of this template has been evaluated yet.</p>`, nil
	}
	labels := make([]string, len(evaluated))
	vals, lo, hi := make([]float64, len(evaluated)), make([]float64, len(evaluated)), make([]float64, len(evaluated))
	for i, c := range evaluated {
		labels[i] = weekLabel(i)
		iv := c.ResponseLift
		vals[i], lo[i], hi[i] = 100*iv.Value, math.NaN(), math.NaN()
		if iv.Defined {
			lo[i], hi[i] = 100*iv.Lo, 100*iv.Hi
		}
	}
	chart, err := IntervalChart("Response lift against control, 95% interval", "campaign (window order)", "percentage points", labels, vals, lo, hi)
	if err != nil {
		return "", err
	}
	return execute(overviewLiftTmpl, chart)
}

func (o Overview) money(evaluated []OverviewCampaign) (template.HTML, error) {
	if len(evaluated) == 0 {
		return `<p class="empty">Nothing measured yet.</p>`, nil
	}
	chart, err := moneyChart(evaluated)
	if err != nil {
		return "", err
	}
	return execute(overviewMoneyTmpl, struct {
		Chart     template.HTML
		Campaigns []OverviewCampaign
	}{chart, evaluated})
}

// moneyChart draws, per evaluated campaign in window order, the measured
// incremental revenue with its 95% interval, the realised cost and the
// budget (dashed), from zero, with room above the lines for the legend.
func moneyChart(evaluated []OverviewCampaign) (template.HTML, error) {
	const title = "Incremental revenue, cost and budget"
	p := newPlot(title, "campaign (window order)", "amount")
	n := len(evaluated)
	x, rev, lo, hi := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var revXY, costXY, budgetXY plotter.XYs
	ticks := make([]plot.Tick, n)
	for i, c := range evaluated {
		x[i] = float64(i + 1)
		ticks[i] = plot.Tick{Value: x[i], Label: weekLabel(i)}
		iv := c.IncrementalRevenue
		rev[i], lo[i], hi[i] = iv.Value, math.NaN(), math.NaN()
		if iv.Defined {
			lo[i], hi[i] = iv.Lo, iv.Hi
		}
		if isFinite(iv.Value) {
			revXY = append(revXY, plotter.XY{X: x[i], Y: iv.Value})
		}
		if isFinite(c.Cost) {
			costXY = append(costXY, plotter.XY{X: x[i], Y: c.Cost})
		}
		if c.Budget > 0 {
			budgetXY = append(budgetXY, plotter.XY{X: x[i], Y: c.Budget})
		}
	}
	for i, l := range []struct {
		name string
		xys  plotter.XYs
		dash bool
	}{{"incremental revenue (measured, 95% CI)", revXY, false}, {"cost (redeemed)", costXY, false}, {"budget", budgetXY, true}} {
		if len(l.xys) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(l.xys)
		if err != nil {
			return "", fmt.Errorf("chart %q: %w", title, err)
		}
		line.Color, line.Width = Palette[i], vg.Points(2)
		pts.Color, pts.Radius, pts.Shape = Palette[i], vg.Points(3), draw.CircleGlyph{}
		if l.dash {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		p.Add(line, pts)
		p.Legend.Add(l.name, line, pts)
	}
	eb, err := errorBars(x, rev, lo, hi)
	if err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	if eb != nil {
		eb.LineStyle.Color = Palette[0]
		eb.LineStyle.Width = vg.Points(1)
		eb.CapWidth = vg.Points(5)
		p.Add(eb)
	}
	if len(revXY)+len(costXY)+len(budgetXY) == 0 {
		return "", fmt.Errorf("chart %q: no finite points", title)
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0.5, float64(n)+0.5
	p.Y.Min = math.Min(p.Y.Min, 0)
	p.Y.Max = legendRoom(p.Y.Min, p.Y.Max, 3)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	return SVG(p, title, ChartWidth, ChartHeight)
}

// legendRoom raises an axis maximum so that a legend of n lines at the
// top of the chart sits above the data.
func legendRoom(lo, hi float64, n int) float64 {
	return hi + (hi-lo)*0.09*float64(n)
}

func (o Overview) weeks() (template.HTML, error) {
	if len(o.Campaigns) == 0 {
		return `<p class="empty">No campaign of this template was found.</p>`, nil
	}
	type row struct {
		N int
		OverviewCampaign
	}
	rows := make([]row, len(o.Campaigns))
	n := 0
	for i, c := range o.Campaigns {
		rows[i].OverviewCampaign = c
		if c.Evaluated {
			n++
			rows[i].N = n
		}
	}
	return execute(overviewWeeksTmpl, rows)
}

func (o Overview) effects() (template.HTML, error) {
	if len(o.Effects) == 0 {
		return `<p class="empty">No adjustment state yet: effects are learned from evaluations.</p>`, nil
	}
	type row struct {
		Segment  string
		Latest   EffectPoint
		Interval evaluate.Interval
	}
	type offer struct {
		Offer string
		Chart template.HTML
		Rows  []row
	}
	var offers []offer
	for _, oe := range o.Effects {
		c, err := EffectChart("Learned response effect of "+oe.Offer, oe.Segments)
		if err != nil {
			return "", err
		}
		of := offer{Offer: oe.Offer, Chart: c}
		for _, s := range oe.Segments {
			if len(s.Points) == 0 {
				continue
			}
			l := s.Points[len(s.Points)-1]
			d := z95 * l.SD
			of.Rows = append(of.Rows, row{s.Segment, l, evaluate.Interval{Value: l.Response, Lo: l.Response - d, Hi: l.Response + d, SE: l.SD, Defined: true}})
		}
		offers = append(offers, of)
	}
	return execute(overviewEffectsTmpl, struct{ Offers []offer }{offers})
}

func (o Overview) changes() (template.HTML, error) {
	if len(o.Changes) == 0 {
		return `<p class="empty">No offer has been retired or promoted.</p>`, nil
	}
	return execute(overviewChangesTmpl, o.Changes)
}

func (o Overview) live(live []OverviewCampaign) (template.HTML, error) {
	if len(live) == 0 {
		return `<p class="empty">No campaign is live: every published campaign has been evaluated.</p>`, nil
	}
	return execute(overviewLiveTmpl, live)
}

// EffectChart draws one line per segment of an effect in percentage
// points against the state version, each point with its 95% interval
// (1.96 posterior standard deviations), and the zero line.
func EffectChart(title string, segments []EffectSeries) (template.HTML, error) {
	p := newPlot(title, "adjustment state version", "percentage points")
	points := 0
	x0, x1 := math.Inf(1), math.Inf(-1)
	for i, s := range segments {
		n := len(s.Points)
		if n == 0 {
			continue
		}
		// Segments side by side around each version, so their intervals
		// do not hide each other.
		off := 0.3 * (float64(i)/math.Max(float64(len(segments)-1), 1) - 0.5)
		x, y, lo, hi := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		var xys plotter.XYs
		for j, pt := range s.Points {
			x[j], y[j] = float64(pt.Version)+off, 100*pt.Response
			lo[j], hi[j] = 100*(pt.Response-z95*pt.SD), 100*(pt.Response+z95*pt.SD)
			if isFinite(x[j]) && isFinite(y[j]) {
				xys = append(xys, plotter.XY{X: x[j], Y: y[j]})
				x0, x1 = math.Min(x0, x[j]), math.Max(x1, x[j])
			}
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		col := Palette[i%len(Palette)]
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", fmt.Errorf("chart %q: %w", title, err)
		}
		l.Color, l.Width = col, vg.Points(1.5)
		sc.Color, sc.Radius, sc.Shape = col, vg.Points(3), draw.CircleGlyph{}
		eb, err := errorBars(x, y, lo, hi)
		if err != nil {
			return "", fmt.Errorf("chart %q: %w", title, err)
		}
		if eb != nil {
			eb.LineStyle.Color = col
			eb.LineStyle.Width = vg.Points(1)
			eb.CapWidth = vg.Points(4)
			p.Add(eb)
		}
		p.Add(l, sc)
		p.Legend.Add(s.Segment, l, sc)
	}
	if points == 0 {
		return "", fmt.Errorf("chart %q: no finite points", title)
	}
	zero, err := zeroLine(x0-0.5, x1+0.5)
	if err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	p.Add(zero)
	p.X.Min, p.X.Max = x0-0.5, x1+0.5
	p.Y.Min, p.Y.Max = math.Min(p.Y.Min, 0), math.Max(p.Y.Max, 0)
	p.Y.Max = legendRoom(p.Y.Min, p.Y.Max, len(segments))
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return SVG(p, title, ChartWidth, ChartHeight)
}

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054
