// Package decide chooses each user's promotion: the offer with the highest
// expected incremental profit, or none, and whether the user is held out as
// control.
package decide

import (
	"fmt"
	"math"
	"strings"

	"github.com/promoflow/promoflow/internal/shard"
)

// Offer kinds, which decide how an offer costs and whom it moves.
const (
	Discount     = "discount"      // percentage off the basket
	Coupon       = "coupon"        // fixed amount off
	FreeShipping = "free_shipping" // fixed shipping cost absorbed
	Points       = "points"        // loyalty points worth a share of the basket
)

// Offer is one promotion of the catalog.
type Offer struct {
	ID      string  `json:"id"`
	Kind    string  `json:"kind"`
	Channel string  `json:"channel"`
	Rate    float64 `json:"rate,omitempty"`  // share of the basket given away (Discount, Points)
	Fixed   float64 `json:"fixed,omitempty"` // money given away per redemption (Coupon, FreeShipping)
	// Lift is the prior increase in purchase probability the offer causes in
	// a user who would not buy otherwise; it stands in for an uplift model
	// until campaign history exists.
	Lift float64 `json:"lift"`
}

// DefaultCatalog is the small catalog of the weekly template.
func DefaultCatalog() []Offer {
	return []Offer{
		{ID: "discount10", Kind: Discount, Channel: "email", Rate: 0.10, Lift: 0.10},
		{ID: "coupon5", Kind: Coupon, Channel: "email", Fixed: 5, Lift: 0.07},
		{ID: "free_shipping", Kind: FreeShipping, Channel: "app", Fixed: 4, Lift: 0.05},
		{ID: "points2x", Kind: Points, Channel: "app", Rate: 0.03, Lift: 0.06},
	}
}

// Params are the decision's economics and randomization.
type Params struct {
	Margin       float64 // gross margin on incremental revenue
	ControlShare float64 // share of users held out, never contacted
	Salt         string  // seeds the control group; same salt, same group
}

// User is what the decision knows of one user.
type User struct {
	ID         string
	Segment    string
	Propensity float64 // probability of buying within the horizon without an offer
	Basket     float64 // expected order value
	Frequency  float64 // past orders
}

// Decision is one row of the plan.
type Decision struct {
	Offer                      string  // offer ID, or "none"
	Channel                    string  // empty for none
	ExpectedIncrementalRevenue float64 // from the offer, over the horizon
	ExpectedCost               float64
	Control                    bool   // held out: not contacted; Offer is what they would have got
	Reasons                    string // the few facts that drove the choice
}

// None is the offer ID of "no promotion".
const None = "none"

// lift is the offer's expected increase in purchase probability for u:
// discounts move people who would not buy anyway; points reward those who
// buy often.
func lift(o Offer, u User) float64 {
	p := clamp01(u.Propensity)
	if o.Kind == Points {
		return o.Lift * p
	}
	return o.Lift * (1 - p)
}

// Value returns the expected incremental revenue and cost of giving o to u.
// Everyone who redeems costs money, including those who would have bought
// anyway: that is why blanket discounts lose money.
func Value(o Offer, u User) (incRevenue, cost float64) {
	l := lift(o, u)
	redeem := clamp01(u.Propensity) + l
	incRevenue = l * u.Basket
	switch o.Kind {
	case Discount, Points:
		cost = redeem * o.Rate * u.Basket
	default:
		cost = redeem * o.Fixed
	}
	return incRevenue, cost
}

// Choose picks the offer with the highest positive expected incremental
// profit (margin x incremental revenue - cost), or none, and puts the user in
// the control group by a hash of (salt, user).
func Choose(u User, catalog []Offer, p Params) Decision {
	d := Decision{Offer: None}
	best := 0.0
	for _, o := range catalog {
		inc, cost := Value(o, u)
		if profit := p.Margin*inc - cost; profit > best {
			best = profit
			d = Decision{Offer: o.ID, Channel: o.Channel, ExpectedIncrementalRevenue: inc, ExpectedCost: cost}
		}
	}
	d.Reasons = reasons(u, d)
	d.Control = InControl(p.Salt, u.ID, p.ControlShare)
	return d
}

// InControl reports whether the user is in the campaign's control group.
func InControl(salt, userID string, share float64) bool {
	return shard.Unit(salt+"/control", userID) < share
}

func reasons(u User, d Decision) string {
	var r []string
	switch p := u.Propensity; {
	case p < 0.2:
		r = append(r, fmt.Sprintf("low propensity %.2f", p))
	case p > 0.6:
		r = append(r, fmt.Sprintf("high propensity %.2f", p))
	default:
		r = append(r, fmt.Sprintf("propensity %.2f", p))
	}
	r = append(r, fmt.Sprintf("basket %.0f", u.Basket))
	if u.Segment != "" {
		r = append(r, "segment "+u.Segment)
	}
	if d.Offer == None {
		r = append(r, "no offer pays for itself")
	}
	return strings.Join(r, "; ")
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }
