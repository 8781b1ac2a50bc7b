package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/workflows"
)

// badInput fails as promoflow's activities fail on bad input
// (activities.final): non-retryable, of type BadInput.
func badInput(ctx context.Context) error {
	bad := &ingest.BadInputError{Source: "raw/a.csv", Line: 3, Column: "ts", Msg: "bad ts in 12 of 20 rows: wrong file or mapping"}
	return temporal.NewNonRetryableApplicationError(bad.Error(), activities.BadInputType, bad)
}

func flaky(ctx context.Context) error { return errors.New("connection reset") }

func opts(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
}

func ingestFails(ctx workflow.Context) error {
	if err := workflow.ExecuteActivity(opts(ctx), "IngestPlan").Get(ctx, nil); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

func trainChild(ctx workflow.Context) error {
	if err := workflow.ExecuteActivity(opts(ctx), "CombineForest").Get(ctx, nil); err != nil {
		return fmt.Errorf("combine forest: %w", err)
	}
	return nil
}

func trainFails(ctx workflow.Context) error {
	if err := workflow.ExecuteChildWorkflow(ctx, "Train").Get(ctx, nil); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

func tooLittle(ctx workflow.Context) error {
	err := temporal.NewNonRetryableApplicationError("too little data to learn from: 8 users (need 50)", workflows.InsufficientDataType, nil)
	return fmt.Errorf("features: %w", err)
}

// TestDescribe: a failed run's error reads as the workflow's context, the
// cause once, where and whether retrying helps, with none of the SDK's
// repetitions ("(type: BadInputError, retryable: true)" after "not
// retryable").
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		wf   any
		want string
	}{
		{"bad input in an activity", ingestFails,
			`ingest: raw/a.csv:3: column "ts": bad ts in 12 of 20 rows: wrong file or mapping (in activity IngestPlan; BadInput, not retryable)`},
		{"activity of a child workflow", trainFails,
			`train: combine forest: connection reset (in child workflow Train, activity CombineForest)`},
		{"workflow's own error", tooLittle,
			`features: too little data to learn from: 8 users (need 50) (InsufficientData, not retryable)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivityWithOptions(badInput, activity.RegisterOptions{Name: "IngestPlan"})
			env.RegisterActivityWithOptions(flaky, activity.RegisterOptions{Name: "CombineForest"})
			env.RegisterWorkflowWithOptions(trainChild, workflow.RegisterOptions{Name: "Train"})
			env.ExecuteWorkflow(tc.wf)
			err := env.GetWorkflowError()
			if err == nil {
				t.Fatal("no error")
			}
			got := describe(err)
			if got != tc.want {
				t.Errorf("describe:\n got %s\nwant %s\n(error: %v)", got, tc.want, err)
			}
			for _, bad := range []string{"retryable: true", "(type:", "workflow execution error"} {
				if strings.Contains(got, bad) {
					t.Errorf("describe %q contains %q", got, bad)
				}
			}
		})
	}
}
