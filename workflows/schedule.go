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

// ScheduledCampaignID is the campaign of a scheduled run at t of a
// schedule that runs every interval (0 for calendar or cron schedules):
// the ISO week (CampaignID) for weekly or rarer runs, and the scheduled
// minute (weekly-20261203-0915) for runs more often than weekly, whose
// campaigns would otherwise share a week's name, its evaluation and its
// history object. A run at a time with seconds (`schedule trigger`: the
// schedule's own runs fall on whole minutes) is named to the second,
// weekly-20261203-091527, so it does not take over the campaign of a
// run in the same minute.
func ScheduledCampaignID(template string, t time.Time, every time.Duration) string {
	if every > 0 && every < 7*24*time.Hour {
		if t.Second() != 0 {
			return template + "-" + t.UTC().Format("20060102-150405")
		}
		return template + "-" + t.UTC().Format("20060102-1504")
	}
	return CampaignID(template, t)
}

// CampaignID is the readable campaign ID of a template's run at t: the
// template and t's ISO week, weekly-2026-W48.
func CampaignID(template string, t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%s-%d-W%02d", template, y, w)
}
