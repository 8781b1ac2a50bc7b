package workflows

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
)

// historyRuns returns the events and bytes of every run of workflow id,
// the latest first, following continue-as-new back to the first.
func historyRuns(ctx context.Context, c client.Client, id string) (events, bytes []int64, err error) {
	runID := ""
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			return events, bytes, err
		}
		info := d.GetWorkflowExecutionInfo()
		events, bytes = append(events, info.GetHistoryLength()), append(bytes, info.GetHistorySizeBytes())
		it := c.GetWorkflowHistory(ctx, id, info.GetExecution().GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		if !it.HasNext() {
			return events, bytes, nil
		}
		first, err := it.Next()
		if err != nil {
			return events, bytes, err
		}
		if runID = first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			return events, bytes, nil
		}
	}
}

// payloadKB returns, per activity type, the KB of inputs and results in
// one run's history.
func payloadKB(ctx context.Context, c client.Client, id, runID string) (map[string]int, error) {
	kb := map[string]int{}
	typ := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			typ[ev.GetEventId()] = a.GetActivityType().GetName()
			kb[typ[ev.GetEventId()]] += a.GetInput().Size()
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			kb[typ[a.GetScheduledEventId()]] += a.GetResult().Size()
		}
	}
	for k, v := range kb {
		kb[k] = v >> 10
	}
	return kb, nil
}

// TestSegmentScale runs the features and segment stages on the real
// Temporal dev server and S3 gateway over 5,000 generated users at each
// shard count of PROMOFLOW_SEGMENT_SCALE (e.g. "64,256,1024"; skipped when
// unset) and checks that every run of the stages' workflow and of the
// Segment child stays under HistoryEvents and HistoryBytes: the histories
// do not grow with the shard count. It logs events and bytes per run.
func TestSegmentScale(t *testing.T) {
	spec := os.Getenv("PROMOFLOW_SEGMENT_SCALE")
	if spec == "" || testing.Short() {
		t.Skip("set PROMOFLOW_SEGMENT_SCALE=64,256,1024 (starts servers)")
	}
	stack := testenv.Start(t)
	store := stack.Store(t)
	c := stack.TemporalClient(t)
	const queue = "segment-scale"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(featuresAndSegments)
	w.RegisterWorkflow(Segment)
	w.RegisterActivity(&activities.Activities{Store: store, TempDir: t.TempDir()})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Start())
	defer w.Stop()
	ctx := context.Background()
	for _, s := range strings.Split(spec, ",") {
		shards, err := strconv.Atoi(s)
		must(err)
		id := fmt.Sprintf("scale-%d", shards)
		end := putShards(t, store, id, synth.Config{Users: 5000, Seed: 7}, shards)
		start := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue},
			featuresAndSegments, RegenerateInput{RunID: id, Inputs: []string{"x"}, Shards: shards, Seed: 7, K: 6}, end)
		must(err)
		var res stagesResult
		must(run.Get(ctx, &res))
		wall := time.Since(start)
		for _, wid := range []string{id, id + "-segment"} {
			events, bytes, err := historyRuns(ctx, c, wid)
			must(err)
			var maxE, maxB int64
			for i := range events {
				maxE, maxB = max(maxE, events[i]), max(maxB, bytes[i])
			}
			kb, err := payloadKB(ctx, c, wid, "")
			must(err)
			t.Logf("%5d shards  %-20s runs %2d  largest run %6d events %6.2f MB  (all runs: events %v)  wall %.1f s  k-means %d iterations; last run's payload KB %v",
				shards, wid, len(events), maxE, float64(maxB)/(1<<20), events, wall.Seconds(), res.Seg.Iterations, kb)
			if maxE > HistoryEvents || maxB > HistoryBytes {
				t.Errorf("%s: a run of %d events, %d bytes: over %d events or %d bytes", wid, maxE, maxB, HistoryEvents, HistoryBytes)
			}
		}
		if res.Summary.Users != 5000 || res.Seg.K != 6 {
			t.Errorf("%d shards: %d users, k = %d", shards, res.Summary.Users, res.Seg.K)
		}
	}
}
