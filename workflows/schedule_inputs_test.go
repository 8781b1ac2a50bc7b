package workflows

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestRegenerateResolvesPrefixesAtStart: a scheduled run's opt-out and
// history prefixes are listed when the run starts (ResolveKeys), history
// files join the inputs after the newest drop, and the decision reads the
// opt-out lists as listed; plain keys need no activity.
func TestRegenerateResolvesPrefixesAtStart(t *testing.T) {
	var mu sync.Mutex
	var optOutSeen [][]string
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DecideScore": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
			mu.Lock()
			optOutSeen = append(optOutSeen, in.OptOut)
			mu.Unlock()
			return activities.DecideScoreOutput{Key: "scored", ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
		})
	}})
	env.OnActivity("ResolveInputs", mock.Anything, "raw/weekly/").Return([]string{"raw/weekly/2026-11-23/a.csv"}, nil)
	env.OnActivity("ResolveKeys", mock.Anything, []string{"raw/history/"}).Return([]string{"raw/history/w47.csv", "raw/history/w48.csv"}, nil).Once()
	env.OnActivity("ResolveKeys", mock.Anything, []string{"raw/optout/", "raw/lists/vip.txt"}).Return([]string{"raw/optout/2026-11-20.txt", "raw/lists/vip.txt"}, nil).Once()
	scheduled := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledStartKey.ValueSet(scheduled))); err != nil {
		t.Fatal(err)
	}
	in := testInput()
	in.RunID, in.Inputs, in.InputPrefix = "", nil, "raw/weekly/"
	in.History = []string{"raw/history/"}
	in.OptOut = []string{"raw/optout/", "raw/lists/vip.txt"}
	env.ExecuteWorkflow(Regenerate, in)
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	env.AssertNumberOfCalls(t, "ResolveKeys", 2)
	if want := []string{"raw/weekly/2026-11-23/a.csv", "raw/history/w47.csv", "raw/history/w48.csv"}; !slices.Equal(sum.Inputs, want) {
		t.Errorf("inputs %v, want %v", sum.Inputs, want)
	}
	if len(optOutSeen) == 0 {
		t.Fatal("DecideScore never ran")
	}
	for _, o := range optOutSeen {
		if !slices.Equal(o, []string{"raw/optout/2026-11-20.txt", "raw/lists/vip.txt"}) {
			t.Errorf("DecideScore opt-out %v", o)
		}
	}

	// Keys only: no listing, the keys as given.
	env = newEnv(t, nil)
	in = testInput()
	in.History, in.OptOut = []string{"raw/h/a.csv"}, []string{"raw/o/a.txt"}
	env.ExecuteWorkflow(Regenerate, in)
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	env.AssertNotCalled(t, "ResolveKeys", mock.Anything, mock.Anything)
	if want := []string{"raw/t/a.csv", "raw/t/b.csv", "raw/h/a.csv"}; !slices.Equal(sum.Inputs, want) {
		t.Errorf("inputs %v, want %v", sum.Inputs, want)
	}
}

// TestDefaultsTemplateApproval: whoever starts a run of a template with
// approval.required (holiday), it waits for a reviewer.
func TestDefaultsTemplateApproval(t *testing.T) {
	for _, tc := range []struct {
		template string
		given    ApprovalPolicy
		want     ApprovalPolicy
	}{
		{"holiday", ApprovalPolicy{}, ApprovalPolicy{Required: true, Deadline: 48 * time.Hour}},
		{"holiday", ApprovalPolicy{Deadline: time.Hour}, ApprovalPolicy{Required: true, Deadline: time.Hour}},
		{"holiday", ApprovalPolicy{Required: true}, ApprovalPolicy{Required: true}},
		{"weekly", ApprovalPolicy{}, ApprovalPolicy{}},
		{"weekly", ApprovalPolicy{Required: true, Deadline: time.Hour}, ApprovalPolicy{Required: true, Deadline: time.Hour}},
	} {
		in := RegenerateInput{RunID: "r", Template: tc.template, Inputs: []string{"raw/x.csv"}, Approval: tc.given}
		in.Defaults()
		if in.Approval != tc.want {
			t.Errorf("%s with %+v: approval %+v, want %+v", tc.template, tc.given, in.Approval, tc.want)
		}
	}
}

// TestEvaluateSignalCarriesMapping: the outcomes-ready signal's files and
// mapping replace the input's, and reach EvaluateCampaign.
func TestEvaluateSignalCarriesMapping(t *testing.T) {
	var got activities.EvaluateCampaignInput
	calls := 0
	env := newEvalEnv(&got, &calls)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(OutcomesReadySignal, OutcomesReady{Outcomes: []string{"raw/outcomes/c/abc/orders.csv"}, Mapping: "sources: []"})
	}, time.Hour)
	env.ExecuteWorkflow(Evaluate, EvaluateInput{Campaign: "c", Start: loopStart, End: loopStart.Add(7 * 24 * time.Hour), Mapping: "old"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !slices.Equal(got.Outcomes, []string{"raw/outcomes/c/abc/orders.csv"}) || got.Mapping != "sources: []" {
		t.Errorf("%d evaluations, outcomes %v mapping %q", calls, got.Outcomes, got.Mapping)
	}
}
