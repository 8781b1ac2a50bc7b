package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
)

// features computes every shard's feature tables and reduces the global
// statistics later stages share: the scaler and the default basket.
func (r *run) features(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageFeatures, in.Shards)
	feats := make([]activities.FeaturesOutput, in.Shards)
	actx := withActivityOptions(ctx)
	err := fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Features, activities.FeaturesInput{
				RunID: in.RunID, Shard: i, Cutoff: r.cutoff, LabelEnd: r.labelEnd(), End: r.end,
			})
		},
		func(i int, f workflow.Future) error {
			r.track.step(StageFeatures)
			return f.Get(ctx, &feats[i])
		})
	if err != nil {
		return err
	}
	moments := features.NewMoments(len(features.Names))
	var buyers int64
	var basketSum float64
	for i, f := range feats {
		r.sum.Users += f.Users
		buyers += f.Buyers
		basketSum += f.BasketSum
		if err := moments.Merge(f.Moments); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	r.scaler = moments.Scaler()
	if buyers > 0 {
		r.defaultBasket = basketSum / float64(buyers)
	}
	return nil
}
