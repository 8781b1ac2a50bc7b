package strategy

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/power"
)

// TestSmallAudienceControl is the holiday run with about 60 eligible users:
// the stratified 10% control group rounds to (almost) nothing per shard and
// segment; with the template's minimum the group keeps at least that many
// users and the summary states the minimum detectable lift; an audience
// too small to hold the minimum is said plainly not to be measurable, with
// the template's choice.
func TestSmallAudienceControl(t *testing.T) {
	holiday := &campaign.Template{Name: "holiday", Unmeasurable: campaign.UnmeasurableApprove}
	for _, tc := range []struct {
		name        string
		users       int
		minControl  int
		wantControl func(n int64) bool
		measurable  bool
		action      string
		toppedUp    bool
	}{
		{"no minimum", 66, 0, func(n int64) bool { return n <= 3 }, false, campaign.UnmeasurableApprove, false},
		{"minimum 20", 66, 20, func(n int64) bool { return n >= 20 && n <= 23 }, true, "", true},
		{"too small for the minimum", 33, 20, func(n int64) bool { return n <= 2 }, false, campaign.UnmeasurableApprove, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 60))
			users := randomUsers(rng, tc.users)
			p := params("revenue") // the holiday template's objective
			p.MinControl = tc.minControl
			_, tallies, out := p.Decide(scoreShards(&p, users, 8, false), 1e6, nil)
			total := sumTallies(tallies)
			s := p.Summarize(holiday, total, out)
			m := s.Measurability
			if m == nil {
				t.Fatal("no measurability in the summary")
			}
			eligible := s.Audience.Eligible
			t.Logf("eligible %d, held out %d, control %d, treated %d, detail %s", eligible, m.HeldOut, m.Control, m.Treated, m.Detail)
			var comparable int64
			for _, o := range total.Offers {
				comparable += o.Control
			}
			if m.HeldOut != total.Control || m.Control != comparable || m.Treated != total.Treated {
				t.Errorf("measurability counts %d (%d)/%d, tally %d (%d)/%d", m.HeldOut, m.Control, m.Treated, total.Control, comparable, total.Treated)
			}
			if !tc.wantControl(m.HeldOut) {
				t.Errorf("%d of %d eligible users held out: not what the case expects", m.HeldOut, eligible)
			}
			if m.Measurable != tc.measurable || m.Action != tc.action || m.ToppedUp != tc.toppedUp {
				t.Errorf("measurable %v, action %q, topped up %v; want %v, %q, %v", m.Measurable, m.Action, m.ToppedUp, tc.measurable, tc.action, tc.toppedUp)
			}
			if tc.measurable {
				if m.MDL == nil {
					t.Fatal("a measurable campaign states no minimum detectable lift")
				}
				want, _ := power.Detectable(m.ControlRate, m.TreatedRate, m.Control, m.Treated)
				if math.Abs(*m.MDL-want) > 1e-12 || *m.MDL <= 0 || *m.MDL >= 1 {
					t.Errorf("MDL %v, want %v in (0, 1)", *m.MDL, want)
				}
			}
			if m.ControlRate < 0 || m.ControlRate > 1 || m.TreatedRate < 0 || m.TreatedRate > 1 {
				t.Errorf("expected rates %v, %v outside [0, 1]", m.ControlRate, m.TreatedRate)
			}
			guard := s.Guards[len(s.Guards)-1]
			for _, g := range s.Guards {
				if g.Name == "control" {
					guard = g
				}
			}
			if wantFail := !tc.measurable; (guard.Status == GuardFail) != wantFail {
				t.Errorf("control guard %s (%s), want fail %v", guard.Status, guard.Detail, wantFail)
			}
		})
	}
}

func TestControlThreshold(t *testing.T) {
	hist := make([]int64, ControlBins)
	for b := 0; b < ControlBins; b += 10 {
		hist[b] = 1 // 100 users, one every hundredth of the hash range
	}
	for _, tc := range []struct {
		min  int
		want float64
		ok   bool
	}{
		{1, 0.001, true},
		{20, 0.191, true},
		{50, 0.491, true},
		{51, 0, false}, // more than half the users
		{0, 0, false},
	} {
		got, ok := ControlThreshold(hist, tc.min)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ControlThreshold(min %d) = %v, %v; want %v, %v", tc.min, got, ok, tc.want, tc.ok)
		}
	}
}

func TestControlFloor(t *testing.T) {
	hist := make([]int64, ControlBins)
	for b := 0; b < ControlBins; b += 10 {
		hist[b] = 1 // 100 eligible users
	}
	for _, tc := range []struct {
		control int64
		min     int
		want    float64
	}{
		{3, 20, 0.191}, // the share held out 3: top up to 20
		{20, 20, 0},    // the share holds the minimum
		{3, 0, 0},      // no minimum
		{3, 60, 0},     // more than half the users: cannot hold it
	} {
		if got := ControlFloor(hist, tc.control, tc.min); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ControlFloor(control %d, min %d) = %v, want %v", tc.control, tc.min, got, tc.want)
		}
	}
}
