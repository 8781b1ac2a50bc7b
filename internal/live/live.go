// Package live is the domain of real-time decisions: a live campaign's
// budget is split into slices, each owned by one long-running workflow that
// answers decide requests one user at a time. This package knows nothing of
// Temporal: it holds a slice's accounting (Slice), the pacing of its budget
// over the campaign window (Pacing), the triggering events and how they
// move a user's features (ApplyEvent), and the decision rule (Slice.Decide)
// that applies frequency caps, the control and exploration draws of the
// batch decision (internal/strategy), the pacing allowance and the slice's
// budget multiplier.
package live

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
)

// Triggering events a decide request may carry.
const (
	CartAbandoned    = "cart_abandoned"     // a cart left without an order
	SearchNoPurchase = "search_no_purchase" // a search session without a purchase
	Lapsed           = "lapsed"             // the user crossed the lapse threshold
)

// Events lists the triggering events, in the order help texts show them.
var Events = []string{CartAbandoned, SearchNoPurchase, Lapsed}

// ValidEvent reports whether e is one of Events.
func ValidEvent(e string) bool { return slices.Contains(Events, e) }

// SliceOf is the budget slice that owns user id among n slices: the same
// user always reaches the same slice, so its frequency cap is kept in one
// place.
func SliceOf(userID string, n int) int { return shard.Of(userID, n) }

// Request is one decide request: a user and the event that triggered it.
type Request struct {
	UserID string `json:"user_id"`
	Event  string `json:"event"`
}

// Validate checks a request before it reaches a slice's state.
func (r Request) Validate() error {
	if r.UserID == "" {
		return fmt.Errorf("live: empty user id")
	}
	if !ValidEvent(r.Event) {
		return fmt.Errorf("live: unknown event %q (one of %v)", r.Event, Events)
	}
	return nil
}

// Pacing spreads a slice's budget over the campaign window [Start, End):
// at time t, at most Budget x (Burst + (1-Burst) x elapsed/window) may have
// been spent, so the budget is not spent in the first hour of a day-long
// window. Burst is the share available at once (DefaultBurst when 0).
type Pacing struct {
	Start, End time.Time
	Burst      float64
}

// DefaultBurst is the share of a slice's budget available at the start of
// the window.
const DefaultBurst = 0.02

// Fraction is the share of the budget that may be spent by t: from Burst at
// Start to 1 at End.
func (p Pacing) Fraction(t time.Time) float64 {
	b := p.Burst
	if b <= 0 {
		b = DefaultBurst
	}
	w := p.End.Sub(p.Start)
	if w <= 0 || !t.Before(p.End) {
		return 1
	}
	e := t.Sub(p.Start)
	if e <= 0 {
		return b
	}
	return math.Min(1, b+(1-b)*float64(e)/float64(w))
}

// Decision is one answer to a decide request, as logged: the campaign
// history's assignment probability is the probability that the control
// and exploration draws gave the user what Offer says.
type Decision struct {
	Slice      int       `json:"slice"`
	Seq        int64     `json:"seq"` // the slice's decision number, from 1
	UserID     string    `json:"user_id"`
	Event      string    `json:"event"`
	At         time.Time `json:"at"`
	Segment    string    `json:"segment"`
	Offer      string    `json:"offer"` // campaign.None for no offer
	Channel    string    `json:"channel"`
	Cost       float64   `json:"cost"`    // expected cost, counted against the budget
	Revenue    float64   `json:"revenue"` // expected incremental revenue
	Source     string    `json:"source"`
	Control    bool      `json:"control"`
	Holdout    string    `json:"holdout_offer"` // a control user's offer had they not been held out
	HoldoutRev float64   `json:"holdout_revenue"`
	Explore    bool      `json:"explore"`
	Capped     bool      `json:"capped"` // the user already had an answer that counts (frequency cap)
	Propensity float64   `json:"propensity"`
	// Probability is the assignment probability of what the decision
	// gives (strategy.Params.AssignmentProbability).
	Probability float64 `json:"assignment_probability"`
	Reason      string  `json:"reason"`
	Lambda      float64 `json:"lambda"`
}

// Slice is one budget slice's accounting, carried from run to run of its
// workflow (continue-as-new). Spent never exceeds Budget.
type Slice struct {
	Budget    float64 `json:"budget"`
	Spent     float64 `json:"spent"`
	Revenue   float64 `json:"revenue"` // expected incremental revenue of the offers
	Lambda    float64 `json:"lambda"`  // the budget multiplier the pacing controller keeps
	Decisions int64   `json:"decisions"`
	Offers    int64   `json:"offers"`
	Controls  int64   `json:"controls"`
	Explores  int64   `json:"explores"`
	Capped    int64   `json:"capped"`
	// Answered holds, per user who got an offer or was held out, the
	// offer ("control" for held-out users): the frequency cap (one answer
	// that counts per user and campaign, as max_per_user 1 in batch plans).
	Answered map[string]string `json:"answered,omitempty"`
}

// Lambda bounds and steps of the pacing controller.
const (
	MaxLambda  = 50.0
	lambdaStep = 0.05
)

// Decide answers one request for the user scored as u (strategy.Params.Score
// on the user's latest features plus the event) at time now, and updates
// the slice's accounting. It is the whole decision rule:
//   - outside the window, outside the audience, suppressed or without
//     features: no offer;
//   - a user who already got an offer (or was held out) in this campaign
//     gets none again (frequency cap);
//   - control users (the campaign's control hash) are held out, logged with
//     the offer they would have got;
//   - explorers get their drawn offer, candidates the option with the best
//     value - lambda x cost above zero, if its cost fits the pacing
//     allowance: Budget x Fraction(now) - Spent. The budget is never
//     exceeded because no cost larger than what is left is ever counted.
//
// After every decision the multiplier moves toward spending on the pace
// line: up when spending runs ahead of it, down when behind.
func (s *Slice) Decide(p *strategy.Params, pace Pacing, u strategy.Scored, req Request, now time.Time) Decision {
	if s.Answered == nil {
		s.Answered = map[string]string{}
	}
	s.Decisions++
	d := Decision{
		Seq: s.Decisions, UserID: req.UserID, Event: req.Event, At: now.UTC(), Segment: u.Segment,
		Offer: campaign.None, Channel: campaign.None, Source: campaign.None, Holdout: campaign.None,
		Propensity: u.Prop, Probability: 1, Lambda: s.Lambda,
	}
	switch {
	case now.Before(pace.Start) || !now.Before(pace.End):
		d.Reason = "outside the campaign window"
		return d
	case u.Status == strategy.Ineligible:
		d.Reason = "outside audience: " + u.Why
		return d
	case u.Status == strategy.Suppressed:
		d.Reason = "suppressed: " + u.Why
		return d
	}
	if prev, ok := s.Answered[req.UserID]; ok {
		s.Capped++
		d.Capped = true
		d.Reason = "frequency cap: already answered in this campaign (" + prev + ")"
		return d
	}
	left := s.Budget*pace.Fraction(now) - s.Spent
	best := u.Best(s.Lambda)
	c := -1
	explore := false
	switch u.Status {
	case strategy.Control:
		s.Controls++
		s.Answered[req.UserID] = "control"
		d.Control = true
		d.Reason = "control holdout: not contacted"
		if best >= 0 {
			o := u.Options[best]
			d.Holdout, d.HoldoutRev = p.Offers[o.Offer].ID, o.Revenue
		}
		d.Probability = p.AssignmentProbability(&u, best, s.Lambda, false)
		return d
	case strategy.Explore:
		if u.Pick >= 0 && u.Options[u.Pick].Cost <= left {
			c, explore = u.Pick, true
		}
	}
	if c < 0 {
		c = affordable(u, s.Lambda, left)
	}
	d.Probability = p.AssignmentProbability(&u, c, s.Lambda, explore)
	if c < 0 {
		switch {
		case best >= 0 || (u.Status == strategy.Explore && u.Pick >= 0):
			d.Reason = fmt.Sprintf("budget: pacing allows %.2f now", math.Max(0, left))
		case len(u.Options) == 0:
			d.Reason = "no eligible offer"
		default:
			d.Reason = "no offer pays for itself"
		}
		s.steer(pace, now)
		return d
	}
	o := u.Options[c]
	off := p.Offers[o.Offer]
	d.Offer, d.Channel, d.Cost, d.Revenue, d.Source, d.Explore = off.ID, off.Channel, o.Cost, o.Revenue, o.Source, explore
	if explore {
		d.Reason = "exploration: offer drawn at random"
		s.Explores++
	} else {
		d.Reason = fmt.Sprintf("%s estimate: +%.2f revenue for %.2f cost; event %s", o.Source, o.Revenue, o.Cost, req.Event)
	}
	s.Spent += o.Cost
	s.Revenue += o.Revenue
	s.Offers++
	s.Answered[req.UserID] = off.ID
	s.steer(pace, now)
	return d
}

// affordable is the candidate's option with the best value - lambda x cost
// above zero whose cost fits left, or -1.
func affordable(u strategy.Scored, lambda, left float64) int {
	best, score := -1, 0.0
	for i, o := range u.Options {
		if o.Cost > left {
			continue
		}
		if v := o.Value - lambda*o.Cost; v > score {
			best, score = i, v
		}
	}
	return best
}

// steer moves the multiplier toward the pace line: spending above 90% of
// what the pacing allows now raises it, below 50% lowers it.
func (s *Slice) steer(pace Pacing, now time.Time) {
	allowed := s.Budget * pace.Fraction(now)
	if allowed <= 0 {
		return
	}
	switch r := s.Spent / allowed; {
	case r > 0.9:
		s.Lambda = math.Min(MaxLambda, s.Lambda*1.1+lambdaStep)
	case r < 0.5:
		s.Lambda = math.Max(0, s.Lambda*0.9-lambdaStep)
	}
}

// Status is a slice's accounting for operators (the status query).
type Status struct {
	Slice     int     `json:"slice"`
	Budget    float64 `json:"budget"`
	Spent     float64 `json:"spent"`
	Allowed   float64 `json:"allowed"` // what the pacing allows by now
	Pace      float64 `json:"pace"`    // the pacing fraction now
	Lambda    float64 `json:"lambda"`
	Revenue   float64 `json:"revenue"`
	Decisions int64   `json:"decisions"`
	Offers    int64   `json:"offers"`
	Controls  int64   `json:"controls"`
	Explores  int64   `json:"explores"`
	Capped    int64   `json:"capped"`
	Logged    int64   `json:"logged"` // decisions written to the bucket
	Runs      int     `json:"runs"`   // the slice workflow's runs (continue-as-new)
}

// Status reports the slice at now.
func (s *Slice) Status(i int, pace Pacing, now time.Time) Status {
	f := pace.Fraction(now)
	return Status{
		Slice: i, Budget: s.Budget, Spent: s.Spent, Allowed: s.Budget * f, Pace: f, Lambda: s.Lambda,
		Revenue: s.Revenue, Decisions: s.Decisions, Offers: s.Offers, Controls: s.Controls,
		Explores: s.Explores, Capped: s.Capped,
	}
}

// Total adds slices' statuses (Slice -1, Pace the budget-weighted mean).
func Total(ss []Status) Status {
	t := Status{Slice: -1}
	for _, s := range ss {
		t.Budget += s.Budget
		t.Spent += s.Spent
		t.Allowed += s.Allowed
		t.Revenue += s.Revenue
		t.Decisions += s.Decisions
		t.Offers += s.Offers
		t.Controls += s.Controls
		t.Explores += s.Explores
		t.Capped += s.Capped
		t.Logged += s.Logged
		t.Runs += s.Runs
		t.Lambda = math.Max(t.Lambda, s.Lambda)
	}
	if t.Budget > 0 {
		t.Pace = t.Allowed / t.Budget
	}
	return t
}
