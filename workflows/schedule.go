package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// scheduledStartKey is the search attribute Temporal sets on runs a
// schedule starts: the time the action was scheduled for.
var scheduledStartKey = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// ScheduledTime is the time a schedule meant the run to start, or, for a
// run not started by a schedule, the run's start (workflow.Now).
func ScheduledTime(ctx workflow.Context) time.Time {
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartKey); ok {
		return t.UTC()
	}
	return workflow.Now(ctx).UTC()
}

// CampaignID is the readable campaign ID of a template's run at t: the
// template and t's ISO week, weekly-2026-W48.
func CampaignID(template string, t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%s-%d-W%02d", template, y, w)
}
