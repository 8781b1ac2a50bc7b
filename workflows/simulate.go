package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/layout"
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
	World  synth.Config // the generated users; World.End is the first week's decision time
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
	// ExploreShares is the share of treatable users given a uniformly
	// random offer, by week (its last share for the weeks beyond it; the
	// template's share when empty): large early shares give randomized
	// history, so the per-user uplift models see every offer on every kind
	// of user, not only where the decision already sends it; small later
	// ones exploit what they learnt.
	ExploreShares []float64
	// Done are the weeks already simulated (carried over continue-as-new).
	Done []sim.Week
}

// SimulationPrefix is where a simulation's world delivers its weekly
// drops: the input prefix of its runs.
func SimulationPrefix(id string) string { return layout.Raw("sim", id+"/") }

// SimulateOutput is every simulated week.
type SimulateOutput struct {
	Weeks []sim.Week `json:"weeks"`
}

// SimulateProgressQuery returns the weeks simulated so far.
const SimulateProgressQuery = "weeks"

// Simulate runs the production loop for in.Weeks simulated weeks on a
// generated world whose true offer effects are known. Each week:
//   - the world moves on: SimulateDrop delivers its events up to the week's
//     start as a new drop under raw/sim/<id>/, as a shop's export lands;
//   - a Regenerate child starts as the template's schedule would start it
//     (newest drop under the prefix, the synth mapping, evaluation on),
//     so its decision learns only from what earlier evaluations wrote to
//     history/<id>/, joined to the features of the runs that decided them;
//   - SimulateWeek lets the users answer the published plan by their hidden
//     effects, writes the purchases as an outcome drop
//     (raw/outcomes/<campaign>/) and scores the plan against the oracle,
//     the blanket baseline and the best one-offer-per-segment policy;
//   - the outcomes-ready signal wakes the campaign's evaluation (the
//     regeneration's child), which measures it, updates the adjustment state
//     and writes the campaign's history; AwaitHistory waits for that.
//
// It continues as new every WeeksPerRun weeks.
func Simulate(ctx workflow.Context, in SimulateInput) (SimulateOutput, error) {
	if in.ID == "" || in.Weeks < 1 || in.World.Users < 1 {
		return SimulateOutput{}, errors.New("simulate: want an id, weeks >= 1 and users")
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
		in.Shards = DefaultSimulateShards
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
		if n := len(in.ExploreShares); n > 0 {
			c := *spec
			c.ExploreShare = in.ExploreShares[min(week, n)-1]
			wspec = &c
		}
		world := in.World
		world.End = start
		var drop string
		dctx := withSummary(withHeartbeat(ctx), fmt.Sprintf("week %d: the world's events up to %s", week, start.Format(time.DateOnly)))
		if err := workflow.ExecuteActivity(dctx, a.SimulateDrop, activities.SimulateDropInput{Prefix: SimulationPrefix(in.ID), World: world}).Get(ctx, &drop); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: drop: %w", week, err)
		}
		var sum Summary
		rctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: campaign, StaticSummary: fmt.Sprintf("week %d: regenerate", week)})
		// As the template's schedule starts a run: the newest drop under
		// the prefix, the evaluation started by the run itself.
		err := workflow.ExecuteChildWorkflow(rctx, Regenerate, RegenerateInput{
			RunID: campaign, Template: in.ID, Campaign: campaign, InputPrefix: SimulationPrefix(in.ID), Mapping: deploy.SynthMapping,
			Shards: in.Shards, Seed: in.Seed, K: in.K, Spec: wspec, Catalog: cat,
			Start: start, End: start.Add(7 * 24 * time.Hour), Evaluate: true, EvaluateOnSignal: true,
		}).Get(ctx, &sum)
		if err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: regenerate: %w", week, err)
		}
		var wk activities.SimulateWeekOutput
		actx := withSummary(withActivityOptions(ctx), fmt.Sprintf("week %d: %d users answer plan %s", week, sum.Users, campaign))
		err = workflow.ExecuteActivity(actx, a.SimulateWeek, activities.SimulateWeekInput{
			RunID: campaign, Campaign: campaign, Shards: in.Shards, Week: week, World: world,
			Catalog: catalog, Margin: margin, Baseline: in.Baseline, Start: start, DefaultBasket: synth.FirstBasket,
		}).Get(ctx, &wk)
		if err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: simulate: %w", week, err)
		}
		if sum.Strategy != nil && sum.Strategy.State != nil {
			wk.StateVersion = sum.Strategy.State.Version
		}
		if sum.Uplift != nil {
			wk.UpliftRows, wk.Learner, wk.CVPolicyValue = sum.Uplift.Joined, sum.Uplift.Learner, sum.Uplift.CVPolicyValue
		}
		// The outcomes are in: wake the evaluation, as `starter outcomes` does.
		if err := workflow.SignalExternalWorkflow(ctx, EvaluationID(campaign), "", OutcomesReadySignal, OutcomesReady{}).Get(ctx, nil); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: signal evaluation: %w", week, err)
		}
		wctx := withSummary(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: time.Hour,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1.5, MaximumInterval: 10 * time.Second},
		}), fmt.Sprintf("week %d: wait for the evaluation of %s", week, campaign))
		if err := workflow.ExecuteActivity(wctx, a.AwaitHistory, in.ID, campaign).Get(ctx, nil); err != nil {
			return SimulateOutput{}, fmt.Errorf("week %d: evaluation: %w", week, err)
		}
		in.Done = append(in.Done, wk.Week)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(Done)); err != nil {
		return SimulateOutput{}, err
	}
	return SimulateOutput{Weeks: in.Done}, nil
}
