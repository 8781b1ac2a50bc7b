package strategy

import (
	"cmp"
	"slices"

	"github.com/promoflow/promoflow/internal/budget"
)

// Upgrade is a shard's proposal in the budget repair (budget.Repair): one
// user's best increment from the option they have to a costlier, more
// valuable one, or to an option when they have none. It carries no user
// id: its rank in the shard's proposals names it, and the shard finds the
// user again by computing the same proposals.
type Upgrade struct {
	budget.Increment
	From int     `json:"f"` // the offer the user has (index into Params.Offers), -1 for none
	To   int     `json:"t"` // the offer proposed
	Cost float64 `json:"n"` // the proposed option's cost (the one given up costs Cost - Extra)
}

// RepairRound is one round of the budget repair as one shard took part in
// it: the limit and count its proposals were made under, and the ranks of
// those the workflow picked (ascending). Replaying a shard's rounds in order
// gives its choices again, so the workflow carries only these.
type RepairRound struct {
	Limit float64 `json:"limit"`
	K     int     `json:"k"`
	Picks []int   `json:"picks"`
}

// proposal is an Upgrade with the user and option it moves to.
type proposal struct {
	user, opt int
	up        Upgrade
}

// repairable reports whether the repair may change user i's choice: a
// candidate (or an explorer beyond the allowance, who competes like one)
// whose choice no quota withheld or moved. Control users, kept explorers,
// suppressed and ineligible users never change.
func repairable(users []Scored, i int, kept []bool, withheld map[int]withhold) bool {
	u := &users[i]
	if u.Status != Candidate && !(u.Status == Explore && !kept[i]) {
		return false
	}
	_, ok := withheld[i]
	return !ok
}

// proposals are the shard's best increments from choice: per repairable
// user the best (budget.BestIncrement) costing at most limit, best first
// (budget.Compare, then shard order), at most k. Under a fairness bound
// users without an offer are not added (it would change their group's
// offer rate), only upgraded.
func (p *Params) proposals(users []Scored, choice []int, kept []bool, withheld map[int]withhold, fairness bool, limit float64, k int) []proposal {
	var out []proposal
	for i := range users {
		if !repairable(users, i, kept, withheld) || (fairness && choice[i] < 0) {
			continue
		}
		u := &users[i]
		j, inc := budget.BestIncrement(len(u.Options), func(j int) (float64, float64) { return u.Options[j].Value, u.Options[j].Cost }, choice[i], limit)
		if j < 0 {
			continue
		}
		up := Upgrade{Increment: inc, From: -1, To: u.Options[j].Offer, Cost: u.Options[j].Cost}
		if c := choice[i]; c >= 0 {
			up.From = u.Options[c].Offer
		}
		out = append(out, proposal{user: i, opt: j, up: up})
	}
	slices.SortFunc(out, func(a, b proposal) int {
		return cmp.Or(budget.Compare(a.up.Increment, b.up.Increment), cmp.Compare(a.user, b.user))
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// repair replays a shard's repair rounds on its choices (from choose):
// each round's proposals are computed again from the choices so far and
// the picked ones applied. It returns, for every user the repair changed,
// the choice they had before it.
func (p *Params) repair(users []Scored, choice []int, kept []bool, withheld map[int]withhold, fairness bool, rounds []RepairRound) map[int]int {
	before := map[int]int{}
	for _, r := range rounds {
		props := p.proposals(users, choice, kept, withheld, fairness, r.Limit, r.K)
		for _, rank := range r.Picks {
			if rank < 0 || rank >= len(props) {
				continue // not a proposal of this shard: nothing to apply
			}
			x := props[rank]
			if _, ok := before[x.user]; !ok {
				before[x.user] = choice[x.user]
			}
			choice[x.user] = x.opt
		}
	}
	return before
}

// Upgrades are one shard's proposals for a round of the budget repair:
// the choices at lambda under the quotas, with the shard's earlier rounds
// applied, and from there each repairable user's best increment costing
// at most limit, best first, at most k. It only reads users.
func (p *Params) Upgrades(users []Scored, lambda float64, q Quotas, fairness bool, rounds []RepairRound, limit float64, k int) []Upgrade {
	kept := p.Kept(users, q)
	choice, withheld := p.choose(users, lambda, q, kept, fairness)
	p.repair(users, choice, kept, withheld, fairness, rounds)
	props := p.proposals(users, choice, kept, withheld, fairness, limit, k)
	out := make([]Upgrade, len(props))
	for i, x := range props {
		out[i] = x.up
	}
	return out
}

// RepairCaps returns the check the budget repair makes before it picks an
// upgrade: with it, the offer's count and money caps still hold over all
// shards (total is the merged tally of the assignment, counted as the cap
// guard counts: treated users, exploration included, and their cost). It
// accounts every upgrade it accepts, so call it in pick order.
func (p *Params) RepairCaps(total Tally) func(Upgrade) bool {
	users := make([]int64, len(p.Offers))
	money := make([]float64, len(p.Offers))
	for i := range p.Offers {
		if i < len(total.Offers) {
			users[i], money[i] = total.Offers[i].Users, total.Offers[i].Cost
		}
	}
	return func(u Upgrade) bool {
		if u.To < 0 || u.To >= len(p.Offers) || u.From == u.To {
			return false
		}
		c := p.Offers[u.To].Caps
		if c.Count > 0 && users[u.To]+1 > c.Count {
			return false
		}
		if c.Money > 0 && money[u.To]+u.Cost > c.Money {
			return false
		}
		users[u.To]++
		money[u.To] += u.Cost
		if u.From >= 0 {
			users[u.From]--
			money[u.From] -= u.Cost - u.Extra
		}
		return true
	}
}

// RepairOutcome is what the budget repair did, for the summary.
type RepairOutcome struct {
	Rounds int     // rounds run
	Before float64 // the plan's cost before it: what the multiplier spent
}

// Increments are the upgrades' increments, for budget.Repair.Next.
func Increments(ups []Upgrade) []budget.Increment {
	out := make([]budget.Increment, len(ups))
	for i, u := range ups {
		out[i] = u.Increment
	}
	return out
}

// RepairDue reports whether the budget repair runs: the budget binds (a
// positive multiplier was solved), so the multiplier's choices may leave
// some of it unspent.
func (out Outcome) RepairDue() bool { return out.Budget > 0 && out.Lambda > 0 }
