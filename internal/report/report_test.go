package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/promoflow/promoflow/internal/segment"
)

// Sample is a full report's data, also used by the browser test.
func Sample() Data {
	var l Lift
	for i := range 500 {
		l.Add(float64(500-i)/10, 2+float64(i%7))
	}
	return Data{
		Campaign: "holiday-2011", Template: "holiday", Event: "Christmas 2011", RunID: "run-1", Seed: 7,
		Generated: time.Date(2011, 12, 1, 9, 30, 0, 0, time.UTC),
		Users:     1000, Treated: 500, Control: 100, NoOffer: 400,
		Budget:                     Budget{Total: 2500, Used: 2480.5},
		ExpectedIncrementalRevenue: 12525, ExpectedCost: 2480.5, ROI: 1.02,
		Segments: []segment.Profile{
			{ID: 0, Name: "champions", Size: 300, Share: 0.3, Mean: map[string]float64{"recency_days": 4.2, "frequency": 12, "monetary": 1234.5}, Traits: []string{"high monetary (+1.4 sd)"}, TopTerms: []segment.Term{{Term: "gift", Weight: 0.2, Lift: 2}}},
			{ID: 1, Name: "at risk", Size: 700, Share: 0.7, Mean: map[string]float64{"recency_days": 90}},
		},
		Offers: []Offer{
			{ID: "gift_set", Kind: "gift", Channel: "email", Users: 300, ExpectedCost: 1500, ExpectedIncrementalRevenue: 9000},
			{ID: "discount10", Kind: "percent", Channel: "push", Users: 200, ExpectedCost: 980.5, ExpectedIncrementalRevenue: 3525},
		},
		Lift: l.Curve(50),
		Fairness: &Fairness{Attribute: "gender", Gap: 0.04, Bound: 0.05, Groups: []Group{
			{Name: "f", Users: 520, Offered: 270, AvgDiscount: 4.9}, {Name: "m", Users: 480, Offered: 230, AvgDiscount: 5.1},
		}},
		Approval: &Approval{Status: "approved", By: "ana", Comment: "ok <b>go</b>", At: time.Date(2011, 12, 1, 10, 0, 0, 0, time.UTC)},
		Featured: []Featured{{Segment: "champions", Users: 300, Products: []Count{{"85123A", 120}, {"22423", 80}}, Categories: []Count{{"home", 210}}}},
	}
}

func TestRender(t *testing.T) {
	nan := Sample()
	nan.ExpectedCost = math.NaN()
	nan.Budget.Used = math.Inf(1)
	nan.Offers[0].ExpectedIncrementalRevenue = math.NaN()
	nan.Segments[0].Mean["monetary"] = math.NaN()
	nan.Lift[3].Revenue = math.NaN()
	nan.Fairness.Gap = math.NaN()

	for _, tc := range []struct {
		name    string
		data    Data
		want    []string // substrings of the page
		notWant []string
		charts  int
	}{
		{"full", Sample(), []string{
			"Campaign holiday-2011: Christmas 2011", "12,525.00", "ROI 1.02 (profit per unit of cost)", "interests: gift", "2,480.50", "of 2,500.00", "99.2%",
			"gift_set", "60.0%", "champions", "1,234.50", "high monetary (+1.4 sd)", "gift",
			"gender", "51.9%", "47.9%", "4.0%", "within", "approved", "ana", "ok <b>go</b>",
			"2011-12-01 10:00 UTC", "Users per segment", "Users per offer", "Cumulative expected revenue and cost",
			"85123A (120), 22423 (80)", "home (210)",
		}, []string{"<b>go</b>"}, 3},
		{"minimal", Data{Campaign: "c", Template: "weekly", Users: 10, Control: 1}, []string{
			"No segments.", "No user gets an offer.", "No recommendations in this plan.", "No budget set", "Too few treated users",
			"No sensitive attribute is mapped", "does not require approval",
		}, []string{`id="topics"`}, 0},
		{"non-finite numbers", nan, []string{NA}, nil, 3},
		{"topics", func() Data {
			d := Sample()
			d.Topics = &Topics{Words: [][]string{{"lunch", "bag"}, {"hot", "water"}},
				Segments: []SegmentTopics{{Segment: "champions", Topics: []int{1, 0}, Shares: []float64{0.6, 0.25}}}}
			return d
		}(), []string{`id="topics"`, "lunch, bag", "hot, water", "champions", "topic 1 (60.0%); topic 0 (25.0%)"}, nil, 3},
		{"gap over bound", func() Data { d := Sample(); d.Fairness.Gap = 0.09; return d }(), []string{"exceeded"}, []string{"within"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.data); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			checkHTML(t, page)
			for _, id := range []string{"segments", "offers", "featured", "budget", "lift", "fairness", "approval"} {
				if !strings.Contains(page, `<section id="`+id+`">`) {
					t.Errorf("section %s missing", id)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(html.UnescapeString(page), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(page, w) {
					t.Errorf("page has %q", w)
				}
			}
			for _, bad := range []string{"NaN", "Inf", "http://", "https://", "<script", "%!"} {
				if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) &&
					!(bad == "http://" && onlyNamespaces(page)) {
					t.Errorf("page contains %q", bad)
				}
			}
			if n := strings.Count(page, `<svg class="chart"`); n != tc.charts {
				t.Errorf("%d charts, want %d", n, tc.charts)
			}
			if !strings.Contains(page, `name="viewport"`) {
				t.Error("no viewport meta")
			}
		})
	}
}

// onlyNamespaces reports whether every http:// in page is an XML namespace
// name, which browsers never fetch.
func onlyNamespaces(page string) bool {
	for _, ns := range []string{`xmlns="http://www.w3.org/2000/svg"`, `xmlns:xlink="http://www.w3.org/1999/xlink"`} {
		page = strings.ReplaceAll(page, ns, "")
	}
	return !strings.Contains(page, "http://")
}

// voids are the HTML elements without an end tag.
var voids = map[string]bool{"meta": true, "link": true, "br": true, "img": true, "input": true, "hr": true, "col": true}

// checkHTML tokenizes page and checks that it starts with a doctype and that
// every element is closed in order (SVG elements may self-close).
func checkHTML(t *testing.T, page string) {
	t.Helper()
	if !strings.HasPrefix(page, "<!doctype html>") {
		t.Error("no doctype")
	}
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("tokenize: %v", z.Err())
			}
			if len(stack) != 0 {
				t.Errorf("unclosed elements %v", stack)
			}
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voids[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Int(0), "0"}, {Int(999), "999"}, {Int(1000), "1,000"}, {Int(-1234567), "-1,234,567"},
		{Money(1234.5), "1,234.50"}, {Money(-0.001), "0.00"}, {Money(-12345.678), "-12,345.68"},
		{Money(math.NaN()), NA}, {Money(math.Inf(-1)), NA},
		{Pct(0.1234), "12.3%"}, {Pct(math.NaN()), NA}, {Pct(1), "100.0%"},
		{Short(950), "950"}, {Short(1200), "1.2k"}, {Short(25000), "25k"}, {Short(3.4e6), "3.4M"}, {Short(0.25), "0.25"}, {Short(-1500), "-1.5k"},
		{Fixed(Ratio(1, 0), 2), NA},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestLiftCurve(t *testing.T) {
	var a, b Lift
	revs := []float64{1, 5, 3, 3, math.NaN(), 2, 4}
	for i, r := range revs {
		a.Add(r, 1)
		b.Add(revs[len(revs)-1-i], 1)
	}
	for _, points := range []int{2, 3, 4, 100} {
		ca, cb := a.Curve(points), b.Curve(points)
		if !slices.Equal(ca, cb) {
			t.Errorf("points %d: curve depends on order: %v vs %v", points, ca, cb)
		}
		if len(ca) > points || ca[0] != (LiftPoint{}) {
			t.Errorf("points %d: %v", points, ca)
		}
		last := ca[len(ca)-1]
		if last.Users != 7 || last.Revenue != 18 || last.Cost != 7 {
			t.Errorf("points %d: end %+v, want 7 users, 18 revenue, 7 cost", points, last)
		}
		for i := 1; i < len(ca); i++ {
			// Best first: the curve is concave, each step's mean gain no more
			// than the previous step's.
			if ca[i].Users <= ca[i-1].Users {
				t.Errorf("points %d: users not increasing: %v", points, ca)
			}
		}
	}
	full := a.Curve(100)
	want := []float64{0, 5, 9, 12, 15, 17, 18, 18}
	for i, p := range full {
		if p.Revenue != want[i] {
			t.Errorf("full curve revenue %v, want %v", full, want)
			break
		}
	}
	if c := (&Lift{}).Curve(10); len(c) != 1 {
		t.Errorf("empty curve = %v", c)
	}
}

func TestChartErrors(t *testing.T) {
	if _, err := BarChart("x", "", "", nil, nil); err == nil {
		t.Error("empty bar chart: no error")
	}
	if _, err := BarChart("x", "", "", []string{"a"}, []float64{1, 2}); err == nil {
		t.Error("mismatched bar chart: no error")
	}
	if _, err := LineChart("x", "", "", []Series{{X: []float64{math.NaN()}, Y: []float64{1}}}); err == nil {
		t.Error("line chart without finite points: no error")
	}
	svg, err := LineChart("a <title>", "x", "y", []Series{{Name: "s", X: []float64{0, 1, 2}, Y: []float64{0, 1e6, 2e6}}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, `<svg class="chart" role="img" aria-label="a &lt;title&gt;" width="100%"`) || !strings.Contains(s, "viewBox=") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") {
		t.Errorf("svg head/tail: %.200s ... %s", s, s[max(0, len(s)-50):])
	}
	if !strings.Contains(s, ">2M<") {
		t.Errorf("y ticks not shortened: %s", fmt.Sprint(len(s)))
	}
}
