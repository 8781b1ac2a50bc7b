package decide

import (
	"fmt"
	"math"
	"testing"
)

func TestValue(t *testing.T) {
	cat := DefaultCatalog()
	byID := map[string]Offer{}
	for _, o := range cat {
		byID[o.ID] = o
	}
	for _, tc := range []struct {
		offer     string
		u         User
		inc, cost float64
	}{
		// lift 0.1*(1-0.2)=0.08; inc 0.08*50=4; redeem 0.28, cost 0.28*0.1*50=1.4
		{"discount10", User{Propensity: 0.2, Basket: 50}, 4, 1.4},
		// lift 0.07*(1-0.5)=0.035; inc 3.5; redeem 0.535; cost 0.535*5=2.675
		{"coupon5", User{Propensity: 0.5, Basket: 100}, 3.5, 2.675},
		// points: lift 0.06*0.5=0.03; inc 3; redeem 0.53; cost 0.53*0.03*100=1.59
		{"points2x", User{Propensity: 0.5, Basket: 100}, 3, 1.59},
	} {
		inc, cost := Value(byID[tc.offer], tc.u)
		if math.Abs(inc-tc.inc) > 1e-9 || math.Abs(cost-tc.cost) > 1e-9 {
			t.Errorf("%s %+v: inc %v cost %v, want %v %v", tc.offer, tc.u, inc, cost, tc.inc, tc.cost)
		}
	}
}

func TestChoose(t *testing.T) {
	p := Params{Margin: 0.4, ControlShare: 0.1, Salt: "test"}
	cat := DefaultCatalog()
	// A sure buyer with a small basket: no discount pays for itself.
	if d := Choose(User{ID: "a", Propensity: 0.99, Basket: 10}, cat, p); d.Offer != None || d.ExpectedCost != 0 {
		t.Errorf("sure buyer got %+v", d)
	}
	// A unlikely buyer with a big basket: the best offer has positive profit.
	d := Choose(User{ID: "b", Propensity: 0.05, Basket: 200}, cat, p)
	if d.Offer == None || p.Margin*d.ExpectedIncrementalRevenue-d.ExpectedCost <= 0 {
		t.Errorf("persuadable got %+v", d)
	}
	// The choice is the argmax over the catalog.
	for _, o := range cat {
		inc, cost := Value(o, User{Propensity: 0.05, Basket: 200})
		if p.Margin*inc-cost > p.Margin*d.ExpectedIncrementalRevenue-d.ExpectedCost+1e-12 {
			t.Errorf("offer %s beats chosen %s", o.ID, d.Offer)
		}
	}
}

func TestControlShare(t *testing.T) {
	const n = 20000
	in := 0
	for i := 0; i < n; i++ {
		if InControl("weekly/42", fmt.Sprintf("u%07d", i), 0.1) {
			in++
		}
	}
	if share := float64(in) / n; math.Abs(share-0.1) > 0.01 {
		t.Errorf("control share %.4f, want 0.10 ± 0.01", share)
	}
	if InControl("s", "u1", 0.1) != InControl("s", "u1", 0.1) {
		t.Error("control membership not deterministic")
	}
}
