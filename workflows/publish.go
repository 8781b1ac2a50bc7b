package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
)

// publishParallel is the version marker of publish's parallel form: runs
// recorded before it scheduled the four activities one after the other,
// and replay must repeat that.
const publishParallel = "publish-parallel"

// publish writes the per-user feature table and the plan's Parquet and
// CSV side by side, then report.html and the contact list side by side;
// the summary follows last, in Regenerate.
func (r *run) publish(ctx workflow.Context) error {
	r.track.begin(StagePublish, 3)
	if workflow.GetVersion(ctx, publishParallel, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return r.publishSerial(ctx)
	}
	tableF := workflow.ExecuteActivity(withActivityOptions(ctx), a.PublishFeatures, activities.PublishFeaturesInput{
		RunID: r.in.RunID, Shards: r.in.Shards, SegmentNames: r.seg.Names,
	})
	pubF := workflow.ExecuteActivity(withActivityOptions(ctx), a.Publish, activities.PublishInput{
		Campaign: r.in.Campaign, ScoreKeys: r.scoreKeys,
	})
	var table activities.PublishFeaturesOutput
	tableErr := tableF.Get(ctx, &table)
	var pub activities.PublishOutput
	pubErr := pubF.Get(ctx, &pub)
	if tableErr != nil {
		return fmt.Errorf("features table: %w", tableErr)
	}
	if pubErr != nil {
		return pubErr
	}
	if err := r.publishedTable(table); err != nil {
		return err
	}
	if err := r.publishedPlan(pub); err != nil {
		return err
	}
	// The contacted users, for later campaigns' suppression.
	contactsF := workflow.ExecuteActivity(withActivityOptions(ctx), a.RecordContacts, activities.RecordContactsInput{
		Campaign: r.in.Campaign, Start: r.start, RunID: r.in.RunID, Shards: r.in.Shards,
	})
	var err error
	if r.sum.Plan.Report, err = r.writeReport(ctx, layout.Campaign(r.in.Campaign)+"report.html"); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return contactsF.Get(ctx, nil)
}

// publishedTable checks the features table and records where it is.
func (r *run) publishedTable(table activities.PublishFeaturesOutput) error {
	if table.Rows != r.sum.Users {
		return fmt.Errorf("features table has %d rows, shards have %d users", table.Rows, r.sum.Users)
	}
	if r.sum.Features != nil {
		r.sum.Features.Table = table.URL
	}
	r.track.step(StagePublish)
	return nil
}

// publishedPlan checks the published plan and records where it is.
func (r *run) publishedPlan(pub activities.PublishOutput) error {
	if pub.Rows != r.sum.Plan.Rows {
		return fmt.Errorf("plan has %d rows, shards decided %d", pub.Rows, r.sum.Plan.Rows)
	}
	r.sum.Plan.Parquet, r.sum.Plan.CSV, r.sum.Plan.Summary = pub.Parquet, pub.CSV, pub.Summary
	r.track.step(StagePublish)
	return nil
}

// publishSerial is publish as recorded before publishParallel.
func (r *run) publishSerial(ctx workflow.Context) error {
	var table activities.PublishFeaturesOutput
	err := workflow.ExecuteActivity(withActivityOptions(ctx), a.PublishFeatures, activities.PublishFeaturesInput{
		RunID: r.in.RunID, Shards: r.in.Shards, SegmentNames: r.seg.Names,
	}).Get(ctx, &table)
	if err != nil {
		return fmt.Errorf("features table: %w", err)
	}
	if err := r.publishedTable(table); err != nil {
		return err
	}
	var pub activities.PublishOutput
	err = workflow.ExecuteActivity(withActivityOptions(ctx), a.Publish, activities.PublishInput{
		Campaign: r.in.Campaign, ScoreKeys: r.scoreKeys,
	}).Get(ctx, &pub)
	if err != nil {
		return err
	}
	if err := r.publishedPlan(pub); err != nil {
		return err
	}
	if r.sum.Plan.Report, err = r.writeReport(ctx, layout.Campaign(r.in.Campaign)+"report.html"); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// The contacted users, for later campaigns' suppression.
	return workflow.ExecuteActivity(withActivityOptions(ctx), a.RecordContacts, activities.RecordContactsInput{
		Campaign: r.in.Campaign, Start: r.start, ScoreKeys: r.scoreKeys,
	}).Get(ctx, nil)
}
