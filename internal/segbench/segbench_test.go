//go:build bench

// Package segbench measures the features and segment (k-means) stages of a
// regeneration on real servers and one worker process: per stage the wall
// time, the time per million users and the worker's peak RSS during the
// stage; the k-means iterations and initialisation; and the final cost
// against the best of 10 in-process k-means++ runs on the same standardized
// matrix (and, for generated data, the adjusted Rand index against the
// planted personas). It asserts nothing about time; `make bench-segments`
// runs it.
//
//	go test -tags bench -run Segments -timeout 3h ./internal/segbench -users 1000000 -shards 16
//
// A real dataset goes through its mapping, as a run would take it
// (relative paths are to the repository root):
//
//	go test -tags bench -run Segments ./internal/segbench -input ../shared/data/online-retail/online_retail.csv.gz \
//		-mapping deploy/datasets/online-retail.yaml -cutoff 2011-09-10 -shards 8 -full
package segbench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

var (
	users     = flag.Int("users", 200000, "generated users (when -input is not given)")
	input     = flag.String("input", "", "events file (canonical CSV(.gz), or any format -mapping reads); default: generated with -users and seed 1, cached in -data")
	mapping   = flag.String("mapping", "", "mapping YAML turning -input into canonical events (deploy/datasets/*.yaml); default: canonical")
	synthSeed = flag.Int64("synth-seed", 0, "seed -input was generated with, for the persona ARI (0: not generated)")
	cutoff    = flag.String("cutoff", "", "training cutoff date (2006-01-02); default 28 days before the last event")
	dataDir   = flag.String("data", os.TempDir(), "where generated inputs are cached")
	shards    = flag.Int("shards", 16, "shards")
	window    = flag.Int("window", 2, "shard activities in flight (2 cores)")
	k         = flag.Int("k", 6, "segments")
	restarts  = flag.Int("restarts", 10, "in-process k-means++ runs of the reference")
	full      = flag.Bool("full", false, "let the whole regeneration finish (default: stop after the segment stage)")
)

func TestSegments(t *testing.T) {
	ctx := context.Background()
	in := rootPath(*input)
	if in == "" {
		in = filepath.Join(*dataDir, fmt.Sprintf("promoflow-bench-%d.csv.gz", *users))
		if _, err := os.Stat(in); err != nil {
			start := time.Now()
			st, err := synth.WriteFile(in, synth.Config{Users: *users, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("generated %d events of %d users in %v\n", st.Events, st.Users, time.Since(start).Round(time.Second))
		}
		*synthSeed = 1
	}
	if *full {
		*window = max(*window, 1)
	}
	var mappingText string
	if *mapping != "" {
		b, err := os.ReadFile(rootPath(*mapping))
		if err != nil {
			t.Fatalf("-mapping: %v", err)
		}
		mappingText = string(b)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/promoflow/promoflow/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	addr := testenv.StartTemporal(t)
	s3 := testenv.StartS3(t)
	store, err := blob.NewS3(ctx, blob.Config{Endpoint: s3, Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
		AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	key := "raw/bench/" + filepath.Base(in)
	if err := store.PutFile(ctx, key, in); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PROMOFLOW_TEMPORAL_ADDRESS="+addr, "PROMOFLOW_TASK_QUEUE=segbench",
		"PROMOFLOW_S3_ENDPOINT="+s3, "AWS_ACCESS_KEY_ID="+testenv.DefaultAccessKey, "AWS_SECRET_ACCESS_KEY="+testenv.DefaultSecretKey)
	logf, _ := os.Create(filepath.Join(dir, "worker.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer syscall.Kill(-pid, syscall.SIGKILL)

	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := "segbench"
	rin := workflows.RegenerateInput{RunID: id, Template: "weekly", Inputs: []string{key}, Mapping: mappingText, Shards: *shards, Seed: 1, K: *k, Window: *window}
	if *cutoff != "" {
		if rin.Cutoff, err = time.Parse("2006-01-02", *cutoff); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "segbench"}, workflows.Regenerate, rin)
	if err != nil {
		t.Fatal(err)
	}

	// Follow the stages; at each change read the worker's peak RSS since
	// the last change and reset it (clear_refs 5).
	peak := map[string]float64{}
	current := ""
	var prog workflows.Progress
	var sum *workflows.Summary
	for {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
		if err == nil && v.Get(&prog) == nil && prog.Stage != current {
			if current != "" {
				peak[current] = peakRSS(pid)
				resetPeak(pid)
			}
			current = prog.Stage
			if !*full && doneWith(prog, workflows.StageSegment) {
				break
			}
			if prog.Stage == workflows.Done {
				break
			}
		}
		if d, err := c.DescribeWorkflowExecution(ctx, id, ""); err == nil &&
			d.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			sum = &workflows.Summary{}
			if err := wr.Get(ctx, sum); err != nil {
				t.Fatal(err)
			}
			peak[current] = peakRSS(pid)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wall := time.Since(start)
	if *full && sum == nil {
		sum = &workflows.Summary{}
		if err := wr.Get(ctx, sum); err != nil {
			t.Fatal(err)
		}
	}
	if !*full {
		c.TerminateWorkflow(ctx, id, "", "segbench: features and segments measured")
	}
	var seg workflows.SegmentOutput
	if err := c.GetWorkflow(ctx, id+"-segment", "").Get(ctx, &seg); err != nil {
		t.Fatalf("segment child: %v", err)
	}
	segIn, err := segmentInput(ctx, c, id+"-segment")
	if err != nil {
		t.Fatal(err)
	}

	nusers := segIn.Users
	fmt.Printf("\n== features and segments: %d users, %d shards, window %d, 1 worker process; %v to the end of the segment stage\n",
		nusers, *shards, *window, wall.Round(time.Millisecond))
	fmt.Printf("%-9s %9s %16s %16s\n", "stage", "seconds", "s per 1M users", "peak RSS MiB")
	for _, s := range prog.Stages {
		if s.State != workflows.Done {
			continue
		}
		fmt.Printf("%-9s %9.2f %16.2f %16.0f\n", s.Name, s.Seconds, s.Seconds*1e6/float64(nusers), peak[s.Name])
	}
	fmt.Printf("k-means: k=%d, %d Lloyd iterations (converged %v), k-means|| %d rounds, %d candidates, cost %.6g\n",
		seg.K, seg.Iterations, seg.Converged, seg.Init.Rounds, seg.Init.Candidates, seg.Cost)

	// The in-process reference on the same standardized matrix.
	ids, points := loadPoints(t, ctx, store, id, *shards, segIn.Scaler)
	rs := time.Now()
	_, ref := kmeans.Best(points, seg.K, 1, *restarts)
	fmt.Printf("reference: best of %d in-process k-means++ runs on %d points: cost %.6g (%v); ratio distributed/reference %.5f\n",
		*restarts, len(points), ref, time.Since(rs).Round(time.Millisecond), seg.Cost/ref)
	if *synthSeed != 0 {
		truth := make([]int, len(ids))
		cfg := synth.Config{Seed: *synthSeed}
		for i, u := range ids {
			truth[i] = slices.Index(synth.Personas, synth.PersonaOf(cfg, u).Name)
		}
		fmt.Printf("adjusted Rand index of the segments against the planted personas: %.3f\n",
			kmeans.AdjustedRand(truth, kmeans.Labels(points, seg.Centroids)))
	}
	if sum == nil {
		for i, n := range seg.Names {
			fmt.Printf("segment %d: %s\n", i, n)
		}
		return
	}
	if f := sum.Features; f != nil {
		fmt.Printf("features: table %s; vocabulary %d of %d terms; most frequent %v\n", f.Table, f.Vocabulary, f.TermsCounted, f.TopTerms)
	}
	for _, p := range sum.Segments {
		var terms []string
		for _, x := range p.TopTerms {
			terms = append(terms, x.Term)
		}
		fmt.Printf("segment %d %-16s %6d users (%4.1f%%): recency %.0f d, frequency %.1f, monetary %.0f; %v\n  top terms: %s\n",
			p.ID, p.Name, p.Size, 100*p.Share, p.Mean["recency_days"], p.Mean["frequency"], p.Mean["monetary"], p.Traits, strings.Join(terms, ", "))
	}
}

// rootPath resolves a relative path of a flag against the repository root:
// go test runs in the package folder, make and people in the root.
func rootPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join("..", "..", p)
}

// doneWith reports whether stage is done in p.
func doneWith(p workflows.Progress, stage string) bool {
	for _, s := range p.Stages {
		if s.Name == stage {
			return s.State == workflows.Done
		}
	}
	return false
}

// segmentInput decodes the input the Segment child started with (its first
// run's, which holds the scaler).
func segmentInput(ctx context.Context, c client.Client, id string) (workflows.SegmentInput, error) {
	var in workflows.SegmentInput
	iter := c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return in, err
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			return in, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in)
		}
	}
	return in, errors.New("no start event")
}

// loadPoints reads every shard's features and standardizes them.
func loadPoints(t *testing.T, ctx context.Context, store *blob.S3, run string, shards int, s features.Scaler) ([]string, [][]float64) {
	var ids []string
	var points [][]float64
	for i := range shards {
		data, err := store.Get(ctx, layout.Features(run, i))
		if err != nil {
			t.Fatal(err)
		}
		err = arrowio.Each(data, features.Schema, memory.NewGoAllocator(), func(rec arrow.Record) error {
			return features.EachValues(rec, func(id string, v []float64) {
				ids = append(ids, strings.Clone(id))
				points = append(points, s.Apply(v))
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids, points
}

// peakRSS reads the high-water mark of a process's resident memory, MiB.
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			return float64(kb) / 1024
		}
	}
	return 0
}

// resetPeak resets the high-water mark to the current RSS (Linux).
func resetPeak(pid int) {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
