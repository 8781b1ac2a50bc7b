package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
)

// publish writes the per-user feature table, then the plan's Parquet and
// CSV, then report.html; the summary follows last, in Regenerate.
func (r *run) publish(ctx workflow.Context) error {
	r.track.begin(StagePublish, 3)
	var table activities.PublishFeaturesOutput
	err := workflow.ExecuteActivity(withActivityOptions(ctx), a.PublishFeatures, activities.PublishFeaturesInput{
		RunID: r.in.RunID, Shards: r.in.Shards, SegmentNames: r.seg.Names,
	}).Get(ctx, &table)
	if err != nil {
		return fmt.Errorf("features table: %w", err)
	}
	if table.Rows != r.sum.Users {
		return fmt.Errorf("features table has %d rows, shards have %d users", table.Rows, r.sum.Users)
	}
	if r.sum.Features != nil {
		r.sum.Features.Table = table.URL
	}
	r.track.step(StagePublish)
	var pub activities.PublishOutput
	err = workflow.ExecuteActivity(withActivityOptions(ctx), a.Publish, activities.PublishInput{
		Campaign: r.in.Campaign, ScoreKeys: r.scoreKeys,
	}).Get(ctx, &pub)
	if err != nil {
		return err
	}
	if pub.Rows != r.sum.Plan.Rows {
		return fmt.Errorf("plan has %d rows, shards decided %d", pub.Rows, r.sum.Plan.Rows)
	}
	r.sum.Plan.Parquet, r.sum.Plan.CSV, r.sum.Plan.Summary = pub.Parquet, pub.CSV, pub.Summary
	r.track.step(StagePublish)
	if r.sum.Plan.Report, err = r.writeReport(ctx, layout.Campaign(r.in.Campaign)+"report.html"); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// The contacted users, for later campaigns' suppression.
	return workflow.ExecuteActivity(withActivityOptions(ctx), a.RecordContacts, activities.RecordContactsInput{
		Campaign: r.in.Campaign, Start: r.start, ScoreKeys: r.scoreKeys,
	}).Get(ctx, nil)
}
