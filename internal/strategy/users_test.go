package strategy

import (
	"slices"
	"testing"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
)

// TestMemberValue: the member attribute's yes values, in any case and
// with spaces; anything else is no.
func TestMemberValue(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, " Yes ": true, "Y": true, "TRUE": true,
		"0": false, "no": false, "": false, "member": false, "2": false} {
		if got := MemberValue(v); got != want {
			t.Errorf("MemberValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestProfiles: with the member attribute in the profiles, members are
// who it says (a repeat buyer without it is not one); without it, repeat
// buyers count (ProxyMember). The sensitive attribute's values are the
// groups; other attributes are ignored.
func TestProfiles(t *testing.T) {
	with := NewProfiles("gender")
	with.Add("a", MemberAttribute, "yes")
	with.Add("b", MemberAttribute, "0")
	with.Add("a", "gender", "f")
	with.Add("b", "age", "40")
	without := NewProfiles("")
	without.Add("a", "gender", "f")
	for _, tc := range []struct {
		p      *Profiles
		user   string
		orders float64
		member bool
		group  string
	}{
		{with, "a", 0, true, "f"},
		{with, "b", 5, false, ""},
		{with, "c", 5, false, ""},
		{without, "a", 1, false, ""},
		{without, "a", 2, true, ""},
	} {
		if m, g := tc.p.Member(tc.user, tc.orders), tc.p.Group(tc.user); m != tc.member || g != tc.group {
			t.Errorf("%s with %v orders: member %v, group %q; want %v, %q", tc.user, tc.orders, m, g, tc.member, tc.group)
		}
	}
}

// TestFeatureUser: a feature row's basket, orders and recency are read
// by their names in the features schema, a user who never ordered gets
// the default basket, and the category affinities are the interests.
func TestFeatureUser(t *testing.T) {
	p := Params{DefaultBasket: 42}
	values := make([]float64, len(features.Names))
	for i := range values {
		values[i] = float64(100 + i)
	}
	r := features.Row{UserID: "u1", Values: values, Categories: []interest.Term{{Term: "shoes"}, {Term: "bags"}}}
	u := p.FeatureUser(r, "loyal", 0.3)
	if u.ID != "u1" || u.Segment != "loyal" || u.Propensity != 0.3 || !slices.Equal(u.Categories, []string{"shoes", "bags"}) ||
		u.Basket != values[features.Index("avg_order_value")] || u.Orders != values[features.Index("frequency")] ||
		u.RecencyDays != values[features.Index("recency_days")] {
		t.Errorf("user %+v from row %v", u, values)
	}
	values[features.Index("avg_order_value")] = 0
	if u := p.FeatureUser(r, "new", 0.1); u.Basket != 42 {
		t.Errorf("basket %v without orders, want the default 42", u.Basket)
	}
}
