package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/browser"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReviewBadRequests(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve"}, "usage: starter approve RUN_ID"},
		{[]string{"approve", "r1"}, "--by is required"},
		{[]string{"approve", "r1", "--by", "  "}, "--by is required"},
		{[]string{"reject", "r1", "--by", "ana"}, "--reason is required"},
		{[]string{"reject", "--by", "ana", "r1", "extra"}, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), tc.args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want an error with %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestIntegrationApproval runs `starter run --require-approval --wait` on
// generated data against the real Temporal and S3 servers, waits for its
// hint, checks that the workflow's validator refuses a nameless review,
// approves with `starter approve`, and checks the published summary and
// report.html (also in a headless browser).
func TestIntegrationApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	t.Setenv("PROMOFLOW_TASK_QUEUE", "promoflow-approval")
	stack, c := startStack(t, true)
	store := stack.Store(t)

	events := filepath.Join(t.TempDir(), "events.csv.gz")
	if _, err := synth.WriteFile(events, synth.Config{Users: 1500, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	const runID = "approval-it-1"
	var stdout, stderr syncBuffer
	done := make(chan int)
	summaryFile := filepath.Join(t.TempDir(), "demo", "summary.json")
	go func() { // as make demo runs it: the short summary printed, the whole one in a file
		done <- dispatch(ctx, []string{"run", "--input", events, "--run-id", runID, "--shards", "2", "--k", "3",
			"--require-approval", "--approval-deadline", "1h", "--wait", "--json-out", summaryFile}, &stdout, &stderr)
	}()
	hint := "awaiting approval: starter approve " + runID + " --by NAME"
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(stderr.String(), hint) {
		select {
		case code := <-done:
			t.Fatalf("run ended (exit %d) before awaiting approval:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no approval hint after 3 minutes:\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "review s3://") {
		t.Errorf("hint without the review report:\n%s", stderr.String())
	}
	var st bytes.Buffer
	if code := dispatch(ctx, []string{"status", runID}, &st, &st); code != 0 || !strings.Contains(st.String(), "run "+runID+": "+workflows.AwaitingApproval) {
		t.Errorf("status: exit %d:\n%s", code, st.String())
	}
	st.Reset()
	var p workflows.Progress // a flag after the run ID
	if code := dispatch(ctx, []string{"status", runID, "--json"}, &st, &st); code != 0 || json.Unmarshal(st.Bytes(), &p) != nil || p.RunID != runID || p.Stage != workflows.AwaitingApproval {
		t.Errorf("status RUN --json: exit %d, progress %+v:\n%s", code, p, st.String())
	}
	// The validator refuses a review without a reviewer; nothing is recorded.
	if _, err := sendReview(ctx, c, runID, workflows.ApproveUpdate, workflows.ApprovalInput{By: ""}); err == nil || !strings.Contains(err.Error(), "reviewer name (by) is required") {
		t.Errorf("nameless approve: %v", err)
	}
	var out, errOut bytes.Buffer
	if code := dispatch(ctx, []string{"approve", runID, "--by", "ana", "--comment", "ship it"}, &out, &errOut); code != 0 {
		t.Fatalf("approve: exit %d: %s", code, errOut.String())
	}
	if want := "run " + runID + ": approved by ana at "; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "(ship it); publishing campaigns/"+runID+"/") {
		t.Errorf("approve printed %q", out.String())
	}
	// A second decision is refused: the run is no longer waiting.
	out.Reset()
	errOut.Reset()
	if code := dispatch(ctx, []string{"reject", runID, "--by", "bob", "--reason", "too late"}, &out, &errOut); code == 0 {
		t.Errorf("second review accepted: %s", out.String())
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run: exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("run did not finish after approval")
	}
	var sum RunOutput
	if b, err := os.ReadFile(summaryFile); err != nil || json.Unmarshal(b, &sum) != nil {
		t.Fatalf("run --json-out: %v\n%.300s", err, b)
	}
	short := stdout.String()
	if n := strings.Count(short, "\n"); n >= 60 || !strings.Contains(short, "run "+runID+": template weekly") ||
		!strings.Contains(short, "\nsegments (3):\n") || !strings.Contains(short, "run "+runID+": approved by ana") ||
		!strings.Contains(short, "report:  "+sum.Plan.Report+"\n") || !strings.Contains(short, "ui:      "+sum.UIURL+"\n") ||
		!strings.Contains(short, "summary: "+summaryFile+" (the whole summary, JSON; also s3://") {
		t.Errorf("run --wait --json-out printed %d lines:\n%s", n, short)
	}
	a := sum.Approval
	if a == nil || a.Status != workflows.ApprovalApproved || a.By != "ana" || a.Comment != "ship it" || a.At.IsZero() || a.Deadline.Sub(a.At) > time.Hour {
		t.Errorf("summary approval %+v", a)
	}
	if sum.Plan.Rows == 0 || !strings.HasSuffix(sum.Plan.Report, "campaigns/"+runID+"/report.html") {
		t.Errorf("plan %+v", sum.Plan)
	}
	saved, err := store.Get(ctx, "campaigns/"+runID+"/summary.json")
	if err != nil || !bytes.Contains(saved, []byte(`"status": "approved"`)) || !bytes.Contains(saved, []byte(`"by": "ana"`)) {
		t.Errorf("summary.json lacks the approval (%v):\n%.400s", err, saved)
	}
	page, err := store.Get(ctx, "campaigns/"+runID+"/report.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Segment profiles", "approved", "ana", "ship it"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if dir := os.Getenv(browser.ScreenshotDirEnv); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "report.html"), page, 0o644); err != nil {
			t.Error(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	defer srv.Close()
	// Segments, offer mix and lift curve.
	browser.CheckPage(t, srv.URL, "svg.chart", 3, 0.03)

	// A second run nobody reviews: past its deadline (a durable timer on
	// the real server) it ends normally, expired, with nothing published.
	const expiring = "approval-it-2"
	var out2, err2 bytes.Buffer
	code := dispatch(ctx, []string{"run", "--input", events, "--run-id", expiring, "--shards", "2", "--k", "3",
		"--require-approval", "--approval-deadline", "5s", "--wait"}, &out2, &err2)
	if code != 0 {
		t.Fatalf("expiring run: exit %d:\n%s", code, err2.String())
	}
	if !strings.Contains(err2.String(), "awaiting approval: starter approve "+expiring) {
		t.Errorf("expiring run printed no hint:\n%s", err2.String())
	}
	if want := "run " + expiring + ": expired at "; !strings.Contains(out2.String(), want) || !strings.Contains(out2.String(), "; nothing published\nreview: s3://") {
		t.Errorf("expiring run printed:\n%s", out2.String())
	}
	if keys, err := store.List(ctx, "campaigns/"+expiring+"/"); err != nil || len(keys) != 0 {
		t.Errorf("expired run published %v (%v)", keys, err)
	}
	if _, err := store.Get(ctx, "runs/"+expiring+"/review/report.html"); err != nil {
		t.Errorf("expired run has no review report: %v", err)
	}
}
