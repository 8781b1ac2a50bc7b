package activities

import (
	"context"
	"fmt"

	"github.com/promoflow/promoflow/internal/decide"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/segment"
)

// DecideInput is everything one shard needs to choose its users' offers.
type DecideInput struct {
	RunID         string
	Shard         int
	Scaler        features.Scaler
	Centroids     [][]float64
	SegmentNames  []string
	ForestKey     string
	Catalog       []decide.Offer
	Params        decide.Params
	DefaultBasket float64 // expected order value of users who never ordered
}

// DecideOutput is the shard's share of the plan, in aggregates.
type DecideOutput struct {
	Key                        string
	Rows                       int64
	Control                    int64
	Offers                     map[string]int64 // offers sent (control excluded), by offer ID
	ExpectedCost               float64          // of offers sent
	ExpectedIncrementalRevenue float64          // of offers sent
	Segments                   segment.Sums     // raw feature sums per segment
}

// Decide scores the shard's users (segment, propensity), chooses each one's
// offer and control membership, and writes the shard's plan rows.
func (a *Activities) Decide(ctx context.Context, in DecideInput) (_ DecideOutput, err error) {
	defer final(&err)
	f, err := a.loadForest(ctx, in.ForestKey)
	if err != nil {
		return DecideOutput{}, err
	}
	rows, err := a.readFeatures(ctx, layout.Features(in.RunID, in.Shard), features.Schema)
	if err != nil {
		return DecideOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	aov, freq := indexOf(features.Names, "avg_order_value"), indexOf(features.Names, "frequency")
	out := DecideOutput{
		Key: layout.Scores(in.RunID, in.Shard), Rows: int64(len(rows)),
		Offers: map[string]int64{}, Segments: segment.NewSums(len(in.Centroids)),
	}
	planRows := make([]plan.Row, len(rows))
	for i, r := range rows {
		seg, _ := kmeans.Nearest(in.Scaler.Apply(r.Values), in.Centroids)
		out.Segments.Add(seg, r.Values)
		u := decide.User{
			ID: r.UserID, Segment: in.SegmentNames[seg], Propensity: f.Predict(r.Values),
			Basket: r.Values[aov], Frequency: r.Values[freq],
		}
		if u.Basket <= 0 {
			u.Basket = in.DefaultBasket
		}
		d := decide.Choose(u, in.Catalog, in.Params)
		planRows[i] = plan.Row{
			UserID: r.UserID, Segment: u.Segment, Offer: d.Offer, Channel: d.Channel,
			Propensity: u.Propensity, ExpectedIncrementalRevenue: d.ExpectedIncrementalRevenue,
			ExpectedCost: d.ExpectedCost, Control: d.Control, Reasons: d.Reasons,
		}
		if d.Control {
			out.Control++
		} else if d.Offer != decide.None {
			out.Offers[d.Offer]++
			out.ExpectedCost += d.ExpectedCost
			out.ExpectedIncrementalRevenue += d.ExpectedIncrementalRevenue
		}
	}
	rec := plan.Record(planRows, a.mem())
	defer rec.Release()
	if err := a.writeArrow(ctx, out.Key, plan.Schema, rec); err != nil {
		return DecideOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	return out, nil
}
