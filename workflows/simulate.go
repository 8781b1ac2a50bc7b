package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/sim"
	"github.com/promoflow/promoflow/internal/synth"
)

// SimulateInput configures the world simulator: weeks of the closed loop
// (regenerate, the world answers, evaluate and adjust) on generated users
// whose true offer effects are known.
type SimulateInput struct {
	// ID names the simulation; it is also the template whose adjustment
	// state the loop learns, so simulations do not share state.
	ID     string
	Weeks  int
	World  synth.Config // the generated users (events already under Inputs)
	Inputs []string     // raw/ keys of the generated events
	Shards int
	K      int
	Seed   int64
	// ControlShare is the share held out each week; zero means 0.2.
	ControlShare float64
	Baseline     string // blanket offer; empty means discount10
	// Start is the first campaign's start in simulated time; zero means
	// the end of the generated history.
	Start time.Time
	// WeeksPerRun is how many weeks one run does before continuing as
	// new, so the history stays short however many weeks; zero means 4.
	WeeksPerRun int
	// FeedHistory feeds each week's outcomes back to the next weeks'
	// runs as campaign history (raw/sim/<campaign>/history.csv), from
	// which the decision trains per-user uplift models; without it the
	// loop learns only through the adjustment state.
	FeedHistory bool
	// ExploreShares is the share of treatable users given a uniformly
	// random offer, by week (the template's share beyond its length):
	// large early shares give randomized history, so the per-user uplift
	// models see every offer on every kind of user, not only where the
	// decision already sends it; small later ones exploit what they learnt.
	ExploreShares []float64
	// Done are the weeks already simulated and History the history files
	// written so far (carried over continue-as-new).
	Done    []sim.Week
	History []string
}

// SimulateOutput is every simulated week.
type SimulateOutput struct {
	Weeks []sim.Week `json:"weeks"`
}

// SimulateProgressQuery returns the weeks simulated so far.
const SimulateProgressQuery = "weeks"

// Simulate runs the closed loop for in.Weeks simulated weeks: each week a
// Regenerate child publishes a plan, SimulateWeek lets the generated users
// answer it by their hidden true effects and scores it against the oracle
// and the blanket baseline, and an Evaluate child, woken by the
// outcomes-ready signal instead of its timer, measures it and updates the
// adjustment state the next week's decision reads. It continues as new
// every WeeksPerRun weeks.
func Simulate(ctx workflow.Context, in SimulateInput) (SimulateOutput, error) {
	if in.ID == "" || in.Weeks < 1 || len(in.Inputs) == 0 || in.World.Users < 1 {
		return SimulateOutput{}, errors.New("simulate: want an id, weeks >= 1, inputs and users")
	}
	if in.ControlShare == 0 {
		in.ControlShare = 0.2
	}
	if in.Baseline == "" {
		in.Baseline = "discount10"
	}
	if in.Start.IsZero() {
		in.Start = in.World.End
		if in.Start.IsZero() {
			in.Start = synth.DefaultEnd
		}
	}
	if in.WeeksPerRun == 0 {
		in.WeeksPerRun = 4
	}
	if in.Shards == 0 {
		in.Shards = 4
	}
	if err := workflow.SetQueryHandler(ctx, SimulateProgressQuery, func() ([]sim.Week, error) { return in.Done, nil }); err != nil {
		return SimulateOutput{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, CampaignTemplateKey.ValueSet(in.ID)); err != nil {
		return SimulateOutput{}, err
	}
	// The weekly template, restricted to the offers the world knows, with
	// no budget (the oracle has none), no suppression (users may be
	// contacted every week) and the simulation's control share; its name is
	// the simulation's, so its adjustment state is its own.
	spec, cat, err := LoadCampaign(DefaultTemplate)
	if err != nil {
		return SimulateOutput{}, err
	}
	spec.Name, spec.Budget, spec.SuppressDays, spec.ControlShare = in.ID, 0, 0, in.ControlShare
	spec.Offers = slices.Clone(synth.Offers)
	catalog := cat.Resolve(spec.Offers)
	margin := spec.Margin
	for ran := 0; len(in.Done) < in.Weeks; ran++ {
		if ran == in.WeeksPerRun {
			return SimulateOutput{}, workflow.NewContinueAsNewError(ctx, Simulate, in)
		}
		week := len(in.Done) + 1
		if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(fmt.Sprintf("week %d/%d", week, in.Weeks))); err != nil {
			return SimulateOutput{}, err
		}
		campaign := fmt.Sprintf("%s-w%02d", in.ID, week)
		start := in.Start.Add(time.Duration(week-1) * 7 * 24 * time.Hour)
		wspec := spec
		if week <= len(in.ExploreShares) {
			c := *spec
			c.ExploreShare = in.ExploreShares[week-1]
			wspec = &c
		}
		var sum Summary
		rctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: campaign, StaticSummary: fmt.Sprintf("week %d: regenerate", week)})
		// Earlier weeks' outcomes come back as campaign history: the
		// decision trains per-user uplift models on them.
		inputs := append(slices.Clone(in.Inputs), in.History...)
		err := workflow.ExecuteChildWorkflow(rctx, Regenerate, RegenerateInput{
			RunID: campaign, Template: in.ID, Campaign: campaign, Inputs: inputs, Mapping: deploy.SynthMapping,
			Shards: in.Shards, Seed: in.Seed, K: in.K, Spec: wspec, Catalog: cat,
			Start: start, End: start.Add(7 * 24 * time.Hour),
		}).Get(ctx, &sum)
		if err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: regenerate: %w", week, err)
		}
		var wk activities.SimulateWeekOutput
		actx := withSummary(withActivityOptions(ctx), fmt.Sprintf("week %d: %d users answer plan %s", week, sum.Users, campaign))
		err = workflow.ExecuteActivity(actx, a.SimulateWeek, activities.SimulateWeekInput{
			RunID: campaign, Campaign: campaign, Shards: in.Shards, Week: week, World: in.World,
			Catalog: catalog, Margin: margin, Baseline: in.Baseline, Start: start, DefaultBasket: 40,
		}).Get(ctx, &wk)
		if err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: simulate: %w", week, err)
		}
		if in.FeedHistory {
			in.History = append(in.History, wk.History)
		}
		if sum.Strategy != nil && sum.Strategy.State != nil {
			wk.StateVersion = sum.Strategy.State.Version
		}
		if sum.Strategy != nil && sum.Strategy.Uplift != nil {
			wk.UpliftRows = sum.Strategy.Uplift.Joined
		}
		ectx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: EvaluationID(campaign), StaticSummary: fmt.Sprintf("week %d: evaluate", week)})
		ev := workflow.ExecuteChildWorkflow(ectx, Evaluate, EvaluateInput{
			Campaign: campaign, Template: in.ID, Start: start, End: start.Add(7 * 24 * time.Hour),
			// Simulated time: wait for the signal, not the window.
			WaitUntil: workflow.Now(ctx).Add(365 * 24 * time.Hour),
			Outcomes:  []string{wk.Outcomes}, Catalog: catalog, Margin: margin,
		})
		if err := ev.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: evaluate: %w", week, err)
		}
		if err := ev.SignalChildWorkflow(ctx, OutcomesReadySignal, OutcomesReady{}).Get(ctx, nil); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: signal evaluation: %w", week, err)
		}
		if err := ev.Get(ctx, nil); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: evaluate: %w", week, err)
		}
		in.Done = append(in.Done, wk.Week)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(Done)); err != nil {
		return SimulateOutput{}, err
	}
	return SimulateOutput{Weeks: in.Done}, nil
}
