//go:build bench

package scalebench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/promoflow/promoflow/internal/testenv"
)

var orchShards = flag.String("orch-shards", "8,64,256", "shard counts TestOrchestration runs")

// runStats are one workflow run's history: events and bytes, as the
// server counts them (the limits are on these).
type runStats struct {
	workflowID, runID string
	events, bytes     int64
}

// historyStats returns the stats of every run of workflow id, the latest
// first, following continue-as-new back to the first.
func historyStats(ctx context.Context, c client.Client, id string) ([]runStats, error) {
	var out []runStats
	runID := ""
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			return out, err
		}
		info := d.GetWorkflowExecutionInfo()
		out = append(out, runStats{id, info.GetExecution().GetRunId(), info.GetHistoryLength(), info.GetHistorySizeBytes()})
		it := c.GetWorkflowHistory(ctx, id, info.GetExecution().GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		if !it.HasNext() {
			return out, nil
		}
		first, err := it.Next()
		if err != nil {
			return out, err
		}
		prev := first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if prev == "" {
			return out, nil
		}
		runID = prev
	}
}

// TestOrchestration is `make bench-orchestration`: 5,000 generated users
// (so that only the orchestration grows) run at each shard count of
// -orch-shards on fresh servers with one worker; prints, per workflow
// (the run, its segment and train children), the runs it took and the
// largest run's events and MB of history, against Temporal's warning
// thresholds (10,240 events, 10 MB) and limits (51,200 events, 50 MB), and
// the wall time per shard beyond the smallest shard count's.
func TestOrchestration(t *testing.T) {
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	starter, worker := buildBinaries(t, dir)
	input := filepath.Join(dir, "events.csv.gz")
	if out, err := exec.Command(starter, "generate", "--users", "5000", "--seed", "7", "--out", input).CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	fmt.Println("shards  wall     per shard  workflow    runs  largest run: events  MB      (warn 10,240 / 10 MB; limit 51,200 / 50 MB)   heaviest payloads")
	var firstWall time.Duration
	firstShards := 0
	for _, s := range strings.Split(*orchShards, ",") {
		shards, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		stack := testenv.Start(t)
		env := append(os.Environ(), stack.Env()...)
		env = append(env, "PROMOFLOW_TASK_QUEUE=bench-orchestration")
		procs, _ := startWorkers(t, worker, env, 1, fmt.Sprintf("orchestration-%d", shards))
		id := fmt.Sprintf("orch-%d", shards)
		cmd := exec.Command(starter, "run", "--template", "weekly", "--input", input, "--seed", "7", "--shards", strconv.Itoa(shards),
			"--run-id", id, "--campaign", id, "--start", "2026-12-07", "--wait", "--json")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		runErr := cmd.Run()
		wall := time.Since(start)
		perShard := ""
		if firstShards == 0 {
			firstWall, firstShards = wall, shards
		} else if shards > firstShards {
			perShard = fmt.Sprintf("%.3f s", (wall-firstWall).Seconds()/float64(shards-firstShards))
		}
		c, err := client.Dial(client.Options{HostPort: stack.TemporalAddr})
		if err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "-segment", "-train"} {
			runs, err := historyStats(context.Background(), c, id+suffix)
			if err != nil {
				t.Logf("%s%s: %v", id, suffix, err)
			}
			var largest runStats
			for _, r := range runs {
				if r.bytes > largest.bytes {
					largest = r
				}
			}
			name := "run" + suffix
			fmt.Printf("%6d  %6.1f s  %-9s  %-10s  %4d  %19d  %6.2f   %s\n", shards, wall.Seconds(), perShard, name, len(runs), largest.events, float64(largest.bytes)/(1<<20),
				payloadShares(context.Background(), c, id+suffix, largest.runID, 4))
		}
		c.Close()
		for _, p := range procs {
			stopWorker(p)
		}
		if runErr != nil {
			fmt.Printf("%6d  FAILED: %v: %s\n", shards, runErr, lastLine(stderr.String()))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// payloadShares returns the n activity types whose inputs and results
// weigh most in one run's history, with their KB.
func payloadShares(ctx context.Context, c client.Client, id, runID string, n int) string {
	size := map[string]int{}
	typ := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err.Error()
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			typ[ev.GetEventId()] = a.GetActivityType().GetName()
			size[a.GetActivityType().GetName()] += proto.Size(a.GetInput())
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			size[typ[a.GetScheduledEventId()]] += proto.Size(a.GetResult())
		}
	}
	names := make([]string, 0, len(size))
	for k := range size {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return size[names[i]] > size[names[j]] })
	var out []string
	for _, k := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%s %d KB", k, size[k]>>10))
	}
	return strings.Join(out, ", ")
}
