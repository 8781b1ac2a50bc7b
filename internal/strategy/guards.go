package strategy

import (
	"fmt"
	"math"
	"slices"

	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/power"
)

// AddCapQuotas tightens qs (one per shard) so that every offer cap holds in
// total: the chosen (non-explore) users of a capped offer are limited to
// the cap minus what exploration already gave it, split among shards in
// proportion to their use. It reports whether anything was added.
// Exploration counts toward caps (explorers keep their draw first).
func (p *Params) AddCapQuotas(qs []Quotas, tallies []Tally) bool {
	added := false
	for oi, o := range p.Offers {
		users := make([]int64, len(tallies))
		money := make([]float64, len(tallies))
		var total int64
		var totalMoney float64
		for s, t := range tallies {
			x := t.Offers[oi]
			users[s], money[s] = x.Users, x.Cost
			total += x.Users
			totalMoney += x.Cost
		}
		if o.Caps.Count > 0 && total > o.Caps.Count {
			parts := Split(o.Caps.Count, users)
			for s := range qs {
				if qs[s].OfferCount == nil {
					qs[s].OfferCount = map[string]int64{}
				}
				if old, ok := qs[s].OfferCount[o.ID]; !ok || parts[s] < old {
					qs[s].OfferCount[o.ID] = parts[s]
				}
			}
			added = true
		}
		if o.Caps.Money > 0 && totalMoney > o.Caps.Money {
			parts := SplitMoney(o.Caps.Money, money)
			for s := range qs {
				if qs[s].OfferMoney == nil {
					qs[s].OfferMoney = map[string]float64{}
				}
				if old, ok := qs[s].OfferMoney[o.ID]; !ok || parts[s] < old {
					qs[s].OfferMoney[o.ID] = parts[s]
				}
			}
			added = true
		}
	}
	return added
}

// AddFairnessQuotas tightens qs so that no group's offer rate exceeds the
// lowest group's by more than maxGap: over-served groups keep their best
// chosen offers up to the bound. Withholding only lowers cost, so the
// budget still holds. It reports whether anything was added.
func AddFairnessQuotas(qs []Quotas, tallies []Tally, maxGap float64) bool {
	if maxGap <= 0 {
		return false
	}
	total := NewTally(0)
	for _, t := range tallies {
		total.Merge(Tally{Groups: t.Groups})
	}
	minRate := math.Inf(1)
	for _, g := range total.Groups {
		if g.Eligible > 0 {
			minRate = math.Min(minRate, float64(g.Offered)/float64(g.Eligible))
		}
	}
	added := false
	for _, name := range sortedKeys(total.Groups) {
		g := total.Groups[name]
		if g.Eligible == 0 || float64(g.Offered)/float64(g.Eligible) <= minRate+maxGap+1e-12 {
			continue
		}
		allowed := int64(math.Floor((minRate + maxGap) * float64(g.Eligible)))
		chosen := make([]int64, len(tallies))
		for s, t := range tallies {
			if x := t.Groups[name]; x != nil {
				chosen[s] = x.Offered
			}
		}
		parts := Split(allowed, chosen)
		for s := range qs {
			if qs[s].GroupCount == nil {
				qs[s].GroupCount = map[string]int64{}
			}
			if old, ok := qs[s].GroupCount[name]; !ok || parts[s] < old {
				qs[s].GroupCount[name] = parts[s]
			}
		}
		added = true
	}
	return added
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Outcome is what the workflow learned while solving, for the summary.
type Outcome struct {
	Budget        float64 // the template's or run's budget; 0: none
	Lambda        float64
	Unconstrained float64      // cost at lambda = 0
	ExploreCost   float64      // reserved for exploration before the multiplier is solved
	Curve         budget.Curve // the first (full-range) round, for the lift curve
	Fairness      *campaign.Fairness
	Quotas        bool // caps or fairness quotas were applied
	Resolves      int  // times the multiplier was solved again under the quotas
	// Repair is what the budget repair did after the multiplier (nil: it
	// did not run).
	Repair *RepairOutcome
}

// MaxResolves bounds how often the multiplier is solved again under
// quotas: each time, more quota rounds may withhold a little more.
const MaxResolves = 3

// ResolveSlack is the share of the budget that quotas may leave unspent
// before the multiplier is solved again under them.
const ResolveSlack = 0.01

// NeedsResolve reports whether the budget should be solved again after
// caps or the fairness bound withheld offers: the budget bound (a
// positive multiplier), quotas applied, and they left more than
// ResolveSlack of the budget unspent (spent is the plan's expected cost).
// Solving under the quotas lowers the multiplier, so the money a cap or
// the fairness bound freed goes to the next best users.
func (out Outcome) NeedsResolve(spent float64) bool {
	return out.Budget > 0 && out.Lambda > 0 && out.Quotas && out.Resolves < MaxResolves && spent < (1-ResolveSlack)*out.Budget
}

// measurability states what the plan's control group can measure
// (Measurability) under template t.
func (p *Params) measurability(t *campaign.Template, total Tally) Measurability {
	m := Measurability{HeldOut: total.Control, Treated: total.Treated, MinControl: p.MinControl,
		ToppedUp: p.ControlBelow > 0, ControlBelow: p.ControlBelow}
	for _, o := range total.Offers {
		m.Control += o.Control
	}
	if total.Treated > 0 {
		m.ControlRate = min(total.TreatedProp/float64(total.Treated), 1)
		m.TreatedRate = min(max((total.TreatedProp+total.TreatedLift)/float64(total.Treated), 0), 1)
	}
	m.ExpectedLift = m.TreatedRate - m.ControlRate
	if mdl, ok := power.Detectable(m.ControlRate, m.TreatedRate, m.Control, m.Treated); ok {
		m.MDL = &mdl
	}
	pp := func(v float64) string { return fmt.Sprintf("%.1f pp", 100*v) }
	switch {
	case total.Treated == 0:
		m.Measurable, m.Detail = true, "no user is treated: nothing to measure"
	case total.Control < int64(p.MinControl):
		m.Detail = fmt.Sprintf("not measurable: the audience is too small to hold the template's minimum of %d control users and treat as many (%d held out)", p.MinControl, total.Control)
	case m.Control == 0:
		m.Detail = fmt.Sprintf("not measurable: no control user would have got an offer (%d held out), so the campaign cannot be evaluated", total.Control)
	case *m.MDL >= 1-m.ControlRate:
		m.Detail = fmt.Sprintf("not measurable: %d control users cannot tell even the largest possible lift from none", m.Control)
	default:
		m.Measurable = true
		m.Detail = fmt.Sprintf("%d control users (of %d held out) can detect a response lift of %s or more (80%% power, 5%% level); expected %s", m.Control, total.Control, pp(*m.MDL), pp(m.ExpectedLift))
	}
	if !m.Measurable {
		if m.MDL != nil {
			m.Detail += fmt.Sprintf("; the smallest detectable lift is %s", pp(*m.MDL))
		}
		m.Action = campaign.UnmeasurablePublish
		if t != nil {
			m.Action = t.UnmeasurableAction()
		}
	}
	return m
}

// Summarize builds the decision's summary from the shards' tallies.
func (p *Params) Summarize(t *campaign.Template, total Tally, out Outcome) Summary {
	s := Summary{
		Template: t.Name, Event: t.Event, Objective: p.Objective, Margin: p.Margin, Salt: p.Salt, MaxPerUser: 1,
		Audience: Audience{
			Users: total.Users, Ineligible: total.Ineligible, Suppressed: total.Suppressed, Control: total.Control,
			Treated: total.Treated, Explore: total.Explore, NoOffer: total.NoOffer,
		},
		ExpectedIncrementalRevenue: total.Revenue, ExpectedCost: total.Cost,
		ExpectedIncrementalProfit: p.Margin*total.Revenue - total.Cost,
		Sources:                   total.Sources,
		Budget: Budget{Total: out.Budget, Used: total.Cost, Lambda: out.Lambda, Unconstrained: out.Unconstrained,
			Explore: out.ExploreCost, Resolves: out.Resolves},
	}
	if r := out.Repair; r != nil {
		s.Budget.Repair = &BudgetRepair{Rounds: r.Rounds, Before: r.Before, Users: total.Repaired, Added: total.Added, Cost: total.RepairCost, Gain: total.RepairGain}
	}
	var supp int64
	for _, n := range total.Suppressed {
		supp += n
	}
	s.Audience.Eligible = total.Users - total.Ineligible - supp
	if s.Audience.Eligible > 0 {
		s.Audience.ControlShare = float64(total.Control) / float64(s.Audience.Eligible)
	}
	if total.Cost > 0 {
		s.ROI = s.ExpectedIncrementalProfit / total.Cost
	}
	if out.Budget > 0 {
		s.Budget.Share = total.Cost / out.Budget
	}
	for i, o := range p.Offers {
		x := total.Offers[i]
		st := OfferStat{Offer: o.ID, Kind: o.Kind, Channel: o.Channel, Users: x.Users, Explore: x.Explore, Control: x.Control,
			ExpectedCost: x.Cost, IncrementalRevenue: x.Revenue}
		if x.Users > 0 {
			st.AvgDiscount = x.Face / float64(x.Users)
		}
		s.Offers = append(s.Offers, st)
		if o.Caps.Count > 0 || o.Caps.Money > 0 {
			s.Caps = append(s.Caps, Cap{Offer: o.ID, Count: o.Caps.Count, Money: o.Caps.Money, UsedCount: x.Users, UsedMoney: x.Cost, Withheld: x.Withheld})
		}
	}
	for _, name := range sortedKeys(total.Segments) {
		x := total.Segments[name]
		s.Segments = append(s.Segments, SegmentStat{Segment: name, Users: x.Users, Eligible: x.Eligible, Control: x.Control,
			Treated: x.Treated, Offers: x.Offers, ExpectedCost: x.Cost, IncrementalRevenue: x.Revenue})
	}
	// Guards.
	switch {
	case out.Budget <= 0:
		s.Guards = append(s.Guards, Guard{Name: "budget", Status: GuardReport, Detail: fmt.Sprintf("no budget; expected cost %.2f", total.Cost)})
	case total.Cost > out.Budget*(1+1e-9):
		s.Guards = append(s.Guards, Guard{Name: "budget", Status: GuardFail, Detail: fmt.Sprintf("expected cost %.2f exceeds budget %.2f", total.Cost, out.Budget)})
	case out.Unconstrained+out.ExploreCost > out.Budget:
		s.Guards = append(s.Guards, Guard{Name: "budget", Status: GuardConstrained, Detail: fmt.Sprintf("%.2f of %.2f used (%.1f%%); every worthwhile offer would cost %.2f%s", total.Cost, out.Budget, 100*total.Cost/out.Budget, out.Unconstrained+out.ExploreCost, resolvedNote(out))})
	default:
		s.Guards = append(s.Guards, Guard{Name: "budget", Status: GuardPass, Detail: fmt.Sprintf("%.2f of %.2f used: every offer worth its cost fits", total.Cost, out.Budget)})
	}
	for _, c := range s.Caps {
		g := Guard{Name: "cap:" + c.Offer, Status: GuardPass, Detail: fmt.Sprintf("%d users, %.2f", c.UsedCount, c.UsedMoney)}
		if c.Withheld > 0 {
			g.Status = GuardConstrained
			g.Detail += fmt.Sprintf("; %d offers withheld", c.Withheld)
		}
		if (c.Count > 0 && c.UsedCount > c.Count) || (c.Money > 0 && c.UsedMoney > c.Money*(1+1e-9)) {
			g.Status = GuardFail
		}
		s.Guards = append(s.Guards, g)
	}
	s.Guards = append(s.Guards, Guard{Name: "max_per_user", Status: GuardPass, Detail: "one plan row, at most one offer, per user"})
	sup := Guard{Name: "suppression", Status: GuardReport, Detail: fmt.Sprintf("%d opted out, %d contacted recently", total.Suppressed[OptedOut], total.Suppressed[RecentlyContacted])}
	if n := total.Suppressed[Outlier]; n > 0 {
		sup.Detail += fmt.Sprintf(", %d density outliers excluded", n)
	}
	s.Guards = append(s.Guards, sup)
	s.Guards = append(s.Guards, Guard{Name: "exploration", Status: GuardReport, Detail: fmt.Sprintf("%d users given a random eligible offer (target share %.2f%%); %.2f of the budget reserved for them", total.Explore, 100*p.ExploreShare, out.ExploreCost)})
	m := p.measurability(t, total)
	s.Measurability = &m
	g := Guard{Name: "control", Status: GuardPass, Detail: fmt.Sprintf("%d of %d eligible users held out (%.2f%%, target %.2f%%)", total.Control, s.Audience.Eligible, 100*s.Audience.ControlShare, 100*p.ControlShare)}
	switch {
	case !m.Measurable:
		g.Status = GuardFail
		g.Detail += "; " + m.Detail
	case m.ToppedUp:
		g.Status = GuardConstrained
		g.Detail += fmt.Sprintf("; raised to the template's minimum of %d", m.MinControl)
	}
	s.Guards = append(s.Guards, g)
	if out.Fairness != nil {
		f := &Fairness{Attribute: out.Fairness.Attribute, MaxGap: out.Fairness.MaxGap}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, name := range sortedKeys(total.Groups) {
			x := total.Groups[name]
			g := FairnessGroup{Group: name, Eligible: x.Eligible, Offered: x.Offered}
			if x.Eligible > 0 {
				g.OfferRate = float64(x.Offered) / float64(x.Eligible)
				lo, hi = math.Min(lo, g.OfferRate), math.Max(hi, g.OfferRate)
			}
			if x.Offered > 0 {
				g.AvgDiscount = x.Face / float64(x.Offered)
			}
			f.Withheld += x.Withheld
			f.Groups = append(f.Groups, g)
		}
		if hi >= lo {
			f.Gap = hi - lo
		}
		s.Fairness = f
		g := Guard{Name: "fairness", Status: GuardReport, Detail: fmt.Sprintf("%s: offer-rate gap %.4f over %d groups", f.Attribute, f.Gap, len(f.Groups))}
		if f.MaxGap > 0 {
			switch {
			case f.Gap > f.MaxGap+1e-9:
				g.Status = GuardFail
			case f.Withheld > 0:
				g.Status = GuardConstrained
				g.Detail += fmt.Sprintf(" (bound %.4f; %d offers withheld)", f.MaxGap, f.Withheld)
			default:
				g.Status = GuardPass
				g.Detail += fmt.Sprintf(" (bound %.4f)", f.MaxGap)
			}
		}
		s.Guards = append(s.Guards, g)
	}
	// The lift curve: from the most selective multiplier down to zero.
	c := out.Curve
	for k := len(c.Lambdas) - 1; k >= 0; k-- {
		pt := CurvePoint{Lambda: c.Lambdas[k], Users: c.Chosen[k], Cost: c.Cost[k], IncrementalRevenue: c.Revenue[k]}
		if n := len(s.LiftCurve); n > 0 && s.LiftCurve[n-1].Users == pt.Users && s.LiftCurve[n-1].Cost == pt.Cost {
			continue
		}
		s.LiftCurve = append(s.LiftCurve, pt)
	}
	return s
}

func resolvedNote(out Outcome) string {
	note := ""
	if out.Resolves > 0 {
		note = fmt.Sprintf("; solved again %d× after caps or fairness withheld offers", out.Resolves)
	}
	if r := out.Repair; r != nil && out.Budget > 0 {
		note += fmt.Sprintf("; the multiplier spent %.2f (%.1f%%), the repair the rest", r.Before, 100*r.Before/out.Budget)
	}
	return note
}
