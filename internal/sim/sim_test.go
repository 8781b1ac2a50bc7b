package sim

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/synth"
)

func TestProfitAndScore(t *testing.T) {
	cat := testCatalog()
	u := User{ID: "u1", Base: 0.2, Basket: 50, Uplift: map[string]float64{"discount10": 0.1, "coupon5": 0.3, "free_shipping": -0.05, "points2x": 0}}
	// coupon5: 0.4 x 0.3 x 50 - 0.5 x 5 = 3.5; discount10: 0.4 x 0.1 x 50 - 0.3 x 5 = 0.5.
	if p := Profit(u, cat[1], 0.4); math.Abs(p-3.5) > 1e-12 {
		t.Errorf("coupon5 profit %v, want 3.5", p)
	}
	if p := Profit(u, cat[0], 0.4); math.Abs(p-0.5) > 1e-12 {
		t.Errorf("discount10 profit %v, want 0.5", p)
	}
	var w Week
	if err := w.Score(u, "discount10", cat, cat[0], 0.4); err != nil {
		t.Fatal(err)
	}
	if err := w.Score(u, campaign.None, cat, cat[0], 0.4); err != nil {
		t.Fatal(err)
	}
	if math.Abs(w.PlanProfit-0.5) > 1e-12 || math.Abs(w.OracleProfit-7) > 1e-12 || math.Abs(w.BaselineProfit-1) > 1e-12 || w.Users != 2 || w.Treated != 1 {
		t.Errorf("week %+v", w)
	}
	if err := w.Score(u, "bogus", cat, cat[0], 0.4); err == nil {
		t.Error("unknown planned offer accepted")
	}
}

func TestRespondFollowsTheTruth(t *testing.T) {
	cfg := synth.Config{Users: 1, Seed: 9}
	n, yes, yesOffer := 20000, 0, 0
	var base, up float64
	for i := 1; i <= n; i++ {
		u, err := Truth(cfg, synth.UserID(i), 40)
		if err != nil {
			t.Fatal(err)
		}
		base += u.Base
		up += u.Base + u.Uplift["coupon5"]
		if Respond(u, campaign.None, "w1") {
			yes++
		}
		if Respond(u, "coupon5", "w1") {
			yesOffer++
		}
	}
	// Response rates within 4 standard errors of the true means.
	for _, c := range []struct {
		got  int
		want float64
	}{{yes, base / float64(n)}, {yesOffer, up / float64(n)}} {
		rate := float64(c.got) / float64(n)
		if math.Abs(rate-c.want) > 4*math.Sqrt(c.want*(1-c.want)/float64(n)) {
			t.Errorf("rate %v, want %v", rate, c.want)
		}
	}
	if _, err := Truth(cfg, "nobody", 1); err == nil {
		t.Error("unknown user accepted")
	}
}

func TestOutcomeWriter(t *testing.T) {
	var b bytes.Buffer
	ow, err := NewOutcomeWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if err := ow.Purchase(User{ID: "u0000001", Basket: 12.345}, ts, "c1"); err != nil {
		t.Fatal(err)
	}
	want := "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\nu0000001,2026-11-23T12:00:00Z,purchase,sim-item,sim,,1,12.35,c1-u0000001,email\n"
	if b.String() != want || ow.Purchases() != 1 || !strings.HasPrefix(b.String(), "user_id") {
		t.Errorf("wrote %q", b.String())
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
