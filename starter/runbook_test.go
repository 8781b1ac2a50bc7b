package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// TestRunbookRetryFailedRun follows the README's runbook for a failed
// run: a run fails on a broken delivery, the delivery is replaced in
// place, and `temporal workflow reset --type FirstWorkflowTask` runs it
// again to the end under the same run id (workflow IDs are never reused,
// so `starter run --run-id` with the same id is refused).
func TestRunbookRetryFailedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	t.Setenv("PROMOFLOW_TASK_QUEUE", "promoflow-runbook")
	stack, c := startStack(t, true)
	store := stack.Store(t)

	const key, runID = "raw/runbook/2026-11-30/events.csv.gz", "runbook-1"
	var broken bytes.Buffer
	zw := gzip.NewWriter(&broken)
	zw.Write([]byte("customer,when\nu1,yesterday\n"))
	zw.Close()
	if err := store.Put(ctx, key, broken.Bytes()); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--input", key, "--run-id", runID, "--shards", "2", "--k", "3", "--wait"}
	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, args, &stdout, &stderr); code != 1 {
		t.Fatalf("run on a broken delivery: exit %d, want 1:\n%s", code, stderr.String())
	}
	failure := stderr.String()

	// The same run id again is refused.
	stderr.Reset()
	if code := dispatch(ctx, args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "already started") {
		t.Errorf("second start of %s: exit %d, %q; want a refusal", runID, code, stderr.String())
	}

	// The delivery is replaced; the run is reset to its start.
	good := t.TempDir() + "/events.csv.gz"
	if _, err := synth.WriteFile(good, synth.Config{Users: 800, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutFile(ctx, key, good); err != nil {
		t.Fatal(err)
	}
	out, err := testenv.TemporalCLI(t, stack.TemporalAddr, "workflow", "reset", "--namespace", stack.Namespace,
		"--workflow-id", runID, "--type", "FirstWorkflowTask", "--reason", "delivery replaced")
	if err != nil {
		t.Fatalf("temporal workflow reset: %v\n%s", err, out)
	}
	var sum workflows.Summary
	if err := c.GetWorkflow(ctx, runID, "").Get(ctx, &sum); err != nil {
		t.Fatalf("run %s after the reset: %v (it had failed with %q)", runID, err, failure)
	}
	if sum.RunID != runID || sum.Users < 700 || sum.Plan.Rows == 0 {
		t.Errorf("summary after the reset: run %q, %d users, %d plan rows; want %s, about 800 users and a plan", sum.RunID, sum.Users, sum.Plan.Rows, runID)
	}
	var st bytes.Buffer
	if code := dispatch(ctx, []string{"status", runID}, &st, &st); code != 0 || !strings.Contains(st.String(), "run "+runID+": "+workflows.Done) {
		t.Errorf("status after the reset: exit %d:\n%s", code, st.String())
	}
}

// TestRunbookCommands checks that every starter and temporal command in the
// README's "Operating it" section exists and takes the flags it is shown
// with: each is run with -h appended, which parses the flags before it.
func TestRunbookCommands(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Operating it\n")
	if !ok {
		t.Fatal("README has no \"Operating it\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var cmds [][]string
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "go run ./starter ") && !strings.HasPrefix(line, "temporal ") {
			continue
		}
		if i := strings.Index(line, "  #"); i >= 0 {
			line = line[:i]
		}
		cmds = append(cmds, shellWords(t, line))
	}
	if len(cmds) < 7 {
		t.Fatalf("%d commands in the runbook, want the reset, status and five schedule commands at least", len(cmds))
	}
	for _, args := range cmds {
		switch args[0] {
		case "go":
			var out bytes.Buffer
			if code := dispatch(context.Background(), append(args[3:], "-h"), &out, &out); code != 0 {
				t.Errorf("%q: exit %d:\n%s", args, code, out.String())
			}
		case "temporal":
			if out, err := testenv.TemporalCLI(t, "127.0.0.1:1", append(args[1:], "--help")...); err != nil {
				t.Errorf("%q: %v\n%s", args, err, out)
			}
		}
	}
}

// shellWords splits a command line at spaces outside quotes (single or
// double), with the quotes removed and $VARIABLES kept as they are.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	var quote rune // the open quote, 0 outside quotes
	inWord := false
	for _, r := range line {
		switch {
		case quote == 0 && (r == '"' || r == '\''):
			quote, inWord = r, true
		case r == quote:
			quote = 0
		case r == ' ' && quote == 0:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
