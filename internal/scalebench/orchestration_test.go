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
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/promoflow/promoflow/internal/testenv"
)

var orchShards = flag.String("orch-shards", "8,64,256", "shard counts TestOrchestration runs")

// runStats are one workflow run's history: events and bytes, as the
// server counts them (the limits are on these), and its wall time.
type runStats struct {
	workflowID, runID string
	events, bytes     int64
	start             time.Time
	wall              time.Duration // start to close (to now if still open)
}

// describeRun returns the stats of one run of workflow id ("" runID: the
// latest) and the run it continued from, if any.
func describeRun(ctx context.Context, c client.Client, id, runID string) (runStats, string, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		return runStats{}, "", err
	}
	info := d.GetWorkflowExecutionInfo()
	r := runStats{workflowID: id, runID: info.GetExecution().GetRunId(), events: info.GetHistoryLength(), bytes: info.GetHistorySizeBytes(),
		start: info.GetStartTime().AsTime()}
	end := time.Now()
	if info.GetCloseTime() != nil && !info.GetCloseTime().AsTime().IsZero() {
		end = info.GetCloseTime().AsTime()
	}
	r.wall = end.Sub(r.start)
	it := c.GetWorkflowHistory(ctx, id, r.runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return r, "", nil
	}
	first, err := it.Next()
	if err != nil {
		return r, "", err
	}
	return r, first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(), nil
}

// historyStats returns the stats of every run of workflow id, the latest
// first, following continue-as-new back to the first.
func historyStats(ctx context.Context, c client.Client, id string) ([]runStats, error) {
	var out []runStats
	runID := ""
	for {
		r, prev, err := describeRun(ctx, c, id, runID)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if prev == "" {
			return out, nil
		}
		runID = prev
	}
}

// allRuns returns every workflow run of the namespace whose workflow ID
// starts with prefix, oldest first: the ones visibility lists (children
// and continued runs included, whatever their IDs) and, in case visibility
// lags, the runs of the known IDs (the run, its segment and train children)
// followed back through continue-as-new.
func allRuns(ctx context.Context, c client.Client, prefix string, known []string) ([]runStats, error) {
	seen := map[string]bool{}
	var out []runStats
	add := func(r runStats) {
		if !seen[r.runID] {
			seen[r.runID] = true
			out = append(out, r)
		}
	}
	var token []byte
	for {
		list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range list.GetExecutions() {
			id, runID := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			if !strings.HasPrefix(id, prefix) || seen[runID] {
				continue
			}
			r, _, err := describeRun(ctx, c, id, runID)
			if err != nil {
				return nil, err
			}
			add(r)
		}
		if token = list.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	for _, id := range known {
		runs, err := historyStats(ctx, c, id)
		if err != nil {
			continue // a stage the run did not reach
		}
		for _, r := range runs {
			add(r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out, nil
}

// TestOrchestration is `make bench-orchestration`: 5,000 generated users
// (so that only the orchestration grows) run at each shard count of
// -orch-shards (8 to 1,024) on fresh servers with one worker; prints, per
// workflow run of the run (Regenerate, its children and every
// continued-as-new run, oldest first): its events and MB of history against
// Temporal's warning thresholds (10,240 events, 10 MB) and limits (51,200
// events, 50 MB), its largest event (about its largest payload) and the
// activity types whose payloads weigh most, its wall time; then the whole
// run's wall time, per shard, and per shard beyond the smallest shard
// count's.
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
	fmt.Println("shards  workflow run             events      MB  warn  largest event (KB)               wall s  heaviest payloads by activity type")
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
		beyond := ""
		if firstShards == 0 {
			firstWall, firstShards = wall, shards
		} else if shards > firstShards {
			beyond = fmt.Sprintf(", %.3f s per shard beyond %d shards", (wall-firstWall).Seconds()/float64(shards-firstShards), firstShards)
		}
		c, err := client.Dial(client.Options{HostPort: stack.TemporalAddr})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		runs, err := allRuns(ctx, c, id, []string{id, id + "-segment", id + "-train"})
		if err != nil {
			t.Logf("%s: %v", id, err)
		}
		for k, r := range runs {
			warn := ""
			if r.events > 10_240 || r.bytes > 10<<20 {
				warn = "WARN"
			}
			largest, shares := payloads(ctx, c, r.workflowID, r.runID, 4)
			name := "run" + strings.TrimPrefix(r.workflowID, id)
			fmt.Printf("%6d  %-20s  %8d  %6.2f  %-4s  %-31s  %6.1f  %s\n", shards, fmt.Sprintf("%s #%d", name, k), r.events, float64(r.bytes)/(1<<20), warn,
				largest, r.wall.Seconds(), shares)
		}
		fmt.Printf("%6d  total: %d workflow runs, wall %.1f s, %.3f s per shard%s\n", shards, len(runs), wall.Seconds(), wall.Seconds()/float64(shards), beyond)
		// S3: the gateway's requests during the run (its log has a line
		// each) and the objects the run left.
		if reqs, err := testenv.S3Requests(stack.S3Log); err == nil {
			objects, _ := stack.Store(t).List(ctx, "")
			fmt.Printf("%6d  s3: %d requests (GET %d, PUT %d, POST %d, DELETE %d, HEAD %d), %d objects in the bucket\n", shards,
				reqs["GET"]+reqs["PUT"]+reqs["POST"]+reqs["DELETE"]+reqs["HEAD"], reqs["GET"], reqs["PUT"], reqs["POST"], reqs["DELETE"], reqs["HEAD"], len(objects))
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

// payloads reads one run's history and returns its largest event (its
// type, or activity type, and KB: about the largest single payload) and
// the n activity types whose inputs and results weigh most, with their KB.
func payloads(ctx context.Context, c client.Client, id, runID string, n int) (string, string) {
	size := map[string]int{}
	typ := map[int64]string{}
	largest, largestName := 0, ""
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err.Error(), ""
		}
		name := strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			typ[ev.GetEventId()] = a.GetActivityType().GetName()
			size[a.GetActivityType().GetName()] += proto.Size(a.GetInput())
			name = a.GetActivityType().GetName() + " in"
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			size[typ[a.GetScheduledEventId()]] += proto.Size(a.GetResult())
			name = typ[a.GetScheduledEventId()] + " out"
		}
		if sz := proto.Size(ev); sz > largest {
			largest, largestName = sz, name
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
	return fmt.Sprintf("%s %.1f", largestName, float64(largest)/1024), strings.Join(out, ", ")
}
