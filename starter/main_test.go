package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

func TestBadRequests(t *testing.T) {
	// Point at closed ports: every case must fail before needing a server.
	t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"launch"}, 2, `unknown command "launch"`},
		{"unknown template", []string{"run", "--template", "easter", "--input", "x.csv"}, 1, `unknown template "easter" (known: holiday, launch, member, weekly, winback)`},
		{"budget with letters", []string{"run", "--budget", "5000abc", "--input", "x.csv"}, 1, `invalid value "5000abc" for flag -budget: "5000abc" is not a number`},
		{"negative budget", []string{"run", "--template", "holiday", "--budget", "-5", "--input", "x.csv"}, 1, "--budget -5 is below zero"},
		{"bad control share", []string{"run", "--control-share", "0.7", "--input", "x.csv"}, 1, "control_share 0.7"},
		{"bad start", []string{"run", "--input", "x.csv", "--start", "Dec 1"}, 1, "--start"},
		{"empty window", []string{"run", "--input", "x.csv", "--start", "2011-12-10", "--end", "2011-12-01"}, 1, "not after --start"},
		{"missing input", []string{"run", "--input", "/nonexistent/events.csv"}, 1, "/nonexistent/events.csv"},
		{"missing opt-out", []string{"run", "--input", "main_test.go", "--opt-out", "/nonexistent/optout.txt"}, 1, "/nonexistent/optout.txt"},
		{"templates dir without the template", []string{"run", "--templates-dir", ".", "--input", "x.csv"}, 1, `unknown template "weekly" (known: )`},
		{"bad catalog", []string{"run", "--offers", "main_test.go", "--input", "x.csv"}, 1, "main_test.go"},
		{"no input", []string{"run", "--template", "weekly"}, 1, "--input is required"},
		{"bad cutoff", []string{"run", "--input", "x.csv", "--cutoff", "10/09/2011"}, 1, "--cutoff"},
		{"missing mapping", []string{"run", "--input", "x.csv", "--mapping", "no-such-mapping.yaml"}, 1, "--mapping"},
		{"generate without out", []string{"generate"}, 1, "--out is required"},
		{"status without id", []string{"status"}, 1, "usage: starter status RUN_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}

func TestMissingInputFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 gateway")
	}
	endpoint := testenv.StartS3(t)
	t.Setenv("PROMOFLOW_S3_ENDPOINT", endpoint)
	t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), []string{"run", "--input", "/nonexistent/events.csv"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "/nonexistent/events.csv") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	code = dispatch(context.Background(), []string{"run", "--input", "s3://promoflow/raw/none.csv"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "does not exist") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	stack := testenv.Start(t)
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("PROMOFLOW_BUCKET", "fresh-bucket")
	for i := 0; i < 2; i++ {
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{"setup"}, &stdout, &stderr); code != 0 {
			t.Fatalf("setup run %d: exit %d: %s", i+1, code, stderr.String())
		}
	}
	c := stack.TemporalClient(t)
	resp, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: stack.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range workflows.SearchAttributeTypes() {
		if got, ok := resp.CustomAttributes[name]; !ok || got != typ {
			t.Errorf("search attribute %s = %v (registered %v), want %v", name, got, ok, typ)
		}
	}
	if _, err := stack.S3Client().HeadBucket(context.Background(), headBucket("fresh-bucket")); err != nil {
		t.Errorf("bucket not created: %v", err)
	}
}

func headBucket(name string) *s3.HeadBucketInput { return &s3.HeadBucketInput{Bucket: &name} }

// TestEventRunOnce: an event run's workflow ID is <template>-<event-slug>,
// and a second start of the same event is refused with a clear message.
func TestEventRunOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	stack := testenv.Start(t)
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("PROMOFLOW_TASK_QUEUE", "no-worker") // nothing runs it: the start is what is tested
	events := filepath.Join(t.TempDir(), "events.csv")
	if err := os.WriteFile(events, []byte("user_id,ts,type\nu1,2011-12-01T10:00:00Z,view\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--template", "holiday", "--event", "Christmas 2011", "--budget", "5000", "--input", events, "--json"}
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), `"workflow_id":"holiday-christmas-2011"`) {
		t.Fatalf("first start: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "run holiday-christmas-2011 was already started") {
		t.Errorf("second start: exit %d, stderr %q; want a refusal", code, stderr.String())
	}
	if got := Slug("  Black Friday / Cyber Monday 2026! "); got != "black-friday-cyber-monday-2026" {
		t.Errorf("Slug = %q", got)
	}

	// Two runs without --run-id started at once both start, under
	// different generated ids.
	ids := map[string]bool{}
	for i := 0; i < 2; i++ {
		stdout.Reset()
		stderr.Reset()
		if code := dispatch(context.Background(), []string{"run", "--input", events, "--json"}, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d: exit %d, stderr %q", i+1, code, stderr.String())
		}
		var out map[string]string
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		ids[out["workflow_id"]] = true
	}
	if len(ids) != 2 {
		t.Errorf("two runs started at once got ids %v, want two", ids)
	}
}

// TestNewRunID: generated ids carry the time to the second and a random
// part, so starts within one second get different ids.
func TestNewRunID(t *testing.T) {
	now := time.Date(2026, 12, 4, 8, 39, 44, 0, time.UTC)
	re := regexp.MustCompile(`^weekly-20261204-083944-[0-9a-f]{6}$`)
	seen := map[string]bool{}
	// 24 random bits: 100 ids in one second collide with odds of 3 in
	// 10,000 (1,000 ids: 3 in 100, which made this test flaky).
	for i := 0; i < 100; i++ {
		id := newRunID("weekly", now)
		if !re.MatchString(id) {
			t.Fatalf("id %q does not match %s", id, re)
		}
		if seen[id] {
			t.Fatalf("id %q generated twice in 100", id)
		}
		seen[id] = true
	}
}
