package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/sim"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/synth"
)

var loopStart = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// newEvalEnv is a test environment for Evaluate whose EvaluateCampaign
// records its input.
func newEvalEnv(got *activities.EvaluateCampaignInput, calls *int) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(loopStart)
	env.RegisterWorkflow(Evaluate)
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity("EvaluateCampaign", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EvaluateCampaignInput) (activities.EvaluateCampaignOutput, error) {
			*got = in
			*calls++
			return activities.EvaluateCampaignOutput{Users: 100, Treated: 80, Control: 20, State: activities.StateRef{Key: "k", Version: 2}}, nil
		})
	return env
}

func TestEvaluateWaitsForTheWindow(t *testing.T) {
	var got activities.EvaluateCampaignInput
	calls := 0
	env := newEvalEnv(&got, &calls)
	end := loopStart.Add(7 * 24 * time.Hour)
	// An hour before the window ends the evaluation is still waiting.
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(ProgressQuery)
		if err != nil {
			t.Error(err)
			return
		}
		var p Progress
		if err := v.Get(&p); err != nil || p.Stage != StageWaiting || calls != 0 {
			t.Errorf("an hour before the end: stage %q, %d evaluations, err %v", p.Stage, calls, err)
		}
	}, 7*24*time.Hour-time.Hour)
	env.ExecuteWorkflow(Evaluate, EvaluateInput{Campaign: "weekly-2026-W48", Template: "weekly", Start: loopStart, End: end})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if calls != 1 || len(got.Outcomes) != 1 || got.Outcomes[0] != "raw/outcomes/weekly-2026-W48/" || got.Margin != 0.40 || len(got.Catalog) != 5 {
		t.Errorf("%d calls with %+v", calls, got)
	}
	if now := env.Now(); now.Before(end) {
		t.Errorf("evaluated at %v, before the window's end %v", now, end)
	}
	var p Progress
	v, _ := env.QueryWorkflow(ProgressQuery)
	if err := v.Get(&p); err != nil || p.Stage != Done || p.Stages[0].Detail != "window ended" {
		t.Errorf("progress %+v, err %v", p, err)
	}
}

func TestEvaluateWakesOnSignal(t *testing.T) {
	var got activities.EvaluateCampaignInput
	calls := 0
	env := newEvalEnv(&got, &calls)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(OutcomesReadySignal, OutcomesReady{Outcomes: []string{"raw/shop/2026-11-30/events.csv"}})
	}, 2*time.Hour)
	env.ExecuteWorkflow(Evaluate, EvaluateInput{Campaign: "c", Template: "weekly", Start: loopStart, End: loopStart.Add(7 * 24 * time.Hour)})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if calls != 1 || len(got.Outcomes) != 1 || got.Outcomes[0] != "raw/shop/2026-11-30/events.csv" {
		t.Errorf("%d calls, outcomes %v: want the signal's", calls, got.Outcomes)
	}
	// Evaluated when signalled, not a week later.
	if now := env.Now(); now.After(loopStart.Add(3 * time.Hour)) {
		t.Errorf("evaluated at %v, want about 2h after %v", now, loopStart)
	}
	var out activities.EvaluateCampaignOutput
	if err := env.GetWorkflowResult(&out); err != nil || out.State.Version != 2 {
		t.Errorf("result %+v, err %v", out, err)
	}
}

func TestEvaluateRejectsEmptyWindow(t *testing.T) {
	var got activities.EvaluateCampaignInput
	calls := 0
	env := newEvalEnv(&got, &calls)
	env.ExecuteWorkflow(Evaluate, EvaluateInput{Campaign: "c", Start: loopStart, End: loopStart})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != activities.BadInputType || calls != 0 {
		t.Errorf("err %v, %d evaluations: want BadInput and none", err, calls)
	}
}

// TestSimulateContinuesAsNew: each simulated week is a drop of the world
// as of the week, a regeneration started as the schedule would start it
// (newest drop under the prefix, evaluation on, waiting for the signal),
// the users' answer, the outcomes-ready signal to the run's evaluation and
// a wait for the campaign's history; after WeeksPerRun weeks the
// simulation continues as new with the weeks done.
func TestSimulateContinuesAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(loopStart)
	env.RegisterWorkflow(Simulate)
	env.RegisterWorkflow(Regenerate)
	env.RegisterActivity(&activities.Activities{})
	weekStart := func(w int) time.Time { return loopStart.AddDate(0, 0, 7*(w-1)) }
	// Each week's regeneration sees the state the previous evaluation wrote.
	version := 0
	var drops, signals []string
	env.OnActivity("SimulateDrop", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SimulateDropInput) (string, error) {
		key := in.Prefix + in.World.End.Format(time.DateOnly) + "/events.csv.gz"
		drops = append(drops, key)
		return key, nil
	})
	env.OnWorkflow(Regenerate, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in RegenerateInput) (Summary, error) {
		w := weekOf(in)
		if len(in.Inputs) != 0 || in.InputPrefix != "raw/sim/s/" || !in.Evaluate || !in.EvaluateOnSignal || in.Spec.Name != "s" || in.Spec.Budget != 0 ||
			!in.Start.Equal(weekStart(w)) || len(drops) != w {
			t.Errorf("week %d input: prefix %q inputs %v evaluate %v/%v start %v template %+v", w, in.InputPrefix, in.Inputs, in.Evaluate, in.EvaluateOnSignal, in.Start, in.Spec)
		}
		return Summary{RunID: in.RunID, Users: 50, Strategy: &strategy.Summary{State: &strategy.StateRef{Version: version}},
			Uplift: &strategy.UpliftInfo{Joined: int64(40 * (w - 1)), Learner: "x"}}, nil
	})
	env.OnActivity("SimulateWeek", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SimulateWeekInput) (activities.SimulateWeekOutput, error) {
		if !in.World.End.Equal(weekStart(in.Week)) {
			t.Errorf("week %d answers as the world of %v", in.Week, in.World.End)
		}
		return activities.SimulateWeekOutput{Week: sim.Week{Week: in.Week, PlanProfit: float64(10 * in.Week), OracleProfit: 100},
			Outcomes: EvaluationOutcomes(in.Campaign) + "outcomes.csv"}, nil
	})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", OutcomesReadySignal, mock.Anything).Return(
		func(_, id, _, _ string, _ any) error {
			signals = append(signals, id)
			return nil
		})
	env.OnActivity("AwaitHistory", mock.Anything, "s", mock.Anything).Return(func(_ context.Context, _, campaign string) error {
		version++
		return nil
	})
	in := SimulateInput{ID: "s", Weeks: 5, World: synth.Config{Users: 50, Seed: 1, End: loopStart}, WeeksPerRun: 2}
	env.ExecuteWorkflow(Simulate, in)
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("err = %v, want continue-as-new after 2 weeks", err)
	}
	var next SimulateInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.Done) != 2 || next.Done[0].Week != 1 || next.Done[1].Week != 2 || next.Done[1].StateVersion != 1 || next.Weeks != 5 ||
		next.Done[1].UpliftRows != 40 || next.Done[1].Learner != "x" {
		t.Errorf("carried over: %+v", next)
	}
	if want := []string{"s-w01-evaluation", "s-w02-evaluation"}; fmt.Sprint(signals) != fmt.Sprint(want) {
		t.Errorf("signalled %v, want %v", signals, want)
	}
	if want := []string{"raw/sim/s/2026-11-23/events.csv.gz", "raw/sim/s/2026-11-30/events.csv.gz"}; fmt.Sprint(drops) != fmt.Sprint(want) {
		t.Errorf("drops %v, want %v", drops, want)
	}

	// The next run finishes the remaining weeks.
	env2 := s.NewTestWorkflowEnvironment()
	env2.SetStartTime(loopStart)
	env2.RegisterWorkflow(Simulate)
	env2.RegisterActivity(&activities.Activities{})
	env2.OnActivity("SimulateDrop", mock.Anything, mock.Anything).Return("k", nil)
	env2.OnWorkflow(Regenerate, mock.Anything, mock.Anything).Return(Summary{Users: 50}, nil)
	env2.OnActivity("SimulateWeek", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SimulateWeekInput) (activities.SimulateWeekOutput, error) {
		return activities.SimulateWeekOutput{Week: sim.Week{Week: in.Week}}, nil
	})
	env2.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", OutcomesReadySignal, mock.Anything).Return(nil)
	env2.OnActivity("AwaitHistory", mock.Anything, mock.Anything, mock.Anything).Return(nil)
	next.WeeksPerRun = 10
	env2.ExecuteWorkflow(Simulate, next)
	var out SimulateOutput
	if err := env2.GetWorkflowResult(&out); err != nil || len(out.Weeks) != 5 || out.Weeks[4].Week != 5 {
		t.Errorf("result %+v, err %v", out, err)
	}
}

func TestRegenerateScheduledRun(t *testing.T) {
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DecidePrepare": func(c *testsuite.MockCallWrapper) {
		c.Return(activities.DecidePrepareOutput{StateKey: "runs/x/decide/state.json", State: &strategy.StateRef{Key: "state/weekly/latest.json", Version: 3}}, nil)
	}})
	env.OnActivity("ResolveInputs", mock.Anything, "raw/weekly/").Return([]string{"raw/weekly/2026-11-23/a.csv"}, nil)
	// As a schedule starts it: no run id, the scheduled time as a search attribute.
	scheduled := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledStartKey.ValueSet(scheduled))); err != nil {
		t.Fatal(err)
	}
	in := testInput()
	in.RunID, in.Inputs, in.InputPrefix = "", nil, "raw/weekly/"
	env.ExecuteWorkflow(Regenerate, in)
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.Campaign != "weekly-2026-W48" || len(sum.Inputs) != 1 || sum.Inputs[0] != "raw/weekly/2026-11-23/a.csv" {
		t.Errorf("campaign %q inputs %v", sum.Campaign, sum.Inputs)
	}
	if sum.Strategy == nil || sum.Strategy.State == nil || sum.Strategy.State.Version != 3 {
		t.Errorf("strategy %+v: want state version 3", sum.Strategy)
	}
}

func TestRegenerateStartsEvaluation(t *testing.T) {
	env := newEnv(t, nil)
	env.RegisterWorkflow(Evaluate)
	var started EvaluateInput
	env.OnWorkflow(Evaluate, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in EvaluateInput) (activities.EvaluateCampaignOutput, error) {
		started = in
		return activities.EvaluateCampaignOutput{}, nil
	})
	in := testInput()
	in.Evaluate = true
	env.ExecuteWorkflow(Regenerate, in)
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.Evaluation != "t-1-evaluation" || started.Campaign != "t-1" || !started.End.After(started.Start) || len(started.Catalog) == 0 || started.Margin != 0.4 {
		t.Errorf("evaluation %q started with %+v", sum.Evaluation, started)
	}
}

func TestCampaignID(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), "weekly-2026-W48"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "weekly-2026-W53"},
		// Weeks are UTC weeks: this is still Sunday 3 January in UTC.
		{time.Date(2027, 1, 4, 0, 0, 0, 0, time.FixedZone("x", 3600)), "weekly-2026-W53"},
	} {
		if got := CampaignID("weekly", c.t); got != c.want {
			t.Errorf("CampaignID(%v) = %s, want %s", c.t, got, c.want)
		}
	}
	// Schedules that run more often than weekly name campaigns by minute,
	// so two runs of one week do not share a campaign.
	at := time.Date(2026, 12, 3, 9, 15, 0, 0, time.UTC)
	for _, c := range []struct {
		every time.Duration
		want  string
	}{
		{0, "weekly-2026-W49"}, {7 * 24 * time.Hour, "weekly-2026-W49"}, {2 * time.Minute, "weekly-20261203-0915"}, {24 * time.Hour, "weekly-20261203-0915"},
	} {
		if got := ScheduledCampaignID("weekly", at, c.every); got != c.want {
			t.Errorf("ScheduledCampaignID(every %v) = %s, want %s", c.every, got, c.want)
		}
	}
	// A triggered run, within the minute of a scheduled one, is named to
	// the second: two runs a few seconds apart shared a campaign, and the
	// second overwrote the first's plan.
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{at.Add(27 * time.Second), "weekly-20261203-091527"}, {at.Add(27 * time.Second).Add(2 * time.Minute), "weekly-20261203-091727"},
		{at.Add(2 * time.Minute), "weekly-20261203-0917"},
	} {
		if got := ScheduledCampaignID("weekly", c.at, 2*time.Minute); got != c.want {
			t.Errorf("ScheduledCampaignID(%v, every 2m) = %s, want %s", c.at, got, c.want)
		}
	}
	if a, b := ScheduledCampaignID("weekly", at.Add(2*time.Second), time.Minute), ScheduledCampaignID("weekly", at.Add(27*time.Second), time.Minute); a == b {
		t.Errorf("runs 25 s apart share campaign %s", a)
	}
}

// weekOf is the simulated week of a simulation's regeneration input (the
// campaign is <id>-wNN).
func weekOf(in RegenerateInput) int {
	var w int
	fmt.Sscanf(in.Campaign[len(in.Campaign)-2:], "%d", &w)
	return w
}
