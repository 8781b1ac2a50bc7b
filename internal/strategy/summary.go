// Package strategy is the campaign decision: which offer each eligible user
// gets (or none), under the template's audience rules, the offer catalog's
// eligibility and caps, a global budget, suppression lists, a randomized
// exploration share and a stratified control group, with the source of
// every estimate recorded. Summary is what a campaign's summary.json says
// about the decision; the report renders it.
package strategy

import "time"

// Estimate sources, in order of preference.
const (
	SourceUplift = "uplift" // per-user uplift model trained on campaign history
	SourceState  = "state"  // segment x offer estimate of the template's adjustment state
	SourcePrior  = "prior"  // propensity x the offer's prior lift, the offer's cost model
)

// Guard statuses.
const (
	GuardPass        = "pass"        // the constraint held without intervention
	GuardConstrained = "constrained" // the constraint bound: offers were withheld to meet it
	GuardReport      = "report"      // measured and reported, no bound configured
	GuardFail        = "fail"        // the bound could not be met
)

// Summary is the decision's part of summary.json ("strategy"): what the
// campaign will do, what it is expected to earn and cost, and which guards
// held. All money is in the input data's currency.
type Summary struct {
	Template   string    `json:"template"`
	Event      string    `json:"event,omitempty"`
	Objective  string    `json:"objective"` // "profit" or "revenue"
	Start      time.Time `json:"start"`     // campaign window
	End        time.Time `json:"end"`
	Margin     float64   `json:"margin"`
	Salt       string    `json:"salt"` // seeds control and exploration hashes
	MaxPerUser int       `json:"max_per_user"`

	Audience Audience      `json:"audience"`
	Offers   []OfferStat   `json:"offers"`   // offer mix, in catalog order of the template
	Segments []SegmentStat `json:"segments"` // per segment, in segment order
	Budget   Budget        `json:"budget"`

	// Expected totals of the treated users (control excluded).
	ExpectedIncrementalRevenue float64 `json:"expected_incremental_revenue"`
	ExpectedCost               float64 `json:"expected_cost"`
	ExpectedIncrementalProfit  float64 `json:"expected_incremental_profit"` // margin x revenue - cost
	// ROI is expected incremental profit per unit of cost (0 without cost).
	ROI float64 `json:"roi"`

	// Sources counts the chosen estimates of treated and control users by
	// source (uplift, state, prior).
	Sources map[string]int64 `json:"sources"`
	// State is the adjustment state the estimates came from, when any.
	State *StateRef `json:"state,omitempty"`

	// Measurability says whether the control group can measure the
	// campaign: its size, the expected response rates and the minimum
	// detectable lift.
	Measurability *Measurability `json:"measurability,omitempty"`

	Guards   []Guard   `json:"guards"`
	Caps     []Cap     `json:"caps,omitempty"`
	Fairness *Fairness `json:"fairness,omitempty"`

	// LiftCurve is the expected lift curve: cumulative expected incremental
	// revenue against cost and users targeted, from the most to the least
	// valuable choices (a downsampled curve over budget multipliers), ending
	// at "everything worth doing".
	LiftCurve []CurvePoint `json:"lift_curve"`
}

// Measurability is what the campaign's control group can measure, stated
// before publishing. The evaluation compares treated users with the
// control users who would have got an offer (their plan row names it), so
// those are the control group that counts here. MDL is the smallest
// overall response lift (treated response rate minus control's) that a
// two-sided test at the 5% level detects with 80% power (internal/power),
// from the two groups' sizes and expected response rates: control's is the
// treated users' mean propensity (the control group is drawn at random
// from the same users), treated's that plus their mean expected response
// lift.
type Measurability struct {
	// Control is the control users who would have got an offer, out of
	// HeldOut control users in all; Treated the users given an offer.
	Control int64 `json:"control"`
	HeldOut int64 `json:"held_out"`
	Treated int64 `json:"treated"`
	// ControlRate and TreatedRate are the expected response rates, and
	// ExpectedLift their difference.
	ControlRate  float64 `json:"expected_control_rate"`
	TreatedRate  float64 `json:"expected_treated_rate"`
	ExpectedLift float64 `json:"expected_lift"`
	// MDL is the minimum detectable lift, in response-rate units (0.05 is
	// five percentage points); absent when a group is empty.
	MDL *float64 `json:"mdl,omitempty"`
	// MinControl is the template's minimum control group (held out users);
	// ToppedUp says the share's group fell short and users were added to
	// reach it (those whose control hash is below ControlBelow).
	MinControl   int     `json:"min_control"`
	ToppedUp     bool    `json:"topped_up,omitempty"`
	ControlBelow float64 `json:"control_below,omitempty"`
	// Measurable is false when the control group is empty, below
	// MinControl (the audience could not hold it), or so small that no
	// lift could be told from none; Action is then what the template
	// chose: publish anyway, or wait for approval.
	Measurable bool   `json:"measurable"`
	Action     string `json:"action,omitempty"`
	Detail     string `json:"detail"`
}

// Audience accounts for every user of the run.
type Audience struct {
	Users      int64            `json:"users"`      // users with features
	Ineligible int64            `json:"ineligible"` // outside the template's audience rules
	Suppressed map[string]int64 `json:"suppressed"` // by reason: opted_out, recently_contacted
	Eligible   int64            `json:"eligible"`   // Users - Ineligible - suppressed
	Control    int64            `json:"control"`    // eligible users held out, never contacted
	Treated    int64            `json:"treated"`    // eligible, not control, given an offer
	Explore    int64            `json:"explore"`    // of Treated, given a randomized offer
	NoOffer    int64            `json:"no_offer"`   // eligible, not control, no offer worth its cost (or withheld by a cap or guard)
	// ControlShare is Control / Eligible.
	ControlShare float64 `json:"control_share"`
}

// OfferStat is one offer's share of the plan (treated users only, except
// Control).
type OfferStat struct {
	Offer              string  `json:"offer"`
	Kind               string  `json:"kind"`
	Channel            string  `json:"channel"`
	Users              int64   `json:"users"`   // treated users given it
	Explore            int64   `json:"explore"` // of Users, by exploration
	Control            int64   `json:"control"` // control users who would have got it
	ExpectedCost       float64 `json:"expected_cost"`
	IncrementalRevenue float64 `json:"expected_incremental_revenue"`
	// AvgDiscount is the offer's face value per treated user: rate x basket
	// for rate kinds, the fixed amount otherwise.
	AvgDiscount float64 `json:"avg_discount"`
}

// SegmentStat is one segment's share of the plan.
type SegmentStat struct {
	Segment            string           `json:"segment"`
	Users              int64            `json:"users"`
	Eligible           int64            `json:"eligible"`
	Control            int64            `json:"control"`
	Treated            int64            `json:"treated"`
	Offers             map[string]int64 `json:"offers"` // treated users by offer
	ExpectedCost       float64          `json:"expected_cost"`
	IncrementalRevenue float64          `json:"expected_incremental_revenue"`
}

// Budget is the campaign budget and its use.
type Budget struct {
	Total float64 `json:"total"` // 0: no budget
	Used  float64 `json:"used"`  // expected cost of treated users
	// Share is Used / Total (0 without a budget).
	Share float64 `json:"share"`
	// Lambda is the multiplier on cost that met the budget (0: did not bind).
	Lambda float64 `json:"lambda"`
	// Unconstrained is what giving every user their best positive offer
	// would cost: the budget binds when it is above Total.
	Unconstrained float64 `json:"unconstrained"`
	// Explore is the cost of the exploration offers, reserved first.
	Explore float64 `json:"explore"`
	// Resolves counts the times the multiplier was solved again under the
	// quotas of caps or the fairness bound (Outcome.NeedsResolve).
	Resolves int `json:"resolves,omitempty"`
	// Repair is what the budget repair did after the multiplier, when the
	// budget bound.
	Repair *BudgetRepair `json:"repair,omitempty"`
}

// BudgetRepair is the budget repair's share of the plan: after the
// multiplier's choices, the upgrades to costlier offers and the additions
// of users who had none, picked by value gained per extra cost while they
// fit the budget and the offers' caps.
type BudgetRepair struct {
	Rounds int     `json:"rounds"`
	Before float64 `json:"before"` // the plan's cost before the repair: what the multiplier spent
	Users  int64   `json:"users"`  // users upgraded or added
	Added  int64   `json:"added"`  // of Users, those who had no offer
	Cost   float64 `json:"cost"`   // the extra cost
	Gain   float64 `json:"gain"`   // the value it added (the objective: profit or revenue)
}

// Guard is one constraint or audit and its outcome.
type Guard struct {
	Name   string `json:"name"`   // budget, cap:<offer>, fairness, max_per_user, suppression, control
	Status string `json:"status"` // pass, constrained, report, fail
	Detail string `json:"detail"`
}

// Cap is an offer's cap and its use.
type Cap struct {
	Offer     string  `json:"offer"`
	Count     int64   `json:"count,omitempty"` // 0: none
	Money     float64 `json:"money,omitempty"` // 0: none
	UsedCount int64   `json:"used_count"`
	UsedMoney float64 `json:"used_money"`
	Withheld  int64   `json:"withheld"` // users whose offer the cap withheld
}

// Fairness is the fairness audit of a sensitive attribute: offer rate and
// average discount per group, and the largest gap between groups' offer
// rates. The attribute is never a model feature.
type Fairness struct {
	Attribute string          `json:"attribute"`
	MaxGap    float64         `json:"max_gap"` // 0: report only
	Gap       float64         `json:"gap"`     // largest minus smallest offer rate
	Withheld  int64           `json:"withheld"`
	Groups    []FairnessGroup `json:"groups"` // sorted by group
}

// FairnessGroup is one value of the sensitive attribute ("" when unknown).
type FairnessGroup struct {
	Group       string  `json:"group"`
	Eligible    int64   `json:"eligible"` // eligible, not control
	Offered     int64   `json:"offered"`
	OfferRate   float64 `json:"offer_rate"`   // Offered / Eligible
	AvgDiscount float64 `json:"avg_discount"` // mean face value per offered user
}

// CurvePoint is one point of the lift curve.
type CurvePoint struct {
	Lambda             float64 `json:"lambda"`
	Users              int64   `json:"users"`
	Cost               float64 `json:"cost"`
	IncrementalRevenue float64 `json:"incremental_revenue"`
}

// UpliftInfo describes what the decision learnt from campaign history:
// the rows read and joined to the features of the decisions that assigned
// them, and the learner chosen by cross-fitted policy value.
type UpliftInfo struct {
	HistoryRows int64            `json:"history_rows"` // rows read: the template's newest campaigns and the run's own history table
	Campaigns   int              `json:"campaigns"`    // evaluated campaigns of the template read
	Joined      int64            `json:"joined"`       // rows joined to the user's features as of their decision
	Arms        map[string]int64 `json:"arms"`         // joined rows per arm (offer or control)
	Offers      []string         `json:"offers"`       // offers with a model
	Outcome     string           `json:"outcome"`      // "response": a purchase in the campaign's window
	Weighting   string           `json:"weighting"`    // "ipw": rows weighted by their inverse assignment probability
	Learner     string           `json:"learner"`      // chosen by cross-fitted policy value (t, x, dr, avg)
	// CVPolicyValue is the chosen learner's cross-fitted policy value
	// (docs/EVALUATION.md) and Learners every learner's.
	CVPolicyValue float64            `json:"cv_policy_value"`
	Learners      map[string]float64 `json:"learners,omitempty"`
	Reason        string             `json:"reason,omitempty"` // why no model was trained, when none was
	// NewBuyerOrders are the orders, in the joined history, of responders
	// who had never ordered before their decision, and NewBuyerBasket
	// their mean value: with at least MinArmRows orders it is the basket of
	// users who never ordered (otherwise the buyers' mean order value,
	// which overstates a first order).
	NewBuyerOrders int64   `json:"new_buyer_orders"`
	NewBuyerBasket float64 `json:"new_buyer_basket,omitempty"`
}

// StateRef names the adjustment state used.
type StateRef struct {
	Key      string `json:"key"`
	Version  int    `json:"version"`
	Campaign string `json:"campaign"`
}
