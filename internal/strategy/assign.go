package strategy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// Quotas bound what one shard's assignment may give: per offer (users or
// money of chosen, non-explore offers) and per sensitive group (offered
// users). A missing key does not bound. The workflow derives them from the
// shards' tallies so that caps and the fairness bound hold in total.
type Quotas struct {
	OfferCount map[string]int64   `json:"offer_count,omitempty"`
	OfferMoney map[string]float64 `json:"offer_money,omitempty"`
	GroupCount map[string]int64   `json:"group_count,omitempty"`
	// ExploreMoney bounds the shard's exploration spending when
	// ExploreCapped (see Kept).
	ExploreCapped bool    `json:"explore_capped,omitempty"`
	ExploreMoney  float64 `json:"explore_money,omitempty"`
}

// OfferTally is one offer's share of a shard's plan.
type OfferTally struct {
	Users    int64   `json:"users"`   // treated, including explore
	Explore  int64   `json:"explore"` // of Users
	Control  int64   `json:"control"` // control users who would have got it
	Chosen   int64   `json:"chosen"`  // Users - Explore: what caps and quotas count
	Cost     float64 `json:"cost"`    // of treated users
	Money    float64 `json:"money"`   // cost of chosen (non-explore) users
	Revenue  float64 `json:"revenue"`
	Face     float64 `json:"face"`
	Withheld int64   `json:"withheld"` // by a cap quota
}

// GroupTally is one sensitive group's share of a shard's plan.
type GroupTally struct {
	Eligible int64   `json:"eligible"` // candidates and explorers (not control)
	Offered  int64   `json:"offered"`
	Chosen   int64   `json:"chosen"` // offered, not by exploration: what the fairness quota counts
	Face     float64 `json:"face"`
	Withheld int64   `json:"withheld"`
}

// SegmentTally is one segment's share of a shard's plan.
type SegmentTally struct {
	Users    int64            `json:"users"`
	Eligible int64            `json:"eligible"`
	Control  int64            `json:"control"`
	Treated  int64            `json:"treated"`
	Offers   map[string]int64 `json:"offers"`
	Cost     float64          `json:"cost"`
	Revenue  float64          `json:"revenue"`
}

// Tally is a shard's plan in aggregates; tallies add up across shards.
type Tally struct {
	Users      int64            `json:"users"`
	Ineligible int64            `json:"ineligible"`
	Suppressed map[string]int64 `json:"suppressed"`
	Control    int64            `json:"control"`
	Treated    int64            `json:"treated"`
	Explore    int64            `json:"explore"`
	NoOffer    int64            `json:"no_offer"`
	Cost       float64          `json:"cost"`
	Revenue    float64          `json:"revenue"`
	Value      float64          `json:"value"`
	Sources    map[string]int64 `json:"sources"`
	// Repaired counts the users the budget repair upgraded or added
	// (Added of them had no offer), RepairCost the extra cost and
	// RepairGain the value (the objective) it added.
	Repaired   int64                    `json:"repaired,omitempty"`
	Added      int64                    `json:"added,omitempty"`
	RepairCost float64                  `json:"repair_cost,omitempty"`
	RepairGain float64                  `json:"repair_gain,omitempty"`
	Offers     []OfferTally             `json:"offers"` // by Params.Offers index
	Segments   map[string]*SegmentTally `json:"segments"`
	Groups     map[string]*GroupTally   `json:"groups"`
	// TreatedProp sums the treated users' propensities, and TreatedLift
	// their expected response lift: the expected response rates of the
	// two groups (Measurability).
	TreatedProp float64 `json:"treated_prop,omitempty"`
	TreatedLift float64 `json:"treated_lift,omitempty"`
}

// NewTally returns an empty tally for n offers.
func NewTally(n int) Tally {
	return Tally{Suppressed: map[string]int64{}, Sources: map[string]int64{}, Offers: make([]OfferTally, n),
		Segments: map[string]*SegmentTally{}, Groups: map[string]*GroupTally{}}
}

// Merge adds o into t.
func (t *Tally) Merge(o Tally) {
	t.Users += o.Users
	t.Ineligible += o.Ineligible
	t.Control += o.Control
	t.Treated += o.Treated
	t.Explore += o.Explore
	t.NoOffer += o.NoOffer
	t.Cost += o.Cost
	t.Revenue += o.Revenue
	t.Value += o.Value
	t.Repaired += o.Repaired
	t.Added += o.Added
	t.RepairCost += o.RepairCost
	t.RepairGain += o.RepairGain
	t.TreatedProp += o.TreatedProp
	t.TreatedLift += o.TreatedLift
	for k, v := range o.Suppressed {
		t.Suppressed[k] += v
	}
	for k, v := range o.Sources {
		t.Sources[k] += v
	}
	for i, x := range o.Offers {
		y := &t.Offers[i]
		y.Users += x.Users
		y.Explore += x.Explore
		y.Control += x.Control
		y.Chosen += x.Chosen
		y.Cost += x.Cost
		y.Money += x.Money
		y.Revenue += x.Revenue
		y.Face += x.Face
		y.Withheld += x.Withheld
	}
	for k, x := range o.Segments {
		y := t.segment(k)
		y.Users += x.Users
		y.Eligible += x.Eligible
		y.Control += x.Control
		y.Treated += x.Treated
		y.Cost += x.Cost
		y.Revenue += x.Revenue
		for o, n := range x.Offers {
			y.Offers[o] += n
		}
	}
	for k, x := range o.Groups {
		y := t.group(k)
		y.Eligible += x.Eligible
		y.Offered += x.Offered
		y.Chosen += x.Chosen
		y.Face += x.Face
		y.Withheld += x.Withheld
	}
}

func (t *Tally) segment(s string) *SegmentTally {
	x := t.Segments[s]
	if x == nil {
		x = &SegmentTally{Offers: map[string]int64{}}
		t.Segments[s] = x
	}
	return x
}

func (t *Tally) group(g string) *GroupTally {
	x := t.Groups[g]
	if x == nil {
		x = &GroupTally{}
		t.Groups[g] = x
	}
	return x
}

// Assign turns one shard's scored users into plan rows at multiplier
// lambda: candidates take their best option, explorers their drawn one
// (those beyond the exploration allowance compete as candidates), control users
// are recorded with the offer they would have got, and quotas withhold the
// lowest-scoring chosen offers beyond a cap or fairness bound. fairness
// says whether groups are audited. It only reads users (workers share
// decoded shards between concurrent rounds).
func (p *Params) Assign(users []Scored, lambda float64, q Quotas, fairness bool) ([]plan.Row, Tally) {
	return p.AssignRepaired(users, lambda, q, fairness, nil)
}

// AssignRepaired is Assign followed by the shard's rounds of the budget
// repair (RepairRound): the upgrades and additions the workflow picked
// replace the users' choices, with the reason in the plan row.
func (p *Params) AssignRepaired(users []Scored, lambda float64, q Quotas, fairness bool, rounds []RepairRound) ([]plan.Row, Tally) {
	t := NewTally(len(p.Offers))
	kept := p.Kept(users, q)
	rows := make([]plan.Row, len(users))
	choice, withheld := p.choose(users, lambda, q, kept, fairness)
	before := p.repair(users, choice, kept, withheld, fairness, rounds)
	for i, w := range withheld {
		if w.group {
			t.group(users[i].Group).Withheld++
		} else {
			t.Offers[w.offer].Withheld++
		}
	}
	for i := range users {
		u := &users[i]
		r := plan.Row{
			UserID: u.UserID, Segment: u.Segment, Offer: campaign.None, Channel: campaign.None, Source: campaign.None, HoldoutOffer: campaign.None,
			Propensity: u.Prop, AssignmentProbability: 1, CampaignID: p.Campaign, WindowStart: p.Start.UTC(), WindowEnd: p.End.UTC(),
		}
		facts := []string{u.Facts[0], u.Facts[1]}
		seg := t.segment(u.Segment)
		seg.Users++
		t.Users++
		c := choice[i]
		movedWhy := "" // a moved user's one reason: the cap, then the estimate
		if w, ok := withheld[i]; ok {
			if !w.moved || w.group {
				c = -1
				facts = append(facts, w.why)
			} else {
				movedWhy = w.why + ", "
			}
		}
		switch u.Status {
		case Ineligible:
			t.Ineligible++
			r.Reasons = strings.Join(append(facts, "outside audience: "+u.Why), "; ")
			rows[i] = r
			continue
		case Suppressed:
			t.Suppressed[u.Why]++
			r.Reasons = strings.Join(append(facts, "suppressed: "+u.Why), "; ")
			rows[i] = r
			continue
		}
		seg.Eligible++
		isExplore := u.Status == Explore && kept[i]
		if u.Status != Control && fairness {
			t.group(u.Group).Eligible++
		}
		r.AssignmentProbability = p.assignmentProbability(u, c, lambda, isExplore)
		switch {
		case u.Status == Control:
			// Held out: no offer, no cost; the offer they would have got
			// is what the evaluation compares them with.
			r.Control = true
			t.Control++
			seg.Control++
			if c >= 0 {
				t.Offers[u.Options[c].Offer].Control++
				r.HoldoutOffer = p.Offers[u.Options[c].Offer].ID
				r.HoldoutExpectedIncrementalRevenue = u.Options[c].Revenue
			}
			facts = append(facts, "control holdout: not contacted")
		case c < 0:
			t.NoOffer++
			if _, ok := withheld[i]; !ok {
				if lambda > 0 && u.Best(0) >= 0 {
					facts = append(facts, fmt.Sprintf("budget: value per unit of cost below the cut-off %.2f", lambda))
				} else {
					facts = append(facts, "no offer pays for itself")
				}
			}
		default:
			o := u.Options[c]
			off := p.Offers[o.Offer]
			r.Offer, r.Channel, r.ExpectedIncrementalRevenue, r.ExpectedCost, r.Source = off.ID, off.Channel, o.Revenue, o.Cost, o.Source
			t.Sources[o.Source]++
			ot := &t.Offers[o.Offer]
			ot.Users++
			ot.Cost += o.Cost
			ot.Revenue += o.Revenue
			ot.Face += o.Face
			t.Treated++
			t.Cost += o.Cost
			t.Revenue += o.Revenue
			t.Value += o.Value
			t.TreatedProp += u.Prop
			if u.Basket > 0 {
				t.TreatedLift += o.Revenue / u.Basket
			}
			seg.Treated++
			seg.Offers[r.Offer]++
			seg.Cost += o.Cost
			seg.Revenue += o.Revenue
			if fairness {
				gt := t.group(u.Group)
				gt.Offered++
				gt.Face += o.Face
				if !isExplore {
					gt.Chosen++
				}
			}
			if isExplore {
				r.Explore = true
				ot.Explore++
				t.Explore++
				facts = append(facts, "exploration: offer drawn at random")
			} else {
				ot.Chosen++
				ot.Money += o.Cost
				if b, ok := before[i]; ok {
					t.Repaired++
					extra, gain := o.Cost, o.Value
					if b < 0 {
						t.Added++
						movedWhy = "budget left at the cut-off: added, "
					} else {
						extra -= u.Options[b].Cost
						gain -= u.Options[b].Value
						movedWhy = "budget left at the cut-off: upgraded from " + p.Offers[u.Options[b].Offer].ID + ", "
					}
					t.RepairCost += extra
					t.RepairGain += gain
				}
				facts = append(facts, fmt.Sprintf("%s%s estimate: +%.2f revenue for %.2f cost", movedWhy, o.Source, o.Revenue, o.Cost))
			}
		}
		r.Reasons = strings.Join(facts, "; ")
		rows[i] = r
	}
	return rows, t
}

// assignmentProbability is the probability that the randomization gave
// eligible user u what they get: option c (an index into u.Options; the
// offer they would have got for control users), or no offer when c < 0 or
// u is held out; lambda is the budget multiplier. The decision's own choice is a deterministic function of
// the user's features, so only the control draw (share ControlShare) and
// the exploration draw (share ExploreShare among the treatable, an offer
// drawn with the exploration weights) are random:
//
//	P(no offer) = ControlShare + (1-ControlShare)(1-ExploreShare)[choice is none]
//	P(offer a)  = (1-ControlShare)(ExploreShare q_a + (1-ExploreShare)[choice is a])
//
// where q_a is a's share of the exploration weights of u's options. Users
// without options get no offer whatever the draws: probability 1.
func (p *Params) assignmentProbability(u *Scored, c int, lambda float64, explore bool) float64 {
	if len(u.Options) == 0 {
		return 1
	}
	ctl, exp := max(p.ControlShare, p.ControlBelow), p.ExploreShare
	greedy := c // the decision's own choice, without the draws
	if explore || u.Status == Explore {
		greedy = u.Best(lambda)
		if c >= 0 && !explore {
			greedy = c
		}
	}
	if u.Status == Control || c < 0 {
		if greedy < 0 {
			return ctl + (1-ctl)*(1-exp)
		}
		return ctl
	}
	pr := exp * p.exploreShareOf(u, c)
	if greedy == c {
		pr += 1 - exp
	}
	return (1 - ctl) * pr
}

// exploreShareOf is option c's probability in u's exploration draw
// (explorePick's weights).
func (p *Params) exploreShareOf(u *Scored, c int) float64 {
	total, w := 0.0, 0.0
	for i, o := range u.Options {
		x := p.exploreWeight(o)
		total += x
		if i == c {
			w = x
		}
	}
	return w / total
}

// Split divides total among shards in proportion to their use, by largest
// remainder (ties to the lower shard), so the parts add up to total and a
// shard never gets more than it uses. total < sum(use) is the interesting
// case; otherwise every shard keeps its use.
func Split(total int64, use []int64) []int64 {
	out := make([]int64, len(use))
	var sum int64
	for _, u := range use {
		sum += u
	}
	if total >= sum {
		copy(out, use)
		return out
	}
	if total <= 0 || sum == 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	var given int64
	for i, u := range use {
		exact := float64(total) * float64(u) / float64(sum)
		out[i] = int64(math.Floor(exact))
		given += out[i]
		rems = append(rems, rem{i, exact - float64(out[i])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for k := 0; given < total && k < len(rems); k++ {
		if out[rems[k].i] < use[rems[k].i] {
			out[rems[k].i]++
			given++
		}
	}
	return out
}

// SplitMoney divides a money total among shards in proportion to their
// use; the parts add up to at most total.
func SplitMoney(total float64, use []float64) []float64 {
	out := make([]float64, len(use))
	sum := 0.0
	for _, u := range use {
		sum += u
	}
	for i, u := range use {
		if total >= sum {
			out[i] = u
		} else if sum > 0 {
			out[i] = total * u / sum
		}
	}
	return out
}

// withhold is why a quota withheld a user's chosen offer.
type withhold struct {
	why   string
	group bool // a fairness quota, else an offer cap
	offer int  // the capped offer (index into Params.Offers); -1 for a fairness quota
	moved bool // the user got their next best offer instead (choice holds it)
}

// bounds reports whether q bounds offers or groups (not only exploration).
func (q Quotas) bounds() bool {
	return len(q.OfferCount)+len(q.OfferMoney)+len(q.GroupCount) > 0
}

// choose gives every user of a shard their option at lambda (an index
// into Options, or -1): candidates and explorers beyond the allowance
// their best, kept explorers their draw, control users what they would
// have got. Quotas then apply, explorers first (their draw must stay
// random) and then by score, so a cap withholds the least valuable
// choices: a candidate whose offer is full moves to their next best offer
// that is not (if it pays at lambda), an explorer's is withheld, and the
// fairness bound withholds. Assign and the quota-bound Curve share it, so
// the curve is what assignment spends.
func (p *Params) choose(users []Scored, lambda float64, q Quotas, kept []bool, fairness bool) ([]int, map[int]withhold) {
	choice := make([]int, len(users))
	var chosen []int // candidates with an offer, for quotas
	for i := range users {
		u := &users[i]
		choice[i] = -1
		switch {
		case u.Status == Control:
			choice[i] = u.Best(lambda)
		case u.Status == Explore && kept[i]:
			choice[i] = u.Pick
			chosen = append(chosen, i)
		case u.Status == Candidate || u.Status == Explore:
			if choice[i] = u.Best(lambda); choice[i] >= 0 {
				chosen = append(chosen, i)
			}
		}
	}
	withheld := make(map[int]withhold)
	if !q.bounds() {
		return choice, withheld
	}
	isExp := func(i int) bool { return users[i].Status == Explore && kept[i] }
	score := func(i int) float64 {
		o := users[i].Options[choice[i]]
		return o.Value - lambda*o.Cost
	}
	slices.SortFunc(chosen, func(a, b int) int {
		ea, eb := isExp(a), isExp(b)
		switch {
		case ea && !eb:
			return -1
		case eb && !ea:
			return 1
		case ea && eb:
			return strings.Compare(users[a].UserID, users[b].UserID)
		}
		return cmp.Or(cmp.Compare(score(b), score(a)), strings.Compare(users[a].UserID, users[b].UserID))
	})
	count := map[string]int64{}
	money := map[string]float64{}
	group := map[string]int64{}
	// full reports why option o of user i cannot be given, or "".
	full := func(i int, o Option) string {
		id := p.Offers[o.Offer].ID
		if n, ok := q.OfferCount[id]; ok && count[id]+1 > n {
			return "cap on " + id + " reached"
		}
		if m, ok := q.OfferMoney[id]; ok && money[id]+o.Cost > m {
			return "budget cap on " + id + " reached"
		}
		return ""
	}
	for _, i := range chosen {
		u := &users[i]
		o := u.Options[choice[i]]
		if why := full(i, o); why != "" {
			w := withhold{why: why, offer: o.Offer}
			next := -1
			if !isExp(i) {
				// The next best option that pays at lambda and is not full.
				best := 0.0
				for j, alt := range u.Options {
					if v := alt.Value - lambda*alt.Cost; v > best && alt.Offer != o.Offer && full(i, alt) == "" {
						next, best = j, v
					}
				}
			}
			if next < 0 {
				withheld[i] = w
				continue
			}
			w.moved, w.why = true, why+": next best offer"
			withheld[i] = w
			choice[i] = next
			o = u.Options[next]
		}
		g := u.Group
		if n, ok := q.GroupCount[g]; ok && fairness && group[g]+1 > n {
			withheld[i] = withhold{why: "fairness bound", group: true, offer: -1}
			continue
		}
		id := p.Offers[o.Offer].ID
		count[id]++
		money[id] += o.Cost
		group[g]++
	}
	return choice, withheld
}

// AssignmentProbability is the probability that the control and
// exploration draws gave u what it gets, option c (or no offer when c < 0
// or u is held out), at multiplier lambda; explore says the offer is u's
// exploration draw. Live decisions (internal/live), taken one user at a
// time, log it as Assign logs it for batch plans.
func (p *Params) AssignmentProbability(u *Scored, c int, lambda float64, explore bool) float64 {
	return p.assignmentProbability(u, c, lambda, explore)
}
