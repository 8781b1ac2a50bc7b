package live

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/strategy"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func TestPacingFraction(t *testing.T) {
	p := Pacing{Start: t0, End: t0.Add(10 * time.Hour), Burst: 0.1}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Hour, 0.1}, {0, 0.1}, {5 * time.Hour, 0.55}, {10 * time.Hour, 1}, {20 * time.Hour, 1},
	} {
		if got := p.Fraction(t0.Add(c.at)); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Fraction(+%v) = %v, want %v", c.at, got, c.want)
		}
	}
	if got := (Pacing{Start: t0, End: t0.Add(time.Hour)}).Fraction(t0); got != DefaultBurst {
		t.Errorf("default burst %v", got)
	}
}

func params() *strategy.Params {
	return &strategy.Params{
		Objective: "profit", Margin: 0.4, ControlShare: 0.1, ExploreShare: 0.05, Salt: "c1", Campaign: "c1",
		Offers: []campaign.Offer{
			{ID: "pct10", Kind: campaign.Discount, Rate: 0.1, Channel: "email", Lift: 0.1},
			{ID: "ship", Kind: campaign.FreeShipping, Fixed: 5, Channel: "app", Lift: 0.05},
		},
	}
}

// scored is a user scored as the live activity would: two options, with the
// control and exploration draws of the campaign's salt.
func scored(p *strategy.Params, id string) strategy.Scored {
	u := strategy.User{ID: id, Segment: "s", Propensity: 0.2, Basket: 80, Orders: 3}
	return p.Score(u, nil, nil, nil)
}

func TestDecideNeverExceedsBudget(t *testing.T) {
	p := params()
	pace := Pacing{Start: t0, End: t0.Add(time.Hour), Burst: 0.05}
	s := Slice{Budget: 100}
	var spent float64
	var offers, controls, explores int
	for i := range 5000 {
		now := t0.Add(time.Duration(i) * time.Hour / 5000)
		u := fmt.Sprintf("u%05d", i)
		d := s.Decide(p, pace, scored(p, u), Request{UserID: u, Event: CartAbandoned}, now)
		spent += d.Cost
		if s.Spent > s.Budget*pace.Fraction(now)+1e-9 {
			t.Fatalf("decision %d: spent %.4f beyond the pacing allowance %.4f", i, s.Spent, s.Budget*pace.Fraction(now))
		}
		if !(d.Probability > 0 && d.Probability <= 1) {
			t.Fatalf("decision %+v: probability", d)
		}
		switch {
		case d.Control:
			controls++
			if d.Offer != campaign.None || d.Cost != 0 {
				t.Fatalf("control decision with an offer: %+v", d)
			}
		case d.Offer != campaign.None:
			offers++
			if d.Explore {
				explores++
			}
		}
	}
	if math.Abs(spent-s.Spent) > 1e-9 || s.Spent > s.Budget {
		t.Errorf("spent %.4f (decisions %.4f) of %.2f", s.Spent, spent, s.Budget)
	}
	if s.Spent < 0.9*s.Budget {
		t.Errorf("paced spending used only %.2f of %.2f", s.Spent, s.Budget)
	}
	if share := float64(controls) / 5000; math.Abs(share-0.1) > 0.02 {
		t.Errorf("control share %.3f, want about 0.1", share)
	}
	if int64(offers) != s.Offers || int64(controls) != s.Controls || int64(explores) != s.Explores || s.Decisions != 5000 {
		t.Errorf("accounting %+v against %d offers, %d controls, %d explores", s.Status(0, pace, t0), offers, controls, explores)
	}
	if s.Lambda <= 0 {
		t.Errorf("the budget binds but lambda is %v", s.Lambda)
	}
}

func TestDecidePacesOverTheWindow(t *testing.T) {
	p := params()
	pace := Pacing{Start: t0, End: t0.Add(10 * time.Hour), Burst: 0.02}
	s := Slice{Budget: 100}
	// A rush of requests in the first hour may spend no more than the
	// allowance of that hour: 2% + 98% x 1/10.
	for i := range 3000 {
		u := fmt.Sprintf("u%05d", i)
		s.Decide(p, pace, scored(p, u), Request{UserID: u, Event: SearchNoPurchase}, t0.Add(time.Duration(i)*time.Hour/3000))
	}
	if limit := 100 * (0.02 + 0.098); s.Spent > limit+1e-9 || s.Spent < 0.8*limit {
		t.Errorf("spent %.2f in the first hour, pacing allows %.2f", s.Spent, limit)
	}
}

func TestDecideRules(t *testing.T) {
	p := params()
	pace := Pacing{Start: t0, End: t0.Add(time.Hour), Burst: 1}
	in := t0.Add(time.Minute)
	cases := []struct {
		name   string
		u      strategy.Scored
		at     time.Time
		reason string
	}{
		{"before the window", scored(p, "a"), t0.Add(-time.Second), "outside the campaign window"},
		{"after the window", scored(p, "a"), t0.Add(time.Hour), "outside the campaign window"},
		{"ineligible", strategy.Scored{UserID: "a", Status: strategy.Ineligible, Why: "no features: unknown user", Pick: -1}, in, "outside audience: no features: unknown user"},
		{"suppressed", strategy.Scored{UserID: "a", Status: strategy.Suppressed, Why: strategy.OptedOut, Pick: -1}, in, "suppressed: opted_out"},
		{"no options", strategy.Scored{UserID: "a", Status: strategy.Candidate, Pick: -1}, in, "no eligible offer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Slice{Budget: 10}
			d := s.Decide(p, pace, c.u, Request{UserID: "a", Event: Lapsed}, c.at)
			if d.Reason != c.reason || d.Offer != campaign.None || d.Probability != 1 || s.Spent != 0 || s.Decisions != 1 {
				t.Errorf("decision %+v, slice %+v", d, s)
			}
		})
	}
	t.Run("frequency cap", func(t *testing.T) {
		s := Slice{Budget: 1000}
		id := ""
		for i := range 100 { // a treated candidate
			id = fmt.Sprintf("u%d", i)
			if scored(p, id).Status == strategy.Candidate {
				break
			}
		}
		first := s.Decide(p, pace, scored(p, id), Request{UserID: id, Event: CartAbandoned}, in)
		second := s.Decide(p, pace, scored(p, id), Request{UserID: id, Event: CartAbandoned}, in)
		if first.Offer == campaign.None || !second.Capped || second.Offer != campaign.None || s.Offers != 1 || s.Capped != 1 {
			t.Errorf("first %+v, second %+v", first, second)
		}
	})
	t.Run("budget too small", func(t *testing.T) {
		s := Slice{Budget: 0.01}
		id := "u1"
		for i := range 100 {
			id = fmt.Sprintf("u%d", i)
			if scored(p, id).Status == strategy.Candidate {
				break
			}
		}
		d := s.Decide(p, pace, scored(p, id), Request{UserID: id, Event: CartAbandoned}, in)
		if d.Offer != campaign.None || s.Spent != 0 || d.Reason != "budget: pacing allows 0.01 now" {
			t.Errorf("decision %+v", d)
		}
		// The user may still get an offer later: no cap.
		if _, ok := s.Answered[id]; ok {
			t.Error("a user without an offer is capped")
		}
	})
}

func TestApplyEvent(t *testing.T) {
	names := features.Names
	x := make([]float64, len(names))
	set := func(name string, v float64) {
		for i, n := range names {
			if n == name {
				x[i] = v
			}
		}
	}
	get := func(y []float64, name string) float64 {
		for i, n := range names {
			if n == name {
				return y[i]
			}
		}
		t.Fatalf("no feature %s", name)
		return 0
	}
	set("recency_days", 10)
	set("tenure_days", 70) // 10 weeks
	set("sessions_per_week", 1)
	set("cart_abandonment", 0.5)
	set("carts_per_week", 0.5)
	end := t0.Add(-48 * time.Hour)
	cases := []struct {
		event string
		want  map[string]float64
	}{
		{CartAbandoned, map[string]float64{"recency_days": 12, "sessions_per_week": 1.1, "carts_per_week": 0.6, "cart_abandonment": 6.0 / 11}},
		{SearchNoPurchase, map[string]float64{"recency_days": 12, "sessions_per_week": 1.1, "searches_per_week": 0.1, "cart_abandonment": 0.5}},
		{Lapsed, map[string]float64{"recency_days": 12, "sessions_per_week": 1, "cart_abandonment": 0.5}},
	}
	for _, c := range cases {
		y := ApplyEvent(names, x, c.event, end, t0)
		for name, want := range c.want {
			if got := get(y, name); math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: %s = %v, want %v", c.event, name, got, want)
			}
		}
	}
	if get(x, "recency_days") != 10 {
		t.Error("ApplyEvent changed its input")
	}
}

func TestPlanRowsOneRowPerUser(t *testing.T) {
	ds := []Decision{
		{Slice: 1, Seq: 2, UserID: "b", Offer: "pct10", Cost: 3, Probability: 0.9},
		{Slice: 1, Seq: 1, UserID: "b", Offer: campaign.None, Reason: "budget", Probability: 0.9},
		{Slice: 1, Seq: 3, UserID: "b", Offer: campaign.None, Capped: true, Probability: 1},
		{Slice: 0, Seq: 1, UserID: "a", Offer: campaign.None, Control: true, Holdout: "ship", Probability: 0.1},
		{Slice: 0, Seq: 2, UserID: "c", Offer: campaign.None, Reason: "no offer pays for itself", Probability: 0.905},
		{Slice: 0, Seq: 3, UserID: "c", Offer: campaign.None, Reason: "again", Probability: 0.905},
	}
	rows := PlanRows(ds, "c1", t0, t0.Add(time.Hour))
	if len(rows) != 3 || rows[0].UserID != "a" || rows[1].UserID != "b" || rows[2].UserID != "c" {
		t.Fatalf("rows %+v", rows)
	}
	if !rows[0].Control || rows[0].HoldoutOffer != "ship" || rows[0].AssignmentProbability != 0.1 {
		t.Errorf("control row %+v", rows[0])
	}
	if rows[1].Offer != "pct10" || rows[1].ExpectedCost != 3 {
		t.Errorf("offer row %+v", rows[1])
	}
	if rows[2].Reasons != ": no offer pays for itself" || rows[2].CampaignID != "c1" {
		t.Errorf("first decision kept: %+v", rows[2])
	}
}

func TestRequestValidate(t *testing.T) {
	for _, c := range []struct {
		r  Request
		ok bool
	}{
		{Request{"u1", CartAbandoned}, true}, {Request{"", CartAbandoned}, false}, {Request{"u1", "purchase"}, false},
	} {
		if err := c.r.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.r, err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p := params()
	pace := Pacing{Start: t0, End: t0.Add(time.Hour)}
	us := make([]strategy.Scored, 1024)
	for i := range us {
		us[i] = scored(p, fmt.Sprintf("u%d", i))
	}
	s := Slice{Budget: 1e9}
	b.ResetTimer()
	for i := range b.N {
		u := us[i%len(us)]
		s.Answered = nil
		s.Decide(p, pace, u, Request{UserID: u.UserID, Event: CartAbandoned}, t0.Add(time.Second))
	}
}
