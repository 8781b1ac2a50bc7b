package strategy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/shard"
)

// Suppression reasons.
const (
	OptedOut          = "opted_out"
	RecentlyContacted = "recently_contacted"
	// Outlier is a user DBSCAN left out of every dense cluster, excluded
	// by a template with exclude_outliers (docs/FEATURES.md, "Density
	// clusters").
	Outlier = "outlier"
)

// Params are a campaign's decision rules: the template's audience, offers
// and shares, resolved against the catalog. They hold no user data, so the
// workflow carries them to every shard.
type Params struct {
	Template     string
	Objective    string           // "profit" or "revenue"
	Margin       float64          // gross margin on incremental revenue
	Offers       []campaign.Offer // the template's offers, retired ones removed, in template order
	Audience     campaign.Audience
	ControlShare float64
	Stratify     bool    // control group stratified by segment (exact share per shard and segment)
	ExploreShare float64 // share of treatable users given a random eligible offer
	// ExploreWeights weigh offers in exploration draws (the adjustment
	// state's exploration shares); missing offers weigh 1.
	ExploreWeights map[string]float64
	// MinControl is the template's minimum control group (0: none). When
	// the share's control group falls short, the workflow sets
	// ControlBelow: every eligible user whose control hash is below it is
	// held out too (TopUpControl), so the group keeps at least MinControl
	// users (ControlThreshold).
	MinControl    int
	ControlBelow  float64
	Salt          string  // seeds control and exploration; the campaign id
	DefaultBasket float64 // expected order value of users who never ordered
	// Campaign and the window [Start, End) are written on every plan row.
	Campaign   string
	Start, End time.Time
}

// User is what the decision knows of one user.
type User struct {
	ID          string
	Segment     string
	Propensity  float64  // probability of buying within the horizon without an offer
	Basket      float64  // expected order value
	Orders      float64  // past orders
	RecencyDays float64  // days since the last order
	Member      bool     // in the loyalty programme (ProxyMember without profiles)
	Categories  []string // interests: the user's top categories
	Suppressed  string   // a suppression reason, or ""
}

// Estimate is the expected effect of giving one offer to one user.
type Estimate struct {
	Revenue float64 // expected incremental revenue
	Cost    float64 // expected cost: redemptions x face value
	Face    float64 // the offer's face value for this user (discount amount)
	Source  string  // uplift, state or prior
}

// Estimator predicts the effect of an offer on a user from a model trained
// on campaign history; ok is false when it has no model for the offer.
type Estimator interface {
	Estimate(u User, o campaign.Offer, features []float64) (e Estimate, ok bool)
}

// Prior is the estimate without history: the offer's prior lift moves
// users who would not buy anyway (points and member prices reward those
// who buy anyway, so theirs scales with the propensity); everyone who
// redeems costs the face value, including those who would have bought.
func Prior(o campaign.Offer, u User) Estimate {
	p := clamp01(u.Propensity)
	lift := o.Lift * (1 - p)
	if o.Kind == campaign.Points || o.Kind == campaign.MemberPrice {
		lift = o.Lift * p
	}
	face := o.Face(u.Basket)
	return Estimate{Revenue: lift * u.Basket, Cost: clamp01(p+lift) * face, Face: face, Source: SourcePrior}
}

// FromState is the estimate from a measured segment x offer (or offer)
// effect of the adjustment state.
func FromState(o campaign.Offer, u User, e adjust.Estimate) Estimate {
	face := o.Face(u.Basket)
	return Estimate{Revenue: e.Revenue, Cost: clamp01(clamp01(u.Propensity)+e.Response) * face, Face: face, Source: SourceState}
}

// Value is the objective of an estimate: incremental profit (margin x
// revenue - cost) or incremental revenue.
func (p *Params) Value(e Estimate) float64 {
	if p.Objective == "revenue" {
		return e.Revenue
	}
	return p.Margin*e.Revenue - e.Cost
}

// InAudience reports whether u passes the template's audience rules, and
// the rule that excluded it otherwise.
func InAudience(a campaign.Audience, u User) (bool, string) {
	switch {
	case a.MinOrders > 0 && u.Orders < float64(a.MinOrders):
		return false, fmt.Sprintf("fewer than %d orders", a.MinOrders)
	case a.MaxOrders > 0 && u.Orders > float64(a.MaxOrders):
		return false, fmt.Sprintf("more than %d orders", a.MaxOrders)
	case a.InactiveDaysMin > 0 && u.RecencyDays < a.InactiveDaysMin:
		return false, fmt.Sprintf("active within %.0f days", a.InactiveDaysMin)
	case a.InactiveDaysMax > 0 && u.RecencyDays > a.InactiveDaysMax:
		return false, fmt.Sprintf("inactive beyond %.0f days", a.InactiveDaysMax)
	case a.MembersOnly && !u.Member:
		return false, "not a member"
	case len(a.Segments) > 0 && !slices.Contains(a.Segments, u.Segment):
		return false, "segment " + u.Segment + " not targeted"
	case len(a.Categories) > 0 && !anyOf(a.Categories, u.Categories):
		return false, "no interest in " + strings.Join(a.Categories, ", ")
	}
	return true, ""
}

// Eligible reports whether u may receive o under the offer's eligibility.
func Eligible(o campaign.Offer, u User) bool {
	e := o.Eligibility
	switch {
	case e.MembersOnly && !u.Member:
		return false
	case e.MinOrders > 0 && u.Orders < float64(e.MinOrders):
		return false
	case len(e.Segments) > 0 && !slices.Contains(e.Segments, u.Segment):
		return false
	case len(e.Categories) > 0 && !anyOf(e.Categories, u.Categories):
		return false
	}
	return true
}

func anyOf(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// Status is where a user stands before the budget is applied.
type Status uint8

// Statuses.
const (
	Ineligible Status = iota // outside the audience
	Suppressed               // opted out or contacted recently
	Control                  // held out, never contacted
	Explore                  // given a random eligible offer
	Candidate                // competes for the budget
)

// Scored is one user's options after scoring: written by the scoring
// pass, read by the budget and assignment passes.
type Scored struct {
	UserID  string    `json:"u"`
	Segment string    `json:"s"`
	Status  Status    `json:"st"`
	Why     string    `json:"w,omitempty"` // audience rule or suppression reason
	Group   string    `json:"g,omitempty"` // sensitive attribute value (fairness audit only)
	Prop    float64   `json:"p"`
	Basket  float64   `json:"b"`
	Options []Option  `json:"o,omitempty"` // eligible offers with positive value or explore pick; template order
	Pick    int       `json:"x"`           // explore: index into Options of the drawn offer
	Facts   [2]string `json:"f"`           // the two facts that most describe the user
}

// Option is one eligible offer for one user.
type Option struct {
	Offer   int     `json:"i"` // index into Params.Offers
	Value   float64 `json:"v"` // the objective
	Revenue float64 `json:"r"`
	Cost    float64 `json:"c"`
	Face    float64 `json:"d"`
	Source  string  `json:"s"`
	// Hopeful is set when the value is negative but positive at the upper
	// end of the response effect's 95% interval (the adjustment state's
	// segment x offer cell, or the offer's estimate without one):
	// exploration keeps its full weight.
	Hopeful bool `json:"h,omitempty"`
}

// Score is the scoring pass for one user: audience, suppression, control,
// exploration and every eligible offer's estimate. est may be nil; state
// may be nil.
func (p *Params) Score(u User, x []float64, est Estimator, state *adjust.State) Scored {
	s := Scored{UserID: u.ID, Segment: u.Segment, Prop: u.Propensity, Basket: u.Basket, Pick: -1}
	s.Facts = facts(u)
	if ok, why := InAudience(p.Audience, u); !ok {
		s.Status, s.Why = Ineligible, why
		return s
	}
	if u.Suppressed != "" {
		s.Status, s.Why = Suppressed, u.Suppressed
		return s
	}
	for i, o := range p.Offers {
		if !Eligible(o, u) {
			continue
		}
		var e Estimate
		var ok bool
		if est != nil {
			e, ok = est.Estimate(u, o, x)
		}
		se, inState := state.Estimate(u.Segment, o.ID)
		if !ok && inState {
			e, ok = FromState(o, u, se), true
		}
		if !ok {
			e = Prior(o, u)
		}
		opt := Option{Offer: i, Value: p.Value(e), Revenue: e.Revenue, Cost: e.Cost, Face: e.Face, Source: e.Source}
		if inState && opt.Value < 0 && se.ResponseSD > 0 {
			d := 1.96 * se.ResponseSD
			opt.Hopeful = p.Value(Estimate{Revenue: e.Revenue + d*u.Basket, Cost: e.Cost + d*e.Face}) > 0
		}
		s.Options = append(s.Options, opt)
	}
	s.Status = Candidate
	if !p.Stratify && shard.Unit(p.Salt+"/control", u.ID) < p.ControlShare {
		s.Status = Control
	} else if len(s.Options) > 0 && shard.Unit(p.Salt+"/explore", u.ID) < p.ExploreShare {
		s.Status, s.Pick = Explore, p.explorePick(u.ID, s.Options)
	}
	return s
}

// UnprofitableExploreWeight scales the exploration weight of options whose
// estimated value is negative, unless Hopeful: they are still drawn (so
// their effects can be learnt, with their probability logged) but less
// often, because a uniformly random offer is expensive (at 5% exploration,
// about 0.05 of the oracle's profit in the simulator). A hopeful option
// (its segment cell's interval reaches a positive value) keeps its weight:
// without that, an offer underestimated where no decision gave it is
// explored least exactly where it is wrong (docs/ARCHITECTURE.md, "The
// closed loop").
const UnprofitableExploreWeight = 0.25

// exploreWeight is option o's weight in exploration draws: its offer's
// ExploreWeights entry (1 when missing), scaled down when its estimated
// value is negative.
func (p *Params) exploreWeight(o Option) float64 {
	w := 1.0
	if x, ok := p.ExploreWeights[p.Offers[o.Offer].ID]; ok && x > 0 {
		w = x
	}
	if o.Value < 0 && !o.Hopeful {
		w *= UnprofitableExploreWeight
	}
	return w
}

// explorePick draws one of the options, weighted by exploreWeight, from a
// hash of the user: the same user gets the same draw.
func (p *Params) explorePick(id string, opts []Option) int {
	total := 0.0
	w := make([]float64, len(opts))
	for i, o := range opts {
		w[i] = p.exploreWeight(o)
		total += w[i]
	}
	r := shard.Unit(p.Salt+"/explore-pick", id) * total
	for i := range w {
		if r < w[i] {
			return i
		}
		r -= w[i]
	}
	return len(w) - 1
}

// StratifyControl puts an exact share of each segment's treatable users
// (candidates and explorers) of one shard in the control group: within a
// segment, the users with the lowest control hash, round(share x n) of
// them. The share holds per segment to within half a user per shard.
func (p *Params) StratifyControl(users []Scored) {
	if !p.Stratify || p.ControlShare <= 0 {
		return
	}
	bySeg := map[string][]int{}
	for i, u := range users {
		if u.Status == Candidate || u.Status == Explore {
			bySeg[u.Segment] = append(bySeg[u.Segment], i)
		}
	}
	for _, idx := range bySeg {
		sortByHash(idx, users, p.Salt+"/control")
		k := int(math.Floor(p.ControlShare*float64(len(idx)) + 0.5))
		for _, i := range idx[:k] {
			users[i].Status, users[i].Pick = Control, -1
		}
	}
}

// ControlBins is the resolution of the control hashes' histogram
// (ControlHist) from which the workflow finds ControlBelow.
const ControlBins = 1000

// ControlHist counts one shard's eligible users (candidates, explorers and
// control users) by their control hash in ControlBins equal bins of
// [0, 1): counts only, so the workflow can find the hash below which
// MinControl users fall without seeing any user.
func (p *Params) ControlHist(users []Scored) []int64 {
	h := make([]int64, ControlBins)
	for i := range users {
		switch users[i].Status {
		case Candidate, Explore, Control:
			b := int(shard.Unit(p.Salt+"/control", users[i].UserID) * ControlBins)
			h[min(max(b, 0), ControlBins-1)]++
		}
	}
	return h
}

// ControlThreshold is the ControlBelow that holds out at least minControl
// of the eligible users counted by hist (the shards' ControlHist added up),
// and whether it exists: the control group may take at most half of the
// eligible users, so that as many are treated. Users below the threshold
// number at least minControl and at most minControl plus one bin's users.
func ControlThreshold(hist []int64, minControl int) (float64, bool) {
	var total int64
	for _, n := range hist {
		total += n
	}
	if minControl <= 0 || 2*int64(minControl) > total {
		return 0, false
	}
	var cum int64
	for b, n := range hist {
		if cum += n; cum >= int64(minControl) {
			return float64(b+1) / float64(len(hist)), true
		}
	}
	return 0, false
}

// ControlFloor is the ControlBelow that tops the control group up to
// minControl users, from the eligible users' control-hash histogram
// (ControlHist, added up over the shards) and the control users the share
// held out: 0 when there is no minimum, when the share's group holds it,
// or when the audience cannot hold it and treat as many users (the
// campaign is then not measurable: Measurability).
func ControlFloor(hist []int64, control int64, minControl int) float64 {
	if minControl <= 0 || control >= int64(minControl) {
		return 0
	}
	t, _ := ControlThreshold(hist, minControl)
	return t
}

// TopUpControl returns users with every candidate and explorer whose
// control hash is below p.ControlBelow held out as well. users is not
// modified (workers share decoded shards): with a threshold the result is
// a copy. Without one it is users itself.
func (p *Params) TopUpControl(users []Scored) []Scored {
	if p.ControlBelow <= 0 {
		return users
	}
	out := make([]Scored, len(users))
	copy(out, users)
	for i := range out {
		u := &out[i]
		if (u.Status == Candidate || u.Status == Explore) && shard.Unit(p.Salt+"/control", u.UserID) < p.ControlBelow {
			u.Status, u.Pick = Control, -1
		}
	}
	return out
}

// sortByHash orders idx (indices into users) by shard.Unit(salt, user id),
// then user id. The hashes are computed once per user rather than in
// every comparison (they were most of the sort's time), and the sort sees
// the same comparisons in the same order as one comparing hashes on the
// fly, so the order is the same.
func sortByHash(idx []int, users []Scored, salt string) {
	type keyed struct {
		h float64
		i int
	}
	ks := make([]keyed, len(idx))
	for j, i := range idx {
		ks[j] = keyed{shard.Unit(salt, users[i].UserID), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.h, b.h), strings.Compare(users[a.i].UserID, users[b.i].UserID))
	})
	for j, k := range ks {
		idx[j] = k.i
	}
}

// BudgetOptions are the options a candidate competes with.
func (s *Scored) BudgetOptions() []budget.Option {
	out := make([]budget.Option, len(s.Options))
	for i, o := range s.Options {
		out[i] = budget.Option{Value: o.Value, Cost: o.Cost, Revenue: o.Revenue}
	}
	return out
}

// Best is the option a candidate (or control user, for the record) takes at
// multiplier lambda, or -1.
func (s *Scored) Best(lambda float64) int {
	best, score := -1, 0.0
	for i, o := range s.Options {
		if v := o.Value - lambda*o.Cost; v > score {
			best, score = i, v
		}
	}
	return best
}

func facts(u User) [2]string {
	var f [2]string
	switch p := u.Propensity; {
	case p < 0.2:
		f[0] = fmt.Sprintf("low propensity %.2f", p)
	case p > 0.6:
		f[0] = fmt.Sprintf("high propensity %.2f", p)
	default:
		f[0] = fmt.Sprintf("propensity %.2f", p)
	}
	if u.Segment != "" {
		f[1] = "segment " + u.Segment
	} else {
		f[1] = fmt.Sprintf("basket %.0f", u.Basket)
	}
	return f
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// ExploreBudgetFactor bounds exploration's spending: at most this many
// times the exploration share of the budget, so that costly offers drawn
// at random cannot crowd out the chosen ones.
const ExploreBudgetFactor = 2

// Kept marks the explorers of one shard that keep their drawn offer: all of
// them, or under a quota's exploration allowance, those that fit it in the
// order of their exploration hash (a random order). The others compete as
// candidates.
func (p *Params) Kept(users []Scored, q Quotas) []bool {
	kept := make([]bool, len(users))
	var idx []int
	for i := range users {
		if users[i].Status == Explore {
			kept[i] = true
			idx = append(idx, i)
		}
	}
	if !q.ExploreCapped {
		return kept
	}
	sortByHash(idx, users, p.Salt+"/explore")
	spent := 0.0
	for _, i := range idx {
		c := users[i].Options[users[i].Pick].Cost
		if spent+c > q.ExploreMoney {
			kept[i] = false
			continue
		}
		spent += c
	}
	return kept
}

// Curve is the budget curve of one shard's candidates over grid (explorers
// beyond the exploration allowance compete as candidates); the useful
// multipliers are bounded by the blocks' ScoreStats.MaxRatio. When q
// bounds offers or groups, each point is what Assign at that multiplier
// spends after the quotas withhold (fairness says whether group quotas
// apply), so the budget can be solved again once caps or the fairness
// bound have withheld offers. It only reads users (workers share decoded
// shards between concurrent rounds).
func (p *Params) Curve(users []Scored, grid []float64, q Quotas, fairness bool) budget.Curve {
	c := budget.NewCurve(grid)
	kept := p.Kept(users, q)
	competes := func(i int) bool {
		u := &users[i]
		return u.Status == Candidate || (u.Status == Explore && !kept[i])
	}
	if !q.bounds() {
		for i := range users {
			if competes(i) {
				c.Add(users[i].BudgetOptions())
			}
		}
		return c
	}
	for k, l := range grid {
		choice, withheld := p.choose(users, l, q, kept, fairness)
		for i := range users {
			if w, ok := withheld[i]; (ok && (!w.moved || w.group)) || choice[i] < 0 || !competes(i) {
				continue
			}
			o := users[i].Options[choice[i]]
			c.Cost[k] += o.Cost
			c.Value[k] += o.Value
			c.Revenue[k] += o.Revenue
			c.Chosen[k]++
		}
	}
	return c
}

// ExploreCost is the expected cost of one shard's exploration offers.
func ExploreCost(users []Scored) float64 {
	cost := 0.0
	for i := range users {
		if u := &users[i]; u.Status == Explore {
			cost += u.Options[u.Pick].Cost
		}
	}
	return cost
}
