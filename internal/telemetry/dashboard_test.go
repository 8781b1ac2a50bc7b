package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/telemetry"
	"github.com/promoflow/promoflow/internal/testenv"
)

func succeed(context.Context) error { return nil }

func fail(context.Context) error {
	return temporal.NewNonRetryableApplicationError("planned failure", "Test", errors.New("planned"))
}

func succeeding(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(ctx, succeed).Get(ctx, nil)
}

func failing(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(ctx, fail).Get(ctx, nil)
}

// TestDashboardMetricsExported runs a worker with promoflow's metrics on a
// dev server, one workflow whose activity succeeds and one whose activity
// fails, and checks that every metric the dashboard reads is exported.
func TestDashboardMetricsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	addr := testenv.StartTemporal(t)
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: addr, MetricsHandler: m.Handler})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, "telemetry", worker.Options{})
	w.RegisterWorkflow(succeeding)
	w.RegisterWorkflow(failing)
	w.RegisterActivity(succeed)
	w.RegisterActivity(fail)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	for _, tc := range []struct {
		wf      func(workflow.Context) error
		wantErr bool
	}{{succeeding, false}, {failing, true}} {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "telemetry"}, tc.wf)
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); (err != nil) != tc.wantErr {
			t.Fatalf("workflow error %v, want an error: %v", err, tc.wantErr)
		}
	}
	// The worker records a workflow's end as it completes the workflow
	// task, which may be just after the client sees the result: look again
	// for a few seconds before calling a metric missing.
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rec := httptest.NewRecorder()
		m.HTTP.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		missing = missing[:0]
		for _, name := range telemetry.Dashboard {
			if !strings.Contains(string(body), "\n"+name+"{") {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range missing {
		t.Errorf("/metrics lacks %s, which the dashboard reads", name)
	}
}
