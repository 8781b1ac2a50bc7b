package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/evaluate"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/report"
)

// StateRef names an adjustment state an evaluation wrote: its versioned
// copy (state/<template>/v<version>.json) and version.
type StateRef struct {
	Key     string `json:"key,omitempty"`
	Version int    `json:"version"`
}

// loadState reads a state; nil without error when it does not exist.
func (a *Activities) loadState(ctx context.Context, key string) (*adjust.State, error) {
	data, err := a.Store.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := adjust.Parse(data)
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	return s, nil
}

// EvaluateCampaignInput names a published campaign and its outcome events.
type EvaluateCampaignInput struct {
	Campaign string
	Template string // whose adjustment state the evaluation updates; empty: none
	// Start and End bound the campaign window: purchases in [Start, End)
	// are its outcomes.
	Start, End time.Time
	// Outcomes are keys of canonical events CSV files, or prefixes (ending
	// in "/") of such files; with Mapping, files its events sources read.
	Outcomes []string
	Mapping  string // mapping YAML; empty: canonical event CSV (outcomes.go)
	Catalog  []campaign.Offer
	Margin   float64
}

// EvaluateCampaignOutput is the headline of an evaluation.
type EvaluateCampaignOutput struct {
	Summary           string   `json:"summary"` // s3:// addresses
	Report            string   `json:"report"`
	State             StateRef `json:"state"` // the state written; zero without a template
	Users             int64    `json:"users"`
	Treated           int64    `json:"treated"`
	Control           int64    `json:"control"`
	Purchases         int      `json:"purchases"`
	UnknownUsers      int      `json:"unknown_users"` // outcome users not in the plan
	ResponseLift      float64  `json:"response_lift"`
	IncrementalProfit float64  `json:"incremental_profit"`
	Cost              float64  `json:"cost"`
	ROI               float64  `json:"roi"`
	Qini              float64  `json:"qini"`
	Retired           []string `json:"retired,omitempty"`
	// History is the campaign's per-user history object
	// (history/<template>/<campaign>.parquet), HistoryRows its rows and
	// HistorySkipped the plan rows left out (not randomized: outside the
	// audience, suppressed, without an eligible offer).
	History        string `json:"history,omitempty"`
	HistoryRows    int    `json:"history_rows"`
	HistorySkipped int    `json:"history_skipped"`

	// Overview is the template's overview page, refreshed by the
	// evaluation (layout.TemplateOverview); empty without a template or
	// when writing it failed (logged: the evaluation itself stands).
	Overview string `json:"overview,omitempty"`

	// OutcomeRows, when the outcomes were read through a mapping, accounts
	// for their records: read, accepted, rejected by reason (outcomes.go).
	OutcomeRows *OutcomeRows `json:"outcome_rows,omitempty"`
}

// EvaluationSummary is campaigns/<campaign>/evaluation/summary.json.
type EvaluationSummary struct {
	Campaign string    `json:"campaign"`
	Template string    `json:"template"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Outcomes []string  `json:"outcomes"`
	Margin   float64   `json:"margin"`
	evaluate.Result
	StateVersion int    `json:"state_version,omitempty"`
	History      string `json:"history,omitempty"` // the campaign's history object
	HistoryRows  int    `json:"history_rows,omitempty"`
}

// EvaluateCampaign measures a published campaign against its control group
// (internal/evaluate), writes the evaluation's summary.json and report.html
// and, with a template, the updated adjustment state (internal/adjust):
// state/<template>/v<version>.json and latest.json. A retry that finds its
// own campaign in latest.json starts again from the version before, so
// outcomes are never counted twice.
func (a *Activities) EvaluateCampaign(ctx context.Context, in EvaluateCampaignInput) (_ EvaluateCampaignOutput, err error) {
	defer final(&err)
	prefix := layout.Campaign(in.Campaign)
	planData, err := a.Store.Get(ctx, prefix+"plan.csv")
	if err != nil {
		return EvaluateCampaignOutput{}, fmt.Errorf("campaign %s: %w", in.Campaign, err)
	}
	rows, err := evaluate.ReadPlan(bytes.NewReader(planData), prefix+"plan.csv")
	if err != nil {
		return EvaluateCampaignOutput{}, &corruptError{key: prefix + "plan.csv", err: err}
	}
	outcomes := map[string]*evaluate.Outcome{}
	out := EvaluateCampaignOutput{}
	keys, err := a.readOutcomes(ctx, in, outcomes, &out)
	if err != nil {
		return EvaluateCampaignOutput{}, err
	}
	out.UnknownUsers = evaluate.Join(rows, outcomes)
	res, err := evaluate.Measure(rows, in.Catalog, in.Margin)
	if err != nil {
		return EvaluateCampaignOutput{}, &corruptError{key: prefix + "plan.csv", err: err}
	}
	sum := EvaluationSummary{Campaign: in.Campaign, Template: in.Template, Start: in.Start, End: in.End, Outcomes: keys, Margin: in.Margin, Result: *res}
	if in.Template != "" {
		if err := a.writeHistory(ctx, in, rows, &out); err != nil {
			return EvaluateCampaignOutput{}, err
		}
		sum.History, sum.HistoryRows = out.History, out.HistoryRows
		prev, err := a.loadState(ctx, adjust.Key(in.Template))
		if err != nil {
			return EvaluateCampaignOutput{}, err
		}
		if prev != nil && prev.Campaign == in.Campaign {
			// A retry after the state was written: start from the version before.
			v := prev.Version - 1
			prev = nil
			if v > 0 {
				if prev, err = a.loadState(ctx, layout.StateVersion(in.Template, v)); err != nil {
					return EvaluateCampaignOutput{}, err
				}
			}
		}
		st := adjust.Update(prev, in.Template, in.Campaign, in.End, res)
		data, err := st.Marshal()
		if err != nil {
			return EvaluateCampaignOutput{}, err
		}
		vk := layout.StateVersion(in.Template, st.Version)
		if err := a.Store.Put(ctx, vk, data); err != nil {
			return EvaluateCampaignOutput{}, err
		}
		if err := a.Store.Put(ctx, adjust.Key(in.Template), data); err != nil {
			return EvaluateCampaignOutput{}, err
		}
		out.State = StateRef{Key: vk, Version: st.Version}
		out.Retired = st.Retired
		sum.StateVersion = st.Version
	}
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return EvaluateCampaignOutput{}, err
	}
	if err := a.Store.Put(ctx, prefix+"evaluation/summary.json", data); err != nil {
		return EvaluateCampaignOutput{}, err
	}
	var html bytes.Buffer
	if err := report.RenderEvaluation(&html, report.Evaluation{
		Campaign: in.Campaign, Template: in.Template, Start: in.Start, End: in.End,
		Margin: in.Margin, StateVersion: sum.StateVersion, Result: *res,
	}); err != nil {
		return EvaluateCampaignOutput{}, fmt.Errorf("campaign %s: evaluation report: %w", in.Campaign, err)
	}
	if err := a.Store.Put(ctx, prefix+"evaluation/report.html", html.Bytes()); err != nil {
		return EvaluateCampaignOutput{}, err
	}
	out.Summary, out.Report = a.Store.URL(prefix+"evaluation/summary.json"), a.Store.URL(prefix+"evaluation/report.html")
	out.Users, out.Treated, out.Control = res.Users, res.Treated, res.Control
	out.ResponseLift = res.Overall.ResponseLift.Value
	out.IncrementalProfit, out.Cost, out.ROI, out.Qini = res.Overall.IncrementalProfit, res.Overall.Cost, res.Overall.ROI, res.Qini
	if in.Template != "" {
		out.Overview = a.refreshOverview(ctx, in.Template)
	}
	return out, nil
}
