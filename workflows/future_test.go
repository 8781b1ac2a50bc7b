package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/ingest"
)

// TestRegenerateIngestsUpToItsStart: every split of the run is given the
// run's start plus the tolerance as its latest event time, so an event
// dated 2099 is rejected in staging (activities.TestIngestRejectsEventsAfterStart)
// and the run's end is the true last event.
func TestRegenerateIngestsUpToItsStart(t *testing.T) {
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	var (
		mu  sync.Mutex
		got []time.Time
	)
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"IngestSplit": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.IngestSplitInput) (activities.IngestSplitOutput, error) {
				mu.Lock()
				got = append(got, in.NotAfter)
				mu.Unlock()
				return activities.IngestSplitOutput{Counts: ingest.SplitCounts{RowsRead: 1000}, Chunks: 1}, nil
			})
		},
	})
	in := testInput()
	in.Start = start
	env.ExecuteWorkflow(Regenerate, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in.Inputs) {
		t.Fatalf("%d splits, want %d", len(got), len(in.Inputs))
	}
	for i, na := range got {
		if want := start.Add(DefaultFutureTolerance); !na.Equal(want) {
			t.Errorf("split %d: not after %v, want %v", i, na, want)
		}
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if !sum.End.Equal(testEnd) {
		t.Errorf("end %v, want %v", sum.End, testEnd)
	}
}
