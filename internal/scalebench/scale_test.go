//go:build bench

// Package scalebench measures a whole regeneration on real servers with 1
// and 2 worker processes: per stage the wall time, rows per second, peak RSS
// per worker, and the share of time spent in Temporal rather than in
// activities. It asserts nothing about time; `make bench` runs it and prints
// the table.
//
//	go test -tags bench -run Scale -timeout 3h ./internal/scalebench -users 1000000 -workers 1,2
package scalebench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

var (
	users   = flag.Int("users", 100000, "generated users")
	shards  = flag.Int("shards", 16, "shards")
	workers = flag.String("workers", "1,2", "worker process counts to compare")
	dataDir = flag.String("data", os.TempDir(), "where generated inputs are cached")
)

func TestScale(t *testing.T) {
	ctx := context.Background()
	input := filepath.Join(*dataDir, fmt.Sprintf("promoflow-bench-%d.csv.gz", *users))
	if _, err := os.Stat(input); err != nil {
		start := time.Now()
		st, err := synth.WriteFile(input, synth.Config{Users: *users, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("generated %d events of %d users in %v\n", st.Events, st.Users, time.Since(start).Round(time.Second))
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/promoflow/promoflow/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	for _, n := range strings.Split(*workers, ",") {
		count, err := strconv.Atoi(n)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh stack per configuration, so runs do not share caches.
		addr := testenv.StartTemporal(t)
		s3 := testenv.StartS3(t)
		store, err := blob.NewS3(ctx, blob.Config{Endpoint: s3, Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
			AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.PutFile(ctx, "raw/bench/events.csv.gz", input); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "PROMOFLOW_TEMPORAL_ADDRESS="+addr, "PROMOFLOW_TASK_QUEUE=bench",
			"PROMOFLOW_S3_ENDPOINT="+s3, "AWS_ACCESS_KEY_ID="+testenv.DefaultAccessKey, "AWS_SECRET_ACCESS_KEY="+testenv.DefaultSecretKey)
		var procs []*exec.Cmd
		for i := 0; i < count; i++ {
			cmd := exec.Command(bin)
			cmd.Env = env
			log, _ := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d-%d.log", count, i)))
			cmd.Stdout, cmd.Stderr = log, log
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, cmd)
		}
		c, err := client.Dial(client.Options{HostPort: addr})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("bench-%dw", count)
		start := time.Now()
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench"}, workflows.Regenerate,
			workflows.RegenerateInput{RunID: id, Template: "weekly", Inputs: []string{"raw/bench/events.csv.gz"}, Shards: *shards, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var sum workflows.Summary
		if err := wr.Get(ctx, &sum); err != nil {
			t.Fatalf("%d workers: %v", count, err)
		}
		wall := time.Since(start)
		var rss []string
		for _, p := range procs {
			rss = append(rss, peakRSS(p.Process.Pid))
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
		share := overhead(t, c, id)
		c.Close()
		fmt.Printf("\n== %d users, %d input rows, %d shards, %d worker process(es): %v total, peak RSS per worker %s\n",
			sum.Users, sum.InputRows, sum.Shards, count, wall.Round(time.Millisecond), strings.Join(rss, ", "))
		fmt.Printf("%-9s %9s %14s %12s\n", "stage", "seconds", "rows/s", "temporal %")
		for _, s := range sum.Stages {
			rows := sum.Users
			if s.Name == workflows.StageIngest {
				rows = sum.InputRows
			}
			rate := 0.0
			if s.Seconds > 0 {
				rate = float64(rows) / s.Seconds
			}
			fmt.Printf("%-9s %9.2f %14.0f %11.1f%%\n", s.Name, s.Seconds, rate, 100*share[s.Name])
		}
	}
}

// peakRSS reads the high-water mark of a process's resident memory.
func peakRSS(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

// overhead returns, per stage of the parent and its children, the share of
// activity time that was Temporal's: from scheduled to started (queueing,
// polling) over from scheduled to completed. Activities are attributed to
// stages by type.
func overhead(t *testing.T, c client.Client, id string) map[string]float64 {
	stageOf := map[string]string{
		"Ingest": workflows.StageIngest, "Features": workflows.StageFeatures,
		"Profile": workflows.StageFeatures, "Vocabulary": workflows.StageFeatures, "Quantiles": workflows.StageFeatures,
		"KMeansChooseK": workflows.StageSegment, "KMeansSample": workflows.StageSegment, "KMeansGather": workflows.StageSegment,
		"KMeansWeigh": workflows.StageSegment, "KMeansReduce": workflows.StageSegment, "KMeansStep": workflows.StageSegment,
		"SegmentAssign": workflows.StageSegment, "SegmentTerms": workflows.StageSegment, "PublishFeatures": workflows.StagePublish,
		"TrainTrees": workflows.StageTrain, "CombineForest": workflows.StageTrain, "EvaluateForest": workflows.StageTrain,
		"Decide": workflows.StageDecide, "Publish": workflows.StagePublish, "WriteSummary": workflows.StagePublish,
	}
	wait, total := map[string]time.Duration{}, map[string]time.Duration{}
	for _, wid := range []string{id, id + "-segment", id + "-train"} {
		scheduled := map[int64]time.Time{}
		typ := map[int64]string{}
		started := map[int64]time.Time{}
		iter := c.GetWorkflowHistory(context.Background(), wid, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Logf("history of %s: %v", wid, err)
				break
			}
			at := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled[ev.GetEventId()] = at
				typ[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enums.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				started[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] = at
			case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				s := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
				stage := stageOf[typ[s]]
				wait[stage] += started[s].Sub(scheduled[s])
				total[stage] += at.Sub(scheduled[s])
			}
		}
	}
	share := map[string]float64{}
	names := make([]string, 0, len(total))
	for s := range total {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		if total[s] > 0 {
			share[s] = wait[s].Seconds() / total[s].Seconds()
		}
	}
	return share
}
