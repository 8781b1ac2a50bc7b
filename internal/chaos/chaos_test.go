//go:build chaos

// Package chaos_test runs the regeneration on real servers with two worker
// processes and breaks things mid-run: a worker killed in each stage, the S3
// gateway restarted, a shard object corrupted. Runs must finish with the
// plan an undisturbed run publishes, byte for byte, or fail cleanly and
// publish nothing. `make chaos` runs it.
package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

const (
	queue  = "chaos"
	shards = 8
)

type harness struct {
	t       *testing.T
	env     []string
	bin     string
	workers []*exec.Cmd
	logs    string
	c       client.Client
	store   *blob.S3
	s3      *testenv.S3Server
}

func (h *harness) startWorker(i int) {
	h.t.Helper()
	log, err := os.OpenFile(filepath.Join(h.logs, fmt.Sprintf("worker-%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = h.env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { cmd.Wait(); log.Close() }()
	h.workers[i] = cmd
}

// killWorker SIGKILLs worker i and starts a new one in its place.
func (h *harness) killWorker(i int) {
	syscall.Kill(-h.workers[i].Process.Pid, syscall.SIGKILL)
	h.startWorker(i)
}

// run starts a regeneration, calls during with each progress report until it
// ends, and returns its summary or error.
func (h *harness) run(id, campaign string, window int, during func(workflows.Progress)) (workflows.Summary, error) {
	ctx := context.Background()
	// A campaign shared by several runs gets a stale marker in place of the
	// last plan: a run that does not publish cannot pass for one that did.
	if campaign != id {
		if err := h.store.Put(ctx, layout.Campaign(campaign)+"plan.parquet", []byte("stale")); err != nil {
			return workflows.Summary{}, err
		}
	}
	// Every run plans the same campaign: the control group and exploration
	// are hashed by campaign, and a campaign never suppresses its own
	// contacts, so an undisturbed and a disturbed run must agree byte for byte
	// (the plan names the campaign's window: every run repeats it).
	in := workflows.RegenerateInput{RunID: id, Campaign: campaign, Template: "weekly", Inputs: []string{"raw/chaos/events.csv.gz"}, Shards: shards, Seed: 3, Window: window,
		Start: time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)}
	wr, err := h.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate, in)
	if err != nil {
		return workflows.Summary{}, err
	}
	done := make(chan error, 1)
	var sum workflows.Summary
	go func() { done <- wr.Get(ctx, &sum) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return sum, err
		case <-tick.C:
			if during == nil {
				continue
			}
			v, err := h.c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
			if err != nil {
				continue // the worker answering queries may be the one just killed
			}
			var p workflows.Progress
			if v.Get(&p) == nil {
				during(p)
			}
		}
	}
}

// awaitScheduled follows workflow id's history, long-polling, until an
// activity of type activity is scheduled, and reports whether one was.
func (h *harness) awaitScheduled(id, activity string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		it := h.c.GetWorkflowHistory(ctx, id, "", true, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break // not started yet, or the server is busy: follow again
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activity {
				return true
			}
			if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED || ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED {
				return false
			}
		}
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) plan(campaign string) []byte {
	h.t.Helper()
	b, err := h.store.Get(context.Background(), layout.Campaign(campaign)+"plan.parquet")
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// midStage reports whether p is in the middle of stage: running, and for a
// fan-out, not every shard done. Shards in flight are enough: since faster
// prediction and model caching, features and decide fan-outs at this size
// finish between two progress polls, so waiting for a first shard to be
// done missed them.
func midStage(p workflows.Progress, stage string) bool {
	if p.Stage != stage {
		return false
	}
	for _, s := range p.Stages {
		if s.Name == stage {
			return s.Total <= 1 || s.Done < s.Total
		}
	}
	return false
}

func TestChaos(t *testing.T) {
	ctx := context.Background()
	addr := testenv.StartTemporal(t)
	s3 := testenv.StartS3Server(t)
	dir := t.TempDir()
	h := &harness{t: t, bin: filepath.Join(dir, "worker"), logs: dir, workers: make([]*exec.Cmd, 2), s3: s3}
	build := exec.Command("go", "build", "-o", h.bin, "github.com/promoflow/promoflow/worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	h.env = append(os.Environ(),
		"PROMOFLOW_TEMPORAL_ADDRESS="+addr, "PROMOFLOW_TASK_QUEUE="+queue,
		"PROMOFLOW_S3_ENDPOINT="+s3.Endpoint, "PROMOFLOW_BUCKET="+testenv.DefaultBucket,
		"AWS_ACCESS_KEY_ID="+testenv.DefaultAccessKey, "AWS_SECRET_ACCESS_KEY="+testenv.DefaultSecretKey)
	for i := range h.workers {
		h.startWorker(i)
	}
	t.Cleanup(func() {
		for _, w := range h.workers {
			syscall.Kill(-w.Process.Pid, syscall.SIGKILL)
		}
	})
	var err error
	h.store, err = blob.NewS3(ctx, blob.Config{Endpoint: s3.Endpoint, Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
		AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	h.c, err = client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer h.c.Close()
	events := filepath.Join(dir, "events.csv.gz")
	if _, err := synth.WriteFile(events, synth.Config{Users: 20000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutFile(ctx, "raw/chaos/events.csv.gz", events); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if _, err := h.run("undisturbed", "chaos", 4, nil); err != nil {
		t.Fatalf("undisturbed run: %v", err)
	}
	want := h.plan("chaos")
	t.Logf("undisturbed run: %v, plan %d bytes", time.Since(start).Round(time.Millisecond), len(want))

	// Each stage's fan-out on this small input can finish between two
	// progress polls (decide did, in CI), so the kill follows the history
	// instead: a worker dies as the stage's main activity is scheduled, in
	// the workflow that schedules it.
	killAt := map[string]struct{ suffix, activity string }{
		workflows.StageIngest:   {"", "IngestSplit"},
		workflows.StageFeatures: {"", "Features"},
		workflows.StageSegment:  {"-segment", "KMeansStep"},
		workflows.StageTrain:    {"-train", "TrainBoost"},
		workflows.StageDecide:   {"", "DecideScore"},
		workflows.StagePublish:  {"", "Publish"},
	}
	for i, stage := range workflows.Stages {
		t.Run("kill worker during "+stage, func(t *testing.T) {
			at, ok := killAt[stage]
			if !ok {
				t.Fatalf("no activity to kill a worker at in stage %s", stage)
			}
			var killed atomic.Bool
			id := "kill-" + stage
			start := time.Now()
			go func() {
				if h.awaitScheduled(id+at.suffix, at.activity) {
					h.killWorker(i % 2)
					if stage == workflows.StagePublish || stage == workflows.StageTrain {
						// Publish's few activities, and train's one
						// TrainBoost, may all sit on one worker: kill both.
						h.killWorker((i + 1) % 2)
					}
					killed.Store(true)
				}
			}()
			_, err := h.run(id, "chaos", 4, nil)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if !killed.Load() {
				t.Fatalf("stage %s passed before a worker could be killed", stage)
			}
			if !bytes.Equal(h.plan("chaos"), want) {
				t.Error("plan differs from the undisturbed run's")
			}
			t.Logf("killed a worker mid-%s: run took %v", stage, time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("S3 gateway restarted", func(t *testing.T) {
		restarted := false
		_, err := h.run("s3-restart", "chaos", 4, func(p workflows.Progress) {
			if !restarted && midStage(p, workflows.StageFeatures) {
				s3.Stop()
				time.Sleep(time.Second)
				if err := s3.Restart(); err != nil {
					t.Errorf("restart: %v", err)
				}
				restarted = true
			}
		})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if !restarted {
			t.Fatal("features passed before the gateway could be restarted")
		}
		if !bytes.Equal(h.plan("chaos"), want) {
			t.Error("plan differs from the undisturbed run's")
		}
	})

	t.Run("corrupt shard object", func(t *testing.T) {
		id := "corrupt"
		victim := layout.EventsPart(id, shards-1, layout.Source(0, "raw/chaos/events.csv.gz"))
		corrupted := false
		// One shard activity at a time, so the last shard is read well after
		// ingest has written it. The worker that finalized a shard keeps its
		// events in its spill and never reads them back from the bucket, so
		// both workers restart (as in a deploy) after the object is broken:
		// their successors must read it, and find it corrupt.
		_, err := h.run(id, id, 1, func(p workflows.Progress) {
			if !corrupted && p.Stage == workflows.StageFeatures {
				if err := h.store.Put(ctx, victim, []byte("not an arrow file")); err != nil {
					t.Errorf("corrupt: %v", err)
				}
				h.killWorker(0)
				h.killWorker(1)
				corrupted = true
			}
		})
		if !corrupted {
			t.Fatal("features passed before the object could be corrupted")
		}
		if err == nil || !strings.Contains(err.Error(), "BadInput") || !strings.Contains(err.Error(), "shard=0007") {
			t.Fatalf("err = %v, want a non-retryable BadInput error naming the shard object", err)
		}
		keys, err := h.store.List(ctx, layout.Campaign(id))
		if err != nil || len(keys) != 0 {
			t.Errorf("published %v after a failed run (err %v)", keys, err)
		}
	})
}
