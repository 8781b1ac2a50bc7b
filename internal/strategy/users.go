package strategy

import (
	"strings"

	"github.com/promoflow/promoflow/internal/features"
)

// MemberAttribute is the profile attribute that marks loyalty-programme
// members (MemberValue). Without it in a shard's profiles, ProxyMember
// decides who counts as one.
const MemberAttribute = "member"

// MemberValue reports whether a value of the member attribute says the
// user is a member: "1", "true", "yes" or "y", in any case, spaces
// trimmed.
func MemberValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "y":
		return true
	}
	return false
}

// ProxyMember is whether a user counts as a loyalty-programme member when
// no profile says so (no member attribute in the run, or live scoring,
// which reads no profiles): a repeat buyer, two orders or more.
func ProxyMember(orders float64) bool { return orders >= 2 }

// Profiles is what a decision reads of one shard's profiles table (long
// form: user, attribute, value): who is a member, and each user's value
// of the sensitive attribute that fairness audits.
type Profiles struct {
	sensitive string // the fairness attribute, "" for none
	members   map[string]bool
	anyMember bool // the member attribute appears at all
	groups    map[string]string
}

// NewProfiles returns empty profiles keeping the sensitive attribute's
// values ("" keeps none).
func NewProfiles(sensitive string) *Profiles {
	return &Profiles{sensitive: sensitive, members: map[string]bool{}, groups: map[string]string{}}
}

// Add takes one row of the profiles table.
func (p *Profiles) Add(user, attribute, value string) {
	switch {
	case attribute == MemberAttribute:
		p.anyMember = true
		if MemberValue(value) {
			p.members[user] = true
		}
	case p.sensitive != "" && attribute == p.sensitive:
		p.groups[user] = value
	}
}

// Member reports whether user, with orders past orders, counts as a
// member: as the profiles say, or by ProxyMember when no profile has the
// member attribute.
func (p *Profiles) Member(user string, orders float64) bool {
	return p.members[user] || (!p.anyMember && ProxyMember(orders))
}

// Group is user's value of the sensitive attribute ("" when unknown).
func (p *Profiles) Group(user string) string { return p.groups[user] }

// featureAt are the columns of a feature row (features.Names) a User
// reads.
var featureAt = struct{ basket, orders, recency int }{
	features.Index("avg_order_value"), features.Index("frequency"), features.Index("recency_days"),
}

// FeatureUser is the decision's view of the user of a feature row, in
// segment, with propensity: the basket, orders and recency read by name
// from the features schema, a basket of DefaultBasket for users who never
// ordered, and the category affinities as interests. Membership and
// suppression are the caller's (Profiles, contact lists).
func (p *Params) FeatureUser(r features.Row, segment string, propensity float64) User {
	u := User{
		ID: r.UserID, Segment: segment, Propensity: propensity,
		Basket: r.Values[featureAt.basket], Orders: r.Values[featureAt.orders], RecencyDays: r.Values[featureAt.recency],
	}
	if u.Basket <= 0 {
		u.Basket = p.DefaultBasket
	}
	for _, c := range r.Categories {
		u.Categories = append(u.Categories, c.Term)
	}
	return u
}
