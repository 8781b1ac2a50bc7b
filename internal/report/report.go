// Package report renders a campaign's report.html: one self-contained page
// (inline CSS and SVG charts, no script, no external resource) with the
// audience, segment profiles, offer mix, budget, expected lift curve,
// fairness table and approval, readable on a phone. Charts are drawn with
// gonum.org/v1/plot. The page frame (RenderPage) and the chart helpers
// (BarChart, LineChart, IntervalChart, SVG) serve other reports too:
// RenderEvaluation draws a campaign's evaluation on them.
package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/strategy"
)

// Data is what a campaign report shows: aggregates only, no user's row.
type Data struct {
	Campaign  string
	Template  string
	Event     string // holiday or launch name; may be empty
	RunID     string
	Seed      int64
	Objective string    // "revenue" or "profit"; may be empty
	Generated time.Time // when the plan was decided (workflow time)

	Users   int64 // users scored
	Treated int64 // users who get an offer
	Control int64 // held-out users, never contacted
	NoOffer int64 // users for whom no offer pays

	Budget Budget
	// ExpectedIncrementalRevenue and ExpectedCost are the treated users'
	// sums.
	ExpectedIncrementalRevenue float64
	ExpectedCost               float64
	// ROI is expected incremental profit (margin × revenue − cost) per unit
	// of cost; NaN or 0 when unknown.
	ROI float64

	Segments []segment.Profile
	Offers   []Offer     // offer mix, treated users only
	Lift     []LiftPoint // expected lift curve, from LiftCurve
	Fairness *Fairness   // nil when no sensitive attribute is mapped
	Approval *Approval   // nil when the template needs none
	Notes    []string    // guard results, shown under the budget
	// Measurability is what the control group can measure (the minimum
	// detectable lift); nil for plans decided before it was stated.
	Measurability *strategy.Measurability
	// Featured is, per segment, the products and categories the treated
	// users' promotions feature most (plan column recommended_items); nil
	// for plans without recommendations.
	Featured []Featured
	// Dense is the density clusters and outliers; nil when the run did
	// not ask for them (no section then).
	Dense *Dense
	// Topics are the run's LDA topics and each segment's dominant ones;
	// nil (and no section) for runs without topics.
	Topics *Topics
}

// Topics are a run's LDA topics over users' texts.
type Topics struct {
	Words    [][]string      // top words of every topic
	Segments []SegmentTopics // per segment, its dominant topics
}

// SegmentTopics is a segment's dominant topics: their numbers (indices in
// Topics.Words) and mean shares of the segment's users' texts.
type SegmentTopics struct {
	Segment string
	Topics  []int
	Shares  []float64
}

// Featured is one segment's most featured products and categories.
type Featured struct {
	Segment    string
	Users      int64 // treated users of the segment with recommendations
	Products   []Count
	Categories []Count
}

// Count is a name and how many users it was featured to.
type Count struct {
	Name  string
	Users int64
}

// Budget is the campaign's money limit and its use.
type Budget struct {
	Total float64 // 0: no budget set
	Used  float64
}

// Offer is one line of the offer mix.
type Offer struct {
	ID                         string
	Kind                       string // e.g. coupon, points; may be empty
	Channel                    string
	Users                      int64
	ExpectedCost               float64
	ExpectedIncrementalRevenue float64
}

// Fairness is the offer rate and average discount per group of a sensitive
// attribute (used for this audit only, never as a feature).
type Fairness struct {
	Attribute string
	Groups    []Group
	// Gap is the largest difference in offer rate between two groups;
	// Bound the configured limit (0: not constrained).
	Gap, Bound float64
}

// Group is one value of the sensitive attribute.
type Group struct {
	Name        string
	Users       int64 // eligible users outside the control group
	Offered     int64
	AvgDiscount float64 // mean expected cost per offered user
}

// Approval is a reviewer's decision on the plan.
type Approval struct {
	Status  string // approved, rejected, expired, pending
	By      string
	Comment string
	At      time.Time
	Reason  string // why approval was asked beyond the template's rule, if it was
}

// Section is one titled part of a page.
type Section struct {
	ID    string // anchor, also the section's element id
	Title string
	Body  template.HTML
}

// Page is a report page: a title, key figures and sections.
type Page struct {
	Title    string
	Subtitle string
	KPIs     []KPI
	Sections []Section
	Footer   string
}

// KPI is one key figure in the page's header grid.
type KPI struct {
	Label, Value, Note string
}

// RenderPage writes p as a self-contained, responsive HTML page.
func RenderPage(w io.Writer, p Page) error {
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("report page %q: %w", p.Title, err)
	}
	return nil
}

// Render writes d's campaign report.
func Render(w io.Writer, d Data) error {
	p, err := d.page()
	if err != nil {
		return err
	}
	return RenderPage(w, p)
}

func (d Data) page() (Page, error) {
	title := "Campaign " + d.Campaign
	if d.Event != "" {
		title += ": " + d.Event
	}
	sub := fmt.Sprintf("template %s · run %s · seed %d", d.Template, d.RunID, d.Seed)
	if !d.Generated.IsZero() {
		sub += " · decided " + d.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	p := Page{Title: title, Subtitle: sub, Footer: "promoflow campaign report · aggregates only, no personal data"}
	p.KPIs = []KPI{
		{"Users", Int(d.Users), ""},
		{"Offered", Int(d.Treated), Pct(Ratio(float64(d.Treated), float64(d.Users))) + " of users"},
		{"Control", Int(d.Control), Pct(Ratio(float64(d.Control), float64(d.Users))) + " held out"},
		{"Expected incremental revenue", Money(d.ExpectedIncrementalRevenue), ""},
		{"Expected cost", Money(d.ExpectedCost), roiNote(d.ROI)},
		{"Budget used", budgetValue(d.Budget), budgetNote(d.Budget)},
	}
	if m := d.Measurability; m != nil {
		p.KPIs = append(p.KPIs, mdlKPI(m))
	}
	if d.Approval != nil {
		p.KPIs = append(p.KPIs, KPI{"Approval", d.Approval.Status, d.Approval.By})
	}
	for _, s := range []struct {
		id, title string
		body      func() (template.HTML, error)
	}{
		{"segments", "Segment profiles", d.segments},
		{"offers", "Offer mix", d.offers},
		{"featured", "Featured products", d.featured},
		{"budget", "Budget", d.budget},
		{"lift", "Expected lift curve", d.lift},
		{"measurability", "Measurability", d.measurability},
		{"fairness", "Fairness", d.fairness},
		{"approval", "Approval", d.approval},
	} {
		body, err := s.body()
		if err != nil {
			return Page{}, fmt.Errorf("report %s: %w", s.id, err)
		}
		p.Sections = append(p.Sections, Section{ID: s.id, Title: s.title, Body: body})
		if s.id == "segments" && d.Dense != nil {
			body, err := d.dense()
			if err != nil {
				return Page{}, fmt.Errorf("report dense: %w", err)
			}
			p.Sections = append(p.Sections, Section{ID: "dense", Title: "Density clusters and outliers", Body: body})
		}
	}
	if d.Topics != nil { // only runs with topics have the section
		body, err := execute(topicsTmpl, d.Topics)
		if err != nil {
			return Page{}, fmt.Errorf("report topics: %w", err)
		}
		p.Sections = append(p.Sections, Section{ID: "topics", Title: "Topics", Body: body})
	}
	return p, nil
}

// Points formats a share as unsigned percentage points: 0.0123 → "1.2 pp"
// (a size, such as a minimum detectable lift, not a difference).
func Points(v float64) string {
	if !isFinite(v) {
		return NA
	}
	return Fixed(100*v, 1) + " pp"
}

// mdlKPI is the key figure of the minimum detectable lift.
func mdlKPI(m *strategy.Measurability) KPI {
	k := KPI{Label: "Minimum detectable lift", Value: NA}
	if m.MDL != nil {
		k.Value = Points(*m.MDL)
	}
	switch {
	case !m.Measurable:
		k.Note = "not measurable"
	default:
		k.Note = "expected " + PP(m.ExpectedLift) + "; " + Int(m.Control) + " control users"
	}
	return k
}

func (d Data) measurability() (template.HTML, error) {
	if d.Measurability == nil {
		return `<p class="empty">This plan was decided before measurability was stated.</p>`, nil
	}
	return execute(measurabilityTmpl, d.Measurability)
}

func roiNote(roi float64) string {
	if roi == 0 || !isFinite(roi) {
		return ""
	}
	return "ROI " + Fixed(roi, 2) + " (profit per unit of cost)"
}

func budgetValue(b Budget) string {
	if b.Total <= 0 {
		return Money(b.Used)
	}
	return Pct(Ratio(b.Used, b.Total))
}

func budgetNote(b Budget) string {
	if b.Total <= 0 {
		return "no budget set"
	}
	return Money(b.Used) + " of " + Money(b.Total)
}

// profileCols are the segment means the table shows: RFM and habits.
var profileCols = []struct{ Key, Label string }{
	{"recency_days", "recency (days)"},
	{"frequency", "orders"},
	{"monetary", "spend"},
	{"avg_order_value", "avg order"},
	{"discount_share", "discount share"},
	{"return_rate", "return rate"},
}

func (d Data) segments() (template.HTML, error) {
	if len(d.Segments) == 0 {
		return `<p class="empty">No segments.</p>`, nil
	}
	segs := slices.Clone(d.Segments)
	slices.SortStableFunc(segs, func(a, b segment.Profile) int { return cmp.Compare(b.Size, a.Size) })
	labels := make([]string, len(segs))
	sizes := make([]float64, len(segs))
	for i, s := range segs {
		labels[i], sizes[i] = s.Name, float64(s.Size)
	}
	chart, err := BarChart("Users per segment", "", "users", labels, sizes)
	if err != nil {
		return "", err
	}
	return execute(segmentsTmpl, struct {
		Chart    template.HTML
		Cols     any
		NCols    int
		Segments []segment.Profile
	}{chart, profileCols, len(profileCols) + 3, segs})
}

func (d Data) featured() (template.HTML, error) {
	if len(d.Featured) == 0 {
		return `<p class="empty">No recommendations in this plan.</p>`, nil
	}
	return execute(featuredTmpl, d.Featured)
}

func (d Data) offers() (template.HTML, error) {
	if len(d.Offers) == 0 {
		return `<p class="empty">No user gets an offer.</p>`, nil
	}
	labels := make([]string, len(d.Offers))
	users := make([]float64, len(d.Offers))
	for i, o := range d.Offers {
		labels[i], users[i] = o.ID, float64(o.Users)
	}
	chart, err := BarChart("Users per offer", "", "users", labels, users)
	if err != nil {
		return "", err
	}
	return execute(offersTmpl, struct {
		Chart   template.HTML
		Offers  []Offer
		Treated int64
	}{chart, d.Offers, d.Treated})
}

func (d Data) budget() (template.HTML, error) {
	share := Ratio(d.Budget.Used, d.Budget.Total)
	bar := 0.0
	if isFinite(share) {
		bar = min(max(share, 0), 1) * 100
	}
	return execute(budgetTmpl, struct {
		Budget Budget
		Share  float64
		Bar    string
		Cost   float64
		Notes  []string
	}{d.Budget, share, Fixed(bar, 1), d.ExpectedCost, d.Notes})
}

func (d Data) lift() (template.HTML, error) {
	if len(d.Lift) < 2 {
		return `<p class="empty">Too few treated users for a curve.</p>`, nil
	}
	x := make([]float64, len(d.Lift))
	rev := make([]float64, len(d.Lift))
	cost := make([]float64, len(d.Lift))
	for i, p := range d.Lift {
		x[i], rev[i], cost[i] = float64(p.Users), p.Revenue, p.Cost
	}
	series := []Series{
		{Name: "expected incremental revenue", X: x, Y: rev},
		{Name: "expected cost", X: x, Y: cost},
	}
	if d.Budget.Total > 0 {
		series = append(series, Series{Name: "budget", X: []float64{0, x[len(x)-1]}, Y: []float64{d.Budget.Total, d.Budget.Total}, Dash: true})
	}
	last := d.Lift[len(d.Lift)-1]
	// The decision's curve may go on past the plan (every offer worth its
	// cost, beyond the budget): mark where the plan stops.
	beyond := last.Users > d.Treated && d.Treated > 0
	if beyond {
		series = append(series, Series{Name: "the plan", X: []float64{float64(d.Treated)}, Y: []float64{d.ExpectedIncrementalRevenue}, Points: true})
	}
	chart, err := LineChart("Cumulative expected revenue and cost", "users targeted (best first)", "amount", series)
	if err != nil {
		return "", err
	}
	half := d.Lift[0]
	for _, p := range d.Lift {
		if p.Revenue >= last.Revenue/2 {
			half = p
			break
		}
	}
	return execute(liftTmpl, struct {
		Chart      template.HTML
		Last, Half LiftPoint
		Beyond     bool
		Plan       LiftPoint
	}{chart, last, half, beyond, LiftPoint{Users: d.Treated, Revenue: d.ExpectedIncrementalRevenue, Cost: d.ExpectedCost}})
}

func (d Data) fairness() (template.HTML, error) {
	if d.Fairness == nil {
		return `<p class="empty">No sensitive attribute is mapped; no fairness audit.</p>`, nil
	}
	return execute(fairnessTmpl, d.Fairness)
}

func (d Data) approval() (template.HTML, error) {
	if d.Approval == nil {
		return `<p class="empty">This template does not require approval.</p>`, nil
	}
	return execute(approvalTmpl, d.Approval)
}
