package live

import (
	"cmp"
	"slices"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// PlanRows turns a live campaign's logged decisions into its plan, one row
// per user in user order, so the evaluation (and through it the campaign
// history) reads a live campaign as a batch one: a user's row is the
// decision that counted (the offer, or the control holdout; there is at most
// one, the frequency cap), else the user's first decision. Capped decisions
// never count. Decisions are taken in (slice, seq) order.
func PlanRows(ds []Decision, campaign string, start, end time.Time) []plan.Row {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b Decision) int { return cmp.Or(cmp.Compare(a.Slice, b.Slice), cmp.Compare(a.Seq, b.Seq)) })
	pick := map[string]int{}
	for i, d := range ds {
		j, seen := pick[d.UserID]
		if !seen || (!counts(ds[j]) && counts(d)) {
			pick[d.UserID] = i
		}
	}
	rows := make([]plan.Row, 0, len(pick))
	for _, i := range pick {
		d := ds[i]
		rows = append(rows, plan.Row{
			UserID: d.UserID, Segment: d.Segment, Offer: d.Offer, Channel: d.Channel,
			ExpectedIncrementalRevenue: d.Revenue, ExpectedCost: d.Cost, Control: d.Control,
			HoldoutOffer: d.Holdout, HoldoutExpectedIncrementalRevenue: d.HoldoutRev, Explore: d.Explore,
			Reasons: d.Event + ": " + d.Reason, Source: d.Source, Propensity: d.Propensity,
			AssignmentProbability: d.Probability, CampaignID: campaign, WindowStart: start.UTC(), WindowEnd: end.UTC(),
		})
	}
	slices.SortFunc(rows, func(a, b plan.Row) int { return cmp.Compare(a.UserID, b.UserID) })
	return rows
}

// counts reports whether a decision is the user's answer that counts: an
// offer or the control holdout.
func counts(d Decision) bool { return !d.Capped && (d.Control || d.Offer != campaign.None) }
