package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/promoflow/promoflow/internal/evaluate"
	"github.com/promoflow/promoflow/internal/history"
	"github.com/promoflow/promoflow/internal/layout"
)

// campaignRun is the run that decided a published campaign, from its
// summary.json: the run whose features the decision used.
func (a *Activities) campaignRun(ctx context.Context, campaign string) (string, error) {
	key := layout.Campaign(campaign) + "summary.json"
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("campaign %s: %w", campaign, err)
	}
	var s struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(data, &s); err != nil || s.RunID == "" {
		return "", &corruptError{key: key, err: fmt.Errorf("no run_id: %v", err)}
	}
	return s.RunID, nil
}

// writeHistory writes the evaluated campaign's per-user history to
// history/<template>/<campaign>.parquet (internal/history), overwriting
// it on a retry, and records where in out.
func (a *Activities) writeHistory(ctx context.Context, in EvaluateCampaignInput, rows []evaluate.Row, out *EvaluateCampaignOutput) error {
	run, err := a.campaignRun(ctx, in.Campaign)
	if err != nil {
		return err
	}
	hist, skipped, err := history.FromPlan(rows, in.Campaign, run, in.Start, in.End)
	if errors.Is(err, history.ErrNoProbabilities) {
		// An older plan: evaluated as before, but it cannot teach the
		// next decisions; the output says so by its zero rows.
		out.HistorySkipped = skipped
		return nil
	}
	if err != nil {
		return &corruptError{key: layout.Campaign(in.Campaign) + "plan.csv", err: err}
	}
	var buf bytes.Buffer
	if err := history.Write(&buf, hist, a.mem()); err != nil {
		return err
	}
	key := layout.History(in.Template, in.Campaign)
	if err := a.Store.Put(ctx, key, buf.Bytes()); err != nil {
		return err
	}
	out.History, out.HistoryRows, out.HistorySkipped = a.Store.URL(key), len(hist), skipped
	return nil
}
