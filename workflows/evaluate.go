package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
)

// OutcomesReadySignal tells a waiting evaluation that the campaign's
// outcome events are in the bucket: it stops waiting for the window's end.
// Its payload is an OutcomesReady.
const OutcomesReadySignal = "outcomes-ready"

// OutcomesReady is the payload of OutcomesReadySignal.
type OutcomesReady struct {
	// Outcomes, when not empty, replace EvaluateInput.Outcomes, and
	// Mapping replaces EvaluateInput.Mapping (the files come with their
	// mapping; empty: canonical event CSV).
	Outcomes []string
	Mapping  string
}

// Evaluation stages, for the progress query and the Stage search attribute.
const (
	StageWaiting   = "waiting"
	StageEvaluate  = "evaluate"
	StageEvaluated = "evaluated"
)

// EvaluateInput configures the evaluation of one published campaign.
type EvaluateInput struct {
	Campaign string
	Template string // whose adjustment state to update; empty: none
	// Start and End are the campaign window: the evaluation waits (a
	// durable timer) until End, or until OutcomesReadySignal.
	Start, End time.Time
	// WaitUntil, when set, replaces End as the end of the wait: the
	// simulator, whose windows are in simulated time, waits for the
	// signal instead.
	WaitUntil time.Time
	// Outcomes are keys or prefixes ("/"-terminated) of canonical event
	// CSV files; empty means EvaluationOutcomes(Campaign).
	Outcomes []string
	// Mapping, when set, is the mapping YAML the outcome files are read
	// through (its events sources), as a run reads its inputs.
	Mapping string
	Catalog []campaign.Offer
	Margin  float64
}

// EvaluationOutcomes is where a campaign's outcome events are expected by
// default: raw/outcomes/<campaign>/.
func EvaluationOutcomes(campaign string) string { return layout.Outcomes(campaign) }

// EvaluationID is the workflow ID of a campaign's evaluation.
func EvaluationID(campaign string) string { return campaign + "-evaluation" }

// Evaluate is the re-evaluation of a published campaign: it waits on a
// durable timer until the campaign window ends, or for the outcomes-ready
// signal, then measures the campaign against its control group and updates
// the template's adjustment state (activities.EvaluateCampaign).
func Evaluate(ctx workflow.Context, in EvaluateInput) (activities.EvaluateCampaignOutput, error) {
	var out activities.EvaluateCampaignOutput
	if in.Campaign == "" {
		return out, temporal.NewNonRetryableApplicationError("evaluate: campaign is empty", activities.BadInputType, nil)
	}
	if !in.End.After(in.Start) {
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("evaluate %s: window %v to %v is empty", in.Campaign, in.Start, in.End), activities.BadInputType, nil)
	}
	if in.Catalog == nil || in.Margin == 0 {
		// The embedded weekly template's offers and margin.
		spec, cat, err := LoadCampaign(DefaultTemplate)
		if err != nil {
			return out, err
		}
		if in.Catalog == nil {
			in.Catalog = cat.Resolve(spec.Offers)
		}
		if in.Margin == 0 {
			in.Margin = spec.Margin
		}
	}
	if len(in.Outcomes) == 0 {
		in.Outcomes = []string{EvaluationOutcomes(in.Campaign)}
	}
	track := newTracker(ctx, in.Campaign, StageWaiting, StageEvaluate)
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return track.p, nil }); err != nil {
		return out, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		CampaignTemplateKey.ValueSet(in.Template), CampaignIDKey.ValueSet(in.Campaign), StageKey.ValueSet(StageWaiting)); err != nil {
		return out, err
	}
	track.begin(StageWaiting, 0)
	until := in.End
	if !in.WaitUntil.IsZero() {
		until = in.WaitUntil
	}
	wait := until.Sub(workflow.Now(ctx))
	signalled := false
	if wait > 0 {
		tctx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimerWithOptions(tctx, wait, workflow.TimerOptions{Summary: "campaign window ends " + until.UTC().Format(time.RFC3339)})
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(f workflow.Future) {
			if err := f.Get(ctx, nil); err != nil && !errors.As(err, new(*temporal.CanceledError)) {
				workflow.GetLogger(ctx).Warn("window timer", "error", err)
			}
		})
		sel.AddReceive(workflow.GetSignalChannel(ctx, OutcomesReadySignal), func(c workflow.ReceiveChannel, _ bool) {
			var s OutcomesReady
			c.Receive(ctx, &s)
			signalled = true
			if len(s.Outcomes) > 0 {
				in.Outcomes, in.Mapping = s.Outcomes, s.Mapping
			}
			cancel()
		})
		sel.Select(ctx)
	}
	if signalled {
		track.detail(StageWaiting, "outcomes-ready signal")
	} else {
		track.detail(StageWaiting, "window ended")
	}
	track.end(StageWaiting)
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(StageEvaluate)); err != nil {
		return out, err
	}
	track.begin(StageEvaluate, 1)
	actx := withSummary(withActivityOptions(ctx), fmt.Sprintf("measure %s against control; update state of %q", in.Campaign, in.Template))
	err := workflow.ExecuteActivity(actx, a.EvaluateCampaign, activities.EvaluateCampaignInput{
		Campaign: in.Campaign, Template: in.Template, Start: in.Start, End: in.End,
		Outcomes: in.Outcomes, Mapping: in.Mapping, Catalog: in.Catalog, Margin: in.Margin,
	}).Get(ctx, &out)
	if err != nil {
		return out, fmt.Errorf("evaluate %s: %w", in.Campaign, err)
	}
	track.end(StageEvaluate)
	track.finish()
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(StageEvaluated)); err != nil {
		return out, err
	}
	err = workflow.UpsertMemo(ctx, map[string]any{
		"users": out.Users, "treated": out.Treated, "control": out.Control, "response_lift": out.ResponseLift,
		"incremental_profit": out.IncrementalProfit, "cost": out.Cost, "roi": out.ROI, "qini": out.Qini,
		"state_version": out.State.Version, "report": out.Report,
	})
	return out, err
}

// withSummary sets the one-line summary the Temporal UI shows for the
// activities started with the returned context.
func withSummary(ctx workflow.Context, summary string) workflow.Context {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = summary
	return workflow.WithActivityOptions(ctx, o)
}
