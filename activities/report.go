package activities

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

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
	// Featured asks for the products featured per segment, counted from
	// the plan rows of ScoreKeys (runs that made recommendations).
	Featured bool `json:",omitempty"`
}

// WriteReport renders the report (internal/report) and stores it at Key;
// it returns the report's address.
func (a *Activities) WriteReport(ctx context.Context, in WriteReportInput) (_ string, err error) {
	defer final(&err)
	d := in.Data
	if in.Featured && d.Featured == nil {
		if d.Featured, err = a.featuredBySegment(ctx, in.ScoreKeys); err != nil {
			return "", err
		}
	}
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

// FeaturedTop is how many products and categories the report lists per
// segment.
const FeaturedTop = 5

// featuredBySegment counts, per segment, the products and categories the
// treated users' plan rows feature (recommended_items,
// recommended_category): the report's "Featured products". Nil when no
// row has recommendations.
func (a *Activities) featuredBySegment(ctx context.Context, keys []string) ([]report.Featured, error) {
	type tally struct {
		users      int64
		products   map[string]int64
		categories map[string]int64
	}
	segs := map[string]*tally{}
	for i, key := range keys {
		err := a.readArrow(ctx, key, plan.Schema, func(rec arrow.Record) error {
			rows, err := plan.Rows(rec)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.Control || r.Offer == campaign.None || r.Offer == "" || r.RecommendedItems == "" {
					continue
				}
				t := segs[r.Segment]
				if t == nil {
					t = &tally{products: map[string]int64{}, categories: map[string]int64{}}
					segs[r.Segment] = t
				}
				t.users++
				for _, it := range strings.Split(r.RecommendedItems, "|") {
					t.products[it]++
				}
				if r.RecommendedCategory != "" {
					t.categories[r.RecommendedCategory]++
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("featured: shard %d: %w", i, err)
		}
	}
	if len(segs) == 0 {
		return nil, nil
	}
	top := func(m map[string]int64) []report.Count {
		out := make([]report.Count, 0, len(m))
		for name, n := range m {
			out = append(out, report.Count{Name: name, Users: n})
		}
		slices.SortFunc(out, func(x, y report.Count) int { return cmp.Or(cmp.Compare(y.Users, x.Users), cmp.Compare(x.Name, y.Name)) })
		return out[:min(len(out), FeaturedTop)]
	}
	out := make([]report.Featured, 0, len(segs))
	for name, t := range segs {
		out = append(out, report.Featured{Segment: name, Users: t.users, Products: top(t.products), Categories: top(t.categories)})
	}
	slices.SortFunc(out, func(x, y report.Featured) int {
		return cmp.Or(cmp.Compare(y.Users, x.Users), cmp.Compare(x.Segment, y.Segment))
	})
	return out, nil
}
