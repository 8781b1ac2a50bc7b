package activities

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/report"
)

// LiftPoints is how many points a lift curve computed from plan rows keeps.
const LiftPoints = 200

// WriteReportInput is a campaign report to render. Data carries the run's
// aggregates; when it has no lift curve (the decision gave no summary),
// the curve and the offer mix are computed from the plan rows of
// ScoreKeys.
type WriteReportInput struct {
	Key       string // where report.html goes: campaigns/<campaign>/report.html, or a review copy
	Data      report.Data
	ScoreKeys []string // the shards' plan rows, in shard order
}

// WriteReport renders the report (internal/report) and stores it at Key;
// it returns the report's address.
func (a *Activities) WriteReport(ctx context.Context, in WriteReportInput) (_ string, err error) {
	defer final(&err)
	d := in.Data
	if len(d.Lift) < 2 && len(in.ScoreKeys) > 0 {
		var lift report.Lift
		offers := map[string]*report.Offer{}
		var order []string
		for i, key := range in.ScoreKeys {
			err := a.readArrow(ctx, key, plan.Schema, func(rec arrow.Record) error {
				rows, err := plan.Rows(rec)
				if err != nil {
					return err
				}
				for _, r := range rows {
					if r.Control || r.Offer == campaign.None || r.Offer == "" {
						continue
					}
					lift.Add(r.ExpectedIncrementalRevenue, r.ExpectedCost)
					o := offers[r.Offer]
					if o == nil {
						o = &report.Offer{ID: r.Offer, Channel: r.Channel}
						offers[r.Offer] = o
						order = append(order, r.Offer)
					}
					o.Users++
					o.ExpectedCost += r.ExpectedCost
					o.ExpectedIncrementalRevenue += r.ExpectedIncrementalRevenue
				}
				return nil
			})
			if err != nil {
				return "", fmt.Errorf("report: shard %d: %w", i, err)
			}
		}
		d.Lift = lift.Curve(LiftPoints)
		slices.Sort(order)
		d.Offers = d.Offers[:0]
		for _, id := range order {
			d.Offers = append(d.Offers, *offers[id])
		}
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return "", err
	}
	if err := a.Store.Put(ctx, in.Key, buf.Bytes()); err != nil {
		return "", err
	}
	return a.Store.URL(in.Key), nil
}
