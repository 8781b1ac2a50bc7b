package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/layout"
)

// DeleteStagedInput names the run whose ingest staging is deleted.
type DeleteStagedInput struct {
	RunID string
}

// DeleteStagedOutput counts what DeleteStaged deleted.
type DeleteStagedOutput struct {
	Objects int
}

// DeleteStaged deletes what the ingest stage staged for itself under
// runs/<run>/ingest/ (layout.IngestDir): split texts, staged chunks and
// rejects, late rejects. The workflow calls it once ingest has finalized
// every table partition and written the rejects; nothing after reads
// them. Deleting again deletes nothing, so a retry is harmless.
func (a *Activities) DeleteStaged(ctx context.Context, in DeleteStagedInput) (_ DeleteStagedOutput, err error) {
	defer final(&err)
	if in.RunID == "" {
		return DeleteStagedOutput{}, errors.New("delete staged: no run id")
	}
	n, err := a.Store.DeletePrefix(ctx, layout.IngestDir(in.RunID))
	if err != nil {
		return DeleteStagedOutput{Objects: n}, err
	}
	activity.GetLogger(ctx).Info("staged objects deleted", "prefix", layout.IngestDir(in.RunID), "objects", n)
	return DeleteStagedOutput{Objects: n}, nil
}
