package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
)

// deleteStagedVersion is the version marker of the deletion of ingest's
// staging: runs recorded before it issued no DeleteStaged, and replay must
// not either.
const deleteStagedVersion = "delete-staged"

// deleteStaged deletes the run's ingest staging (runs/<run>/ingest/,
// activities.DeleteStaged) once the ingest stage has finalized its tables
// and written the rejects, and returns how many objects were deleted.
func deleteStaged(ctx workflow.Context, runID string) int { return startDeleteStaged(ctx, runID)() }

// startDeleteStaged starts the deletion and returns a function that waits
// for it: Regenerate goes on with its stages meanwhile (deleting a
// 1,000,000-user run's staging took 4.3 s, which waited in line before
// the features stage). The run does not fail for it: the staging only
// costs storage, so a deletion that fails through its retries is logged
// and the run goes on.
func startDeleteStaged(ctx workflow.Context, runID string) (wait func() int) {
	if workflow.GetVersion(ctx, deleteStagedVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return func() int { return 0 }
	}
	actx := withSummary(withActivityOptions(ctx), "delete ingest staging")
	f := workflow.ExecuteActivity(actx, a.DeleteStaged, activities.DeleteStagedInput{RunID: runID})
	return func() int {
		var out activities.DeleteStagedOutput
		if err := f.Get(ctx, &out); err != nil {
			workflow.GetLogger(ctx).Warn("ingest staging not deleted; it only costs storage", "run", runID, "err", err)
		}
		return out.Objects
	}
}
