//go:build bench

package scalebench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
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

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

var (
	baseline      = flag.String("baseline", "", "the pandas + scikit-learn pipeline (../shared/bench/baseline_pipeline.py); TestCompare runs it")
	python        = flag.String("python", "/usr/bin/python3", "python with pandas and scikit-learn, for -baseline")
	compareSeed   = flag.Int64("seed", 7, "generator seed of the compared file (starter generate --seed)")
	compareShards = flag.Int("compare-shards", 0, "shards of promoflow's run in TestCompare; 0: the starter's default")
	skipBaseline  = flag.Bool("skip-baseline", false, "TestCompare: run promoflow only (no ratio)")
)

// baselineResult is what baseline_pipeline.py prints on its last line,
// plus the process's wall time and peak RSS.
type baselineResult struct {
	Rows    int64              `json:"rows"`
	Users   int64              `json:"users"`
	AUC     float64            `json:"auc"`
	Seconds map[string]float64 `json:"seconds"`
	Total   float64            `json:"total"`
	wall    time.Duration
	peakMiB float64
}

// TestCompare is `make bench-compare`: on the file `starter generate
// --users N --seed 7` writes, the baseline pipeline and then promoflow, one
// after the other, on an otherwise idle machine. promoflow runs on fresh
// servers with the given number of worker processes; its wall time is the
// starter's `run --wait` from start to end, upload included, and its
// memory the workers' peak RSS (VmHWM). Prints both and the two ratios.
func TestCompare(t *testing.T) {
	if *baseline == "" && !*skipBaseline {
		t.Fatal("-baseline PATH (../shared/bench/baseline_pipeline.py) or -skip-baseline")
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	starter, worker := buildBinaries(t, dir)
	input := filepath.Join(*dataDir, fmt.Sprintf("events-%d-seed%d.csv.gz", *users, *compareSeed))
	if _, err := os.Stat(input); err != nil {
		start := time.Now()
		// The generator compresses by the name's extension: keep .csv.gz last.
		partial := strings.TrimSuffix(input, ".csv.gz") + ".partial.csv.gz"
		out, err := exec.Command(starter, "generate", "--users", strconv.Itoa(*users), "--seed",
			strconv.FormatInt(*compareSeed, 10), "--out", partial).CombinedOutput()
		if err != nil {
			t.Fatalf("generate: %v\n%s", err, out)
		}
		if err := os.Rename(partial, input); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("generated %s in %v: %s", input, time.Since(start).Round(time.Second), out)
	}
	info, err := os.Stat(input)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n== bench-compare: %d users, %s (%.0f MiB), %d CPUs, load before %s\n",
		*users, filepath.Base(input), float64(info.Size())/(1<<20), runtime.NumCPU(), load())
	if l := os.Getenv("GOMEMLIMIT"); l != "" {
		// The workers inherit it: the Go runtime's soft memory limit.
		fmt.Printf("GOMEMLIMIT=%s (the workers' soft memory limit)\n", l)
	}

	var base baselineResult
	if !*skipBaseline {
		base = runBaseline(t, input, filepath.Join(dir, "baseline-plan.csv"))
		fmt.Printf("baseline (pandas + scikit-learn): %.1f s wall, peak RSS %.0f MiB, %d rows, %d users, AUC %.4f; seconds %s; load after %s\n",
			base.wall.Seconds(), base.peakMiB, base.Rows, base.Users, base.AUC, stageList(base.Seconds), load())
	}

	for _, n := range strings.Split(*workers, ",") {
		count, err := strconv.Atoi(n)
		if err != nil {
			t.Fatal(err)
		}
		r := runPromoflow(t, starter, worker, input, count)
		fmt.Printf("promoflow (%d worker process(es), %d shards): %.1f s wall (upload and start %.1f s), worker peak RSS %s MiB, worker CPU %.1f s, %d rows, %d users, AUC %.4f; load after %s\n",
			count, r.sum.Shards, r.wall.Seconds(), r.upload.Seconds(), joinMiB(r.peakMiB), r.cpu.Seconds(), r.sum.InputRows, r.sum.Users, r.auc, load())
		fmt.Printf("  stages (s): %s\n", stageList(r.sum.StageSeconds))
		fmt.Printf("  servers' CPU during the run: temporal %.1f s, versitygw %.1f s\n", r.servers["temporal"].Seconds(), r.servers["versitygw"].Seconds())
		var share []string
		for _, s := range r.sum.Stages {
			share = append(share, fmt.Sprintf("%s %.1f%%", s.Name, 100*r.temporal[s.Name]))
		}
		fmt.Printf("  Temporal's share of activity time (scheduled to started over scheduled to completed): %s\n", strings.Join(share, ", "))
		fmt.Printf("  peak RSS per stage (MiB): %s\n", strings.Join(r.stageRSS, ", "))
		fmt.Printf("  plan: %d rows, sha256 %s, %s (%s)\n", r.sum.Plan.Rows, r.planHash, r.planRef, r.planPath)
		for _, s := range r.sum.Stages {
			total, top := topFunctions(r.profiles, s.Name, 5)
			fmt.Printf("  CPU %-8s %s: %s\n", s.Name, total, strings.Join(top, "; "))
		}
		if !*skipBaseline {
			peak := 0.0
			for _, p := range r.peakMiB {
				peak = max(peak, p)
			}
			fmt.Printf("RATIOS (%d worker(s)): wall baseline/promoflow %.2f× (goal ≥ 5), peak RSS promoflow/baseline %.2f (goal ≤ 0.25), AUC %.4f vs %.4f\n",
				count, base.wall.Seconds()/r.wall.Seconds(), peak/base.peakMiB, r.auc, base.AUC)
		}
	}
}

// runBaseline runs the baseline pipeline and reads its last line.
func runBaseline(t *testing.T, input, plan string) baselineResult {
	cmd := exec.Command(*python, *baseline, input, plan)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("baseline: %v\n%s", err, stderr.String())
	}
	var r baselineResult
	r.wall = time.Since(start)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("baseline's last line %q: %v", lines[len(lines)-1], err)
	}
	// Maxrss is in KiB on Linux: the child's own peak.
	r.peakMiB = float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	return r
}

type promoflowResult struct {
	sum      workflows.Summary
	auc      float64
	wall     time.Duration
	upload   time.Duration
	cpu      time.Duration
	peakMiB  []float64
	profiles []string
	stageRSS []string // "stage MiB" per stage, workers separated by "/"
	planPath string
	planHash string
	planRef  string
	temporal map[string]float64       // stage: Temporal's share of activity time
	servers  map[string]time.Duration // CPU of the Temporal server and the gateway during the run
}

// runPromoflow starts fresh servers and count workers, then times
// `starter run --wait --json` on the input.
func runPromoflow(t *testing.T, starter, worker, input string, count int) promoflowResult {
	stack := testenv.Start(t)
	env := append(os.Environ(), stack.Env()...)
	env = append(env, "PROMOFLOW_TASK_QUEUE=bench-compare")
	var r promoflowResult
	procs, profiles := startWorkers(t, worker, env, count, fmt.Sprintf("compare-%d-%dw", *users, count))
	r.profiles = profiles
	// A fixed campaign and start: the control group and exploration draws
	// are seeded by the campaign, so the plan is comparable across runs.
	args := []string{"run", "--template", "weekly", "--input", input, "--seed", strconv.FormatInt(*compareSeed, 10),
		"--run-id", fmt.Sprintf("compare-%d", *users), "--campaign", fmt.Sprintf("compare-%d", *users), "--start", "2026-12-07",
		"--wait", "--json"}
	if *compareShards > 0 {
		args = append(args, "--shards", strconv.Itoa(*compareShards))
	}
	cmd := exec.Command(starter, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	serversBefore := map[string]time.Duration{}
	for name, pid := range stack.PIDs {
		serversBefore[name] = procCPU(pid)
	}
	start := time.Now()
	samples, stopRSS := sampleRSS(procs)
	if err := cmd.Run(); err != nil {
		t.Fatalf("starter run: %v\n%s", err, stderr.String())
	}
	end := time.Now()
	stopRSS()
	r.servers = map[string]time.Duration{}
	for name, pid := range stack.PIDs {
		r.servers[name] = procCPU(pid) - serversBefore[name]
	}
	r.wall = end.Sub(start)
	for _, p := range procs {
		r.peakMiB = append(r.peakMiB, float64(statusKB(p.Process.Pid, "VmHWM:"))/1024)
	}
	// Temporal's share of each stage's activity time, before the
	// workers stop (the history is the server's; workers are not needed).
	if c, err := client.Dial(client.Options{HostPort: stack.TemporalAddr}); err == nil {
		r.temporal = overhead(t, c, fmt.Sprintf("compare-%d", *users))
		c.Close()
	}
	// The histories, for reading the orchestration's gaps afterwards
	// (`temporal workflow show --output json`).
	for _, suffix := range []string{"", "-segment", "-train"} {
		id := fmt.Sprintf("compare-%d%s", *users, suffix)
		out, err := testenv.TemporalCLI(t, stack.TemporalAddr, "workflow", "show", "--workflow-id", id, "--output", "json")
		if err == nil {
			err = os.WriteFile(filepath.Join(*dataDir, fmt.Sprintf("compare-%d-%dw-history%s.json", *users, count, suffix)), []byte(out), 0o644)
		}
		if err != nil {
			t.Logf("history of %s: %v", id, err)
		}
	}
	for _, p := range procs {
		stopWorker(p)
		if p.ProcessState != nil {
			r.cpu += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.sum); err != nil {
		t.Fatalf("starter's summary: %v\n%s", err, stdout.String())
	}
	if m := r.sum.Models.Propensity; m != nil {
		r.auc = m.AUC
	}
	// The plan, kept beside the input with its hash: a change that should
	// not alter the decision must leave the hash as it was.
	store := stack.Store(t)
	key := strings.TrimPrefix(r.sum.Plan.CSV, "s3://"+stack.Bucket+"/")
	plan, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("plan %s: %v", key, err)
	}
	r.planPath = filepath.Join(*dataDir, fmt.Sprintf("compare-%d-%dw-plan.csv", *users, count))
	if err := os.WriteFile(r.planPath, plan, 0o644); err != nil {
		t.Fatal(err)
	}
	r.planHash = fmt.Sprintf("%x", sha256.Sum256(plan))
	r.planRef = compareReference(plan)
	// Each stage's RSS samples are those of its span; stages may overlap
	// (train beside segment), so the spans come from their start times.
	// What comes before the first stage is the upload and the start.
	if len(r.sum.Stages) > 0 && !r.sum.Stages[0].Started.IsZero() {
		r.upload = r.sum.Stages[0].Started.Sub(start)
	}
	for _, s := range r.sum.Stages {
		from := s.Started
		to := from.Add(time.Duration(s.Seconds * float64(time.Second)))
		r.stageRSS = append(r.stageRSS, s.Name+" "+samples.peak(from, to))
	}
	return r
}

// compareReference says whether plan equals the reference plan kept in
// the data folder (reference-<users>-plan.csv, a copy of an earlier run's
// plan), and if not, how many rows differ.
func compareReference(plan []byte) string {
	ref, err := os.ReadFile(filepath.Join(*dataDir, fmt.Sprintf("reference-%d-plan.csv", *users)))
	if err != nil {
		return "no reference plan"
	}
	if bytes.Equal(ref, plan) {
		return "IDENTICAL to the reference plan"
	}
	if same, cols, ok := sameOnColumns(ref, plan); ok {
		if same {
			return fmt.Sprintf("IDENTICAL to the reference plan on its %d columns (the plan adds %v)", len(cols.ref), cols.added)
		}
		return fmt.Sprintf("DIFFERS from the reference plan on its %d columns", len(cols.ref))
	}
	a, b := bytes.Split(ref, []byte("\n")), bytes.Split(plan, []byte("\n"))
	diff := 0
	for i := 0; i < max(len(a), len(b)); i++ {
		if i >= len(a) || i >= len(b) || !bytes.Equal(a[i], b[i]) {
			diff++
		}
	}
	return fmt.Sprintf("DIFFERS from the reference plan in %d of %d lines", diff, len(a))
}

// planColumns are a reference plan's header and the columns a newer plan
// adds to it.
type planColumns struct{ ref, added []string }

// sameOnColumns compares plan with ref on ref's columns when plan's header
// has every one of them and more (a release that adds columns to the plan
// must leave the decision as it was); ok is false otherwise.
func sameOnColumns(ref, plan []byte) (same bool, cols planColumns, ok bool) {
	ra, err1 := csv.NewReader(bytes.NewReader(ref)).ReadAll()
	pa, err2 := csv.NewReader(bytes.NewReader(plan)).ReadAll()
	if err1 != nil || err2 != nil || len(ra) == 0 || len(pa) == 0 || len(ra) != len(pa) || len(pa[0]) <= len(ra[0]) {
		return false, cols, false
	}
	at := map[string]int{}
	for i, c := range pa[0] {
		at[c] = i
	}
	idx := make([]int, len(ra[0]))
	for i, c := range ra[0] {
		j, found := at[c]
		if !found {
			return false, cols, false
		}
		idx[i] = j
		delete(at, c)
	}
	for c := range at {
		cols.added = append(cols.added, c)
	}
	sort.Strings(cols.added)
	cols.ref = ra[0]
	for r := range ra {
		for i, j := range idx {
			if ra[r][i] != pa[r][j] {
				return false, cols, true
			}
		}
	}
	return true, cols, true
}

// procCPU is a process's user and system CPU time so far (from
// /proc/<pid>/stat, in clock ticks of 1/100 s); 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// stageList prints stage seconds in a fixed order, then the rest.
func stageList(s map[string]float64) string {
	order := []string{"ingest", "features", "kmeans", "segment", "forest", "train", "decide", "publish"}
	var out []string
	seen := map[string]bool{}
	for _, k := range order {
		if v, ok := s[k]; ok {
			out = append(out, fmt.Sprintf("%s %.1f", k, v))
			seen[k] = true
		}
	}
	var rest []string
	for k := range s {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, fmt.Sprintf("%s %.1f", k, s[k]))
	}
	return strings.Join(out, ", ")
}

func joinMiB(v []float64) string {
	var out []string
	for _, x := range v {
		out = append(out, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(out, "/")
}
