package adjust

import (
	"math"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/evaluate"
)

// result builds an evaluation with one cell per (segment, offer) given the
// treated response rate, against a segment control rate of 0.2; n users a
// side.
func result(n int64, cells map[string]map[string]float64) *evaluate.Result {
	res := &evaluate.Result{Cells: map[string]map[string]*evaluate.Effect{}, SegmentControl: map[string]evaluate.Arm{}}
	for seg, m := range cells {
		res.Cells[seg] = map[string]*evaluate.Effect{}
		res.SegmentControl[seg] = evaluate.Arm{N: n, Responders: n / 5}
		for o, rate := range m {
			k := int64(rate * float64(n))
			res.Cells[seg][o] = &evaluate.Effect{Treated: evaluate.Arm{N: n, Responders: k, Revenue: 50 * float64(k)}}
		}
	}
	return res
}

func TestUpdateShrinksTowardTheOffer(t *testing.T) {
	res := result(400, map[string]map[string]float64{
		"a": {"coupon5": 0.30, "discount10": 0.10},
		"b": {"coupon5": 0.25, "discount10": 0.12},
		"c": {"coupon5": 0.35, "discount10": 0.11},
	})
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	s1 := Update(nil, "weekly", "w1", now, res)
	if s1.Version != 1 || s1.Campaign != "w1" || len(s1.Cells) != 3 {
		t.Fatalf("state %+v", s1)
	}
	g := s1.Offers["coupon5"]
	if math.Abs(g.Response-0.10) > 0.01 || math.Abs(g.Revenue-50*g.Response) > 0.5 {
		t.Errorf("coupon5 global response %v revenue %v, want about 0.10 and 50 x that", g.Response, g.Revenue)
	}
	for _, seg := range []string{"a", "b", "c"} {
		raw := map[string]float64{"a": 0.10, "b": 0.05, "c": 0.15}[seg]
		e := s1.Cells[seg]["coupon5"]
		// Shrunk: between the raw lift and the global effect.
		if (e.Response-raw)*(e.Response-g.Response) > 1e-12 || e.ResponseSD <= 0 {
			t.Errorf("%s: posterior %v not between raw %v and global %v", seg, e.Response, raw, g.Response)
		}
	}
	// discount10 lifts are reliably negative (about -0.09): retired.
	if len(s1.Retired) != 1 || s1.Retired[0] != "discount10" {
		t.Errorf("retired %v, want [discount10]", s1.Retired)
	}
	// A second evaluation adds its counts: narrower posteriors, version 2.
	s2 := Update(s1, "weekly", "w2", now, res)
	if s2.Version != 2 || s2.Counts["a"]["coupon5"].Treated.N != 800 || !(s2.Cells["a"]["coupon5"].ResponseSD < s1.Cells["a"]["coupon5"].ResponseSD) {
		t.Errorf("v%d, counts %+v, sd %v then %v", s2.Version, s2.Counts["a"]["coupon5"], s1.Cells["a"]["coupon5"].ResponseSD, s2.Cells["a"]["coupon5"].ResponseSD)
	}
	if s1.Counts["a"]["coupon5"].Treated.N != 400 {
		t.Error("Update modified the previous state")
	}
	data, err := s2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil || back.Version != 2 || back.Cells["b"]["coupon5"] != s2.Cells["b"]["coupon5"] {
		t.Errorf("round trip: %v", err)
	}
}

func TestAdjustedLiftCorrectsSelection(t *testing.T) {
	// The decision gave the offer to low-propensity users (0.1 on average);
	// the segment's control averages 0.2 predicted and 0.2 observed.
	treated := evaluate.Arm{N: 1000, Responders: 150, Propensity: 100}
	control := evaluate.Arm{N: 500, Responders: 100, Propensity: 100}
	iv := adjustedLift(treated, control)
	if math.Abs(iv.Value-0.05) > 1e-12 || !iv.Defined {
		t.Errorf("adjusted lift %+v, want 0.15 - 0.1 = 0.05", iv)
	}
	if raw := treated.Rate() - control.Rate(); raw > 0 {
		t.Errorf("raw difference %v should be negative here: the correction matters", raw)
	}
}
