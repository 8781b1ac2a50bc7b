//go:build bench

// Package scalebench measures a whole regeneration on real servers with 1
// and 2 worker processes: per stage the wall time, rows per second, peak RSS
// per worker, and the share of time spent in Temporal rather than in
// activities. It asserts nothing about time; `make bench` runs it and prints
// the table, the machine's load before and after each configuration, and,
// per stage, the functions that took the most CPU in the workers (from a
// CPU profile of each worker, its samples labelled by stage by
// activities/logging). The profiles are kept next to the input.
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
	"runtime"
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
		procs, profiles := startWorkers(t, bin, env, count, fmt.Sprintf("promoflow-bench-%d-%dw", *users, count))
		c, err := client.Dial(client.Options{HostPort: addr})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("bench-%dw", count)
		loadBefore := load()
		start := time.Now()
		samples, stopRSS := sampleRSS(procs)
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
		stopRSS()
		loadAfter := load()
		var rss []string
		for _, p := range procs {
			rss = append(rss, peakRSS(p.Process.Pid))
		}
		// SIGTERM lets each worker write its CPU profile.
		for _, p := range procs {
			stopWorker(p)
		}
		share := overhead(t, c, id)
		c.Close()
		fmt.Printf("\n== %d users, %d input rows, %d shards, %d worker process(es): %v total, peak RSS per worker %s\n",
			sum.Users, sum.InputRows, sum.Shards, count, wall.Round(time.Millisecond), strings.Join(rss, ", "))
		fmt.Printf("load average (1, 5, 15 min) before: %s; after: %s; %d CPUs\n", loadBefore, loadAfter, runtime.NumCPU())
		fmt.Printf("%-9s %9s %14s %12s %14s\n", "stage", "seconds", "rows/s", "temporal %", "peak RSS MiB")
		from := start
		for _, s := range sum.Stages {
			// Stages run one after the other: a stage's RSS samples are
			// those of its share of the wall time.
			to := from.Add(time.Duration(s.Seconds * float64(time.Second)))
			peak := samples.peak(from, to)
			from = to
			rows := sum.Users
			if s.Name == workflows.StageIngest {
				rows = sum.InputRows
			}
			rate := 0.0
			if s.Seconds > 0 {
				rate = float64(rows) / s.Seconds
			}
			fmt.Printf("%-9s %9.2f %14.0f %11.1f%% %14s\n", s.Name, s.Seconds, rate, 100*share[s.Name], peak)
		}
		for _, s := range sum.Stages {
			total, top := topFunctions(profiles, s.Name, 6)
			fmt.Printf("CPU %-9s %s: %s\n", s.Name, total, strings.Join(top, "; "))
		}
	}
}

// buildBinaries builds the starter and the worker into dir.
func buildBinaries(t *testing.T, dir string) (starter, worker string) {
	starter, worker = filepath.Join(dir, "starter"), filepath.Join(dir, "worker")
	for bin, pkg := range map[string]string{starter: "./starter", worker: "./worker"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return starter, worker
}

// startWorkers starts count worker processes with env, each writing a CPU
// profile <name>-<i>.pprof and its log <name>-<i>.log into the data
// folder, and returns them with the profiles' paths.
func startWorkers(t *testing.T, bin string, env []string, count int, name string) ([]*exec.Cmd, []string) {
	var procs []*exec.Cmd
	var profiles []string
	for i := 0; i < count; i++ {
		cmd := exec.Command(bin)
		prof := filepath.Join(*dataDir, fmt.Sprintf("%s-%d.pprof", name, i))
		profiles = append(profiles, prof)
		cmd.Env = append(env, "PROMOFLOW_CPU_PROFILE="+prof)
		log, err := os.Create(filepath.Join(*dataDir, fmt.Sprintf("%s-%d.log", name, i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { log.Close() })
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	return procs, profiles
}

// rssSeries are samples of the workers' resident memory over time.
type rssSeries struct {
	at  []time.Time
	rss [][]int64 // KiB per worker
}

// peak returns, for samples in [from, to), the highest RSS of each worker
// in MiB, separated by "/".
func (r *rssSeries) peak(from, to time.Time) string {
	var peaks []int64
	for i, t := range r.at {
		if t.Before(from) || !t.Before(to) {
			continue
		}
		for w, kb := range r.rss[i] {
			if w >= len(peaks) {
				peaks = append(peaks, 0)
			}
			peaks[w] = max(peaks[w], kb)
		}
	}
	if len(peaks) == 0 {
		return "-"
	}
	var out []string
	for _, kb := range peaks {
		out = append(out, strconv.FormatInt(kb/1024, 10))
	}
	return strings.Join(out, "/")
}

// sampleRSS reads the workers' resident memory every 200 ms until stop
// is called; stop returns when the series is complete.
func sampleRSS(procs []*exec.Cmd) (r *rssSeries, stop func()) {
	r = &rssSeries{}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				var kb []int64
				for _, p := range procs {
					kb = append(kb, statusKB(p.Process.Pid, "VmRSS:"))
				}
				r.at, r.rss = append(r.at, now), append(r.rss, kb)
			}
		}
	}()
	return r, func() { close(done); <-finished }
}

// statusKB reads one kB field of /proc/<pid>/status.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb
			}
		}
	}
	return 0
}

// load returns the machine's load averages: the benchmark shares its
// cores, and a figure means little without them.
func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// stopWorker asks a worker to stop (SIGTERM: it writes its CPU profile)
// and kills its process group if it has not exited within a minute.
func stopWorker(p *exec.Cmd) {
	syscall.Kill(p.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
	syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
}

// topFunctions returns the CPU seconds the workers spent in stage and the
// n functions with the most CPU time (flat) in the stage's samples.
func topFunctions(profiles []string, stage string, n int) (string, []string) {
	focus := "stage=^" + stage + "$"
	total := "?"
	if out, err := exec.Command("go", append([]string{"tool", "pprof", "-tags", "-tagfocus", focus}, profiles...)...).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "stage:" && f[1] == "Total" {
				total = f[2]
				break
			}
		}
	}
	args := []string{"tool", "pprof", "-top", "-nodecount", strconv.Itoa(n), "-tagfocus", focus}
	out, err := exec.Command("go", append(args, profiles...)...).Output()
	if err != nil {
		return total, []string{"(no profile: " + err.Error() + ")"}
	}
	var top []string
	rows := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[0] == "flat" {
			rows = true
			continue
		}
		if rows && len(f) >= 6 {
			top = append(top, fmt.Sprintf("%s %s", strings.Join(f[5:], " "), f[0]))
		}
	}
	return total, top
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
	wait, total := map[string]time.Duration{}, map[string]time.Duration{}
	type execution struct{ id, run string }
	todo := []execution{{id, ""}, {id + "-segment", ""}, {id + "-train", ""}}
	for len(todo) > 0 {
		wid, runID := todo[0].id, todo[0].run
		todo = todo[1:]
		scheduled := map[int64]time.Time{}
		typ := map[int64]string{}
		started := map[int64]time.Time{}
		iter := c.GetWorkflowHistory(context.Background(), wid, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Logf("history of %s: %v", wid, err)
				break
			}
			at := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				// A run continued as new: its predecessors hold earlier activities.
				if prev := ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); prev != "" {
					todo = append(todo, execution{wid, prev})
				}
			case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled[ev.GetEventId()] = at
				typ[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enums.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				started[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] = at
			case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				s := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
				stage := workflows.StageOf(typ[s])
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
