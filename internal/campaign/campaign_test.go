package campaign

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedFilesLoad(t *testing.T) {
	cat, err := LoadCatalog("../../deploy/offers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kindsSeen := map[string]bool{}
	for _, o := range cat.Offers {
		kindsSeen[o.Kind] = true
	}
	if len(kindsSeen) != len(kinds) {
		t.Errorf("catalog uses %d of %d offer kinds", len(kindsSeen), len(kinds))
	}
	for _, name := range []string{"weekly", "holiday", "launch", "winback", "member"} {
		tpl, err := LoadTemplate(filepath.Join("../../deploy/templates", name+".yaml"), cat)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tpl.Name != name {
			t.Errorf("template file %s.yaml names itself %q", name, tpl.Name)
		}
	}
	holiday, _ := LoadTemplate("../../deploy/templates/holiday.yaml", cat)
	if holiday == nil || !holiday.Approval.Required || holiday.Approval.Deadline.Hours() != 48 {
		t.Errorf("holiday approval = %+v", holiday)
	}
}

func TestBadFiles(t *testing.T) {
	cat := &Catalog{Offers: []Offer{{ID: "c5", Kind: Coupon, Fixed: 5, Channel: "email"}}}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"typo in a key", "name: x\nobjective: profit\nmargin: 0.4\nbugdet: 100\noffers: [c5]\n", "line 4: field bugdet not found"},
		{"unknown offer", "name: x\nobjective: profit\nmargin: 0.4\noffers: [c6]\n", `offer "c6" is not in the catalog`},
		{"negative budget", "name: x\nobjective: profit\nmargin: 0.4\nbudget: -5\noffers: [c5]\n", "budget -5 below zero"},
		{"bad objective", "name: x\nobjective: clicks\nmargin: 0.4\noffers: [c5]\n", `objective "clicks"`},
		{"control too big", "name: x\nobjective: profit\nmargin: 0.4\ncontrol_share: 0.7\noffers: [c5]\n", "control_share 0.7"},
		{"negative min_control", "name: x\nobjective: profit\nmargin: 0.4\nmin_control: -1\noffers: [c5]\n", "min_control -1 below zero"},
		{"unknown unmeasurable", "name: x\nobjective: profit\nmargin: 0.4\nunmeasurable: wait\noffers: [c5]\n", `unmeasurable "wait", want publish or approve`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o644)
			_, err := LoadTemplate(path, cat)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming the file and %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cat  Catalog
		want string
	}{
		{"empty", Catalog{}, "no offers"},
		{"rate out of range", Catalog{Offers: []Offer{{ID: "d", Kind: Discount, Rate: 1.5, Channel: "app"}}}, "rate 1.5"},
		{"fixed missing", Catalog{Offers: []Offer{{ID: "g", Kind: Gift, Channel: "app"}}}, "fixed 0"},
		{"unknown kind", Catalog{Offers: []Offer{{ID: "x", Kind: "lottery", Fixed: 1, Channel: "app"}}}, `kind "lottery"`},
		{"duplicate id", Catalog{Offers: []Offer{{ID: "c", Kind: Coupon, Fixed: 1, Channel: "a"}, {ID: "c", Kind: Coupon, Fixed: 2, Channel: "a"}}}, "used twice"},
	} {
		if err := tc.cat.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestFace: rate kinds cost their share of the order, the others their
// fixed amount whatever the order.
func TestFace(t *testing.T) {
	for _, tc := range []struct {
		offer Offer
		value float64
		want  float64
	}{
		{Offer{Kind: Discount, Rate: 0.1}, 80, 8},
		{Offer{Kind: FlashPrice, Rate: 0.25}, 40, 10},
		{Offer{Kind: MemberPrice, Rate: 0.05}, 200, 10},
		{Offer{Kind: Points, Rate: 0.02}, 50, 1},
		{Offer{Kind: Bundle, Rate: 0.15}, 0, 0},
		{Offer{Kind: Coupon, Fixed: 5}, 80, 5},
		{Offer{Kind: Gift, Fixed: 12}, 0, 12},
		{Offer{Kind: FreeShipping, Fixed: 4.5}, 1000, 4.5},
	} {
		if got := tc.offer.Face(tc.value); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s (rate %v, fixed %v) on %v = %v, want %v", tc.offer.Kind, tc.offer.Rate, tc.offer.Fixed, tc.value, got, tc.want)
		}
	}
}
