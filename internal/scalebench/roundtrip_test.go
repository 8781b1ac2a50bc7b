//go:build bench

package scalebench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/testenv"
)

func noop(ctx context.Context, i int) (int, error) { return i, nil }

// fanOutRounds runs rounds of fan no-op activities, each round waiting for
// all of the previous: the shape of a k-means iteration or a budget round.
func fanOutRounds(ctx workflow.Context, rounds, fan int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for range rounds {
		fs := make([]workflow.Future, fan)
		for i := range fs {
			fs[i] = workflow.ExecuteActivity(ctx, noop, i)
		}
		for _, f := range fs {
			if err := f.Get(ctx, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestRoundTrip is `make bench-roundtrip`: the orchestration's latency
// floor, in milliseconds per round of a fan-out of no-op activities on one
// worker with 4 activity slots (the worker's default on 2 cores), on a dev
// server started with testenv.DynamicConfig and on one with Temporal's
// defaults. Stages whose activities take milliseconds (k-means
// iterations, budget rounds) cost this per round.
func TestRoundTrip(t *testing.T) {
	configs := []struct {
		name string
		dc   []string
	}{{"testenv.DynamicConfig", testenv.DynamicConfig}, {"Temporal's defaults", nil}}
	const rounds = 20
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			addr := testenv.StartTemporalWith(t, cfg.dc)
			c, err := client.Dial(client.Options{HostPort: addr, Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			w := worker.New(c, "roundtrip", worker.Options{MaxConcurrentActivityExecutionSize: 4})
			w.RegisterWorkflow(fanOutRounds)
			w.RegisterActivity(noop)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			line := fmt.Sprintf("%-22s", cfg.name+":")
			for _, fan := range []int{1, 8, 16} {
				best := time.Duration(1 << 62)
				for range 3 {
					start := time.Now()
					run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "roundtrip"}, fanOutRounds, rounds, fan)
					if err != nil {
						t.Fatal(err)
					}
					if err := run.Get(context.Background(), nil); err != nil {
						t.Fatal(err)
					}
					best = min(best, time.Since(start))
				}
				line += fmt.Sprintf("  fan-out %2d: %5.1f ms/round", fan, float64(best.Microseconds())/1000/rounds)
			}
			fmt.Println(line + " (best of 3 workflows of 20 rounds)")
		})
	}
}
