package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/decide"
)

// decide chooses every user's offer, shard by shard, and reduces the plan's
// counts. (The segment profiles come from the segment stage.)
func (r *run) decide(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageDecide, in.Shards)
	decided := make([]activities.DecideOutput, in.Shards)
	params := decide.Params{Margin: in.Margin, ControlShare: in.ControlShare, Salt: fmt.Sprintf("%s/%d", in.Template, in.Seed)}
	actx := withActivityOptions(ctx)
	err := fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Decide, activities.DecideInput{
				RunID: in.RunID, Shard: i, Scaler: r.scaler, Centroids: r.seg.Centroids, SegmentNames: r.seg.Names,
				ForestKey: r.model.ForestKey, Catalog: in.Catalog, Params: params, DefaultBasket: r.defaultBasket,
			})
		},
		func(i int, f workflow.Future) error {
			r.track.step(StageDecide)
			return f.Get(ctx, &decided[i])
		})
	if err != nil {
		return err
	}
	ps := PlanSummary{Offers: map[string]int64{}}
	r.scoreKeys = make([]string, in.Shards)
	for i, d := range decided {
		r.scoreKeys[i] = d.Key
		ps.Rows += d.Rows
		ps.ControlRows += d.Control
		for o, n := range d.Offers {
			ps.Offers[o] += n
			ps.TreatedRows += n
		}
		ps.ExpectedCost += d.ExpectedCost
		ps.ExpectedIncrementalRevenue += d.ExpectedIncrementalRevenue
	}
	r.sum.Plan = ps
	return nil
}
