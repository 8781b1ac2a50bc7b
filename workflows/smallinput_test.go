package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// TestIntegrationTooSmallInput runs regenerations of about 100 and 400
// generated events (3 and 10 users) on the real servers: each fails after
// the features stage with a non-retryable InsufficientData error naming the
// numbers that fell short, not deep in training ("combine forest: no trees
// in 8 shards").
func TestIntegrationTooSmallInput(t *testing.T) {
	const queue = "promoflow-small"
	store, c := startWorker(t, queue)
	ctx := context.Background()
	for _, tc := range []struct {
		users, days int
		events      int64
		want        []string
	}{
		{3, 0, 100, []string{"3 users (need 50)", "labelled users, with events before the cutoff", "(need 50)"}},
		{10, 0, 368, []string{"10 users (need 50)", "labelled users, with events before the cutoff", "368 accepted events from"}},
		// 20 days of history, shorter than the 28-day label window: no
		// labelled users at all (this failed with "no trees in 8 shards").
		{70, 20, 418, []string{"0 labelled users, with events before the cutoff", "0 buyers in the label window"}},
	} {
		path := filepath.Join(t.TempDir(), "events.csv.gz")
		st, err := synth.WriteFile(path, synth.Config{Users: tc.users, Seed: 3, Days: tc.days})
		must(t, err)
		if st.Events < tc.events*8/10 || st.Events > tc.events*12/10 {
			t.Fatalf("%d users: %d events, want about %d", tc.users, st.Events, tc.events)
		}
		key := fmt.Sprintf("raw/small/%d/events.csv.gz", tc.users)
		must(t, store.PutFile(ctx, key, path))
		id := fmt.Sprintf("small-%d", tc.users)
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate,
			workflows.RegenerateInput{RunID: id, Template: "weekly", Inputs: []string{key}, Seed: 1})
		must(t, err)
		err = wr.Get(ctx, nil)
		var app *temporal.ApplicationError
		for e := err; e != nil; e = errors.Unwrap(e) {
			if a, ok := e.(*temporal.ApplicationError); ok && a.Type() == workflows.InsufficientDataType {
				app = a
			}
		}
		if app == nil || !app.NonRetryable() {
			t.Errorf("%d users: error %v, want a non-retryable %s", tc.users, err, workflows.InsufficientDataType)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(app.Message(), want) {
				t.Errorf("%d users: %q lacks %q", tc.users, app.Message(), want)
			}
		}
		if strings.Contains(err.Error(), "no trees") {
			t.Errorf("%d users: failed in training: %v", tc.users, err)
		}
	}
}
