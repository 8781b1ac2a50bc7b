package report

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/strategy"
)

// AddStrategy fills d's audience, offer mix, budget, lift curve, fairness
// table and guard notes from the decision's summary.
func (d *Data) AddStrategy(s *strategy.Summary) {
	if s == nil {
		return
	}
	if d.Event == "" {
		d.Event = s.Event
	}
	d.Objective = s.Objective
	a := s.Audience
	d.Users, d.Treated, d.Control, d.NoOffer = a.Users, a.Treated, a.Control, a.NoOffer
	d.Budget = Budget{Total: s.Budget.Total, Used: s.Budget.Used}
	d.ExpectedIncrementalRevenue, d.ExpectedCost, d.ROI = s.ExpectedIncrementalRevenue, s.ExpectedCost, s.ROI
	d.Offers = d.Offers[:0]
	for _, o := range s.Offers {
		d.Offers = append(d.Offers, Offer{
			ID: o.Offer, Kind: o.Kind, Channel: o.Channel, Users: o.Users,
			ExpectedCost: o.ExpectedCost, ExpectedIncrementalRevenue: o.IncrementalRevenue,
		})
	}
	if len(s.LiftCurve) > 1 {
		d.Lift = make([]LiftPoint, len(s.LiftCurve))
		for i, p := range s.LiftCurve {
			d.Lift[i] = LiftPoint{Users: p.Users, Revenue: p.IncrementalRevenue, Cost: p.Cost}
		}
	}
	if f := s.Fairness; f != nil {
		d.Fairness = &Fairness{Attribute: f.Attribute, Gap: f.Gap, Bound: f.MaxGap}
		for _, g := range f.Groups {
			name := g.Group
			if name == "" {
				name = "(unknown)"
			}
			d.Fairness.Groups = append(d.Fairness.Groups, Group{Name: name, Users: g.Eligible, Offered: g.Offered, AvgDiscount: g.AvgDiscount})
		}
	}
	d.Measurability = s.Measurability
	d.Notes = d.Notes[:0]
	for _, g := range s.Guards {
		d.Notes = append(d.Notes, fmt.Sprintf("%s: %s (%s)", g.Name, g.Status, g.Detail))
	}
}
