package logging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/testenv"
)

type shardInput struct {
	RunID string
	Shard int
	Keys  []string
}

type splitInput struct {
	RunID string
	Split int
}

type keysInput struct{ Keys []string }

type blockInput struct {
	RunID string
	Block shard.Block
}

// testStages is the worker's stage table in these tests (workflows.StageOf
// in a real worker).
func testStages(activityType string) string {
	switch activityType {
	case "Features", "Quantiles":
		return "features"
	}
	return activityType
}

func TestFieldsOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage string
		args  []any
		want  Fields
	}{
		{"per shard", "features", []any{shardInput{RunID: "r1", Shard: 7}}, Fields{"r1", "features", 7, 0, -1}},
		{"block of one", "features", []any{blockInput{RunID: "r1", Block: shard.Block{From: 5, To: 6}}}, Fields{"r1", "features", 5, 0, -1}},
		{"block of 16", "segment", []any{blockInput{RunID: "r1", Block: shard.Block{From: 32, To: 48}}}, Fields{"r1", "segment", 32, 16, -1}},
		{"pointer", "segment", []any{&shardInput{RunID: "r1", Shard: 0}}, Fields{"r1", "segment", 0, 0, -1}},
		{"split", "ingest", []any{splitInput{RunID: "r2", Split: 3}}, Fields{"r2", "ingest", -1, 0, 3}},
		{"no run id: workflow id", "features", []any{keysInput{}}, Fields{"wf", "features", -1, 0, -1}},
		{"empty run id", "decide", []any{shardInput{Shard: 2}}, Fields{"wf", "decide", 2, 0, -1}},
		{"no struct", "publish", []any{"x", 3}, Fields{"wf", "publish", -1, 0, -1}},
		{"no arguments", "Evaluate", nil, Fields{"wf", "Evaluate", -1, 0, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FieldsOf(tc.stage, "wf", tc.args); got != tc.want {
				t.Errorf("FieldsOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Features is a stand-in activity of the features stage that logs a line
// of its own.
func Features(ctx context.Context, in shardInput) (int, error) {
	activity.GetLogger(ctx).Info("counted", "keys", len(in.Keys))
	return len(in.Keys), nil
}

// Quantiles is a stand-in activity without a shard.
func Quantiles(ctx context.Context, in keysInput) (int, error) {
	activity.GetLogger(ctx).Info("merged")
	return len(in.Keys), nil
}

func fanOut(ctx workflow.Context, run string) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	total := 0
	for shard := range 2 {
		var n int
		if err := workflow.ExecuteActivity(ctx, Features, shardInput{RunID: run, Shard: shard, Keys: []string{"a", "b"}}).Get(ctx, &n); err != nil {
			return 0, err
		}
		total += n
	}
	var n int
	err := workflow.ExecuteActivity(ctx, Quantiles, keysInput{Keys: []string{"a"}}).Get(ctx, &n)
	return total + n, err
}

// syncBuffer is a log sink written by the worker's goroutines.
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

// TestWorkerLogs runs activities on a real worker with the JSON logger the
// worker command uses, and checks that every activity line carries run,
// stage and shard.
func TestWorkerLogs(t *testing.T) {
	addr := testenv.StartTemporal(t)
	var out syncBuffer
	logger := tlog.NewStructuredLogger(slog.New(slog.NewJSONHandler(&out, nil)))
	c, err := client.Dial(client.Options{HostPort: addr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, "logging", worker.Options{Interceptors: []interceptor.WorkerInterceptor{&Interceptor{StageOf: testStages}}})
	w.RegisterWorkflow(fanOut)
	w.RegisterActivity(Features)
	w.RegisterActivity(Quantiles)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-logging", TaskQueue: "logging"}, fanOut, "run-7")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := run.Get(ctx, &n); err != nil || n != 5 {
		t.Fatalf("workflow: %d, %v", n, err)
	}
	counts := map[string]int{}
	shards := map[int]int{}
	sc := bufio.NewScanner(bytes.NewReader([]byte(out.String())))
	for sc.Scan() {
		var l struct {
			Msg   string  `json:"msg"`
			Type  string  `json:"ActivityType"`
			Run   *string `json:"run"`
			Stage *string `json:"stage"`
			Shard *int    `json:"shard"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if l.Type == "" {
			continue // not an activity's line
		}
		if l.Run == nil || l.Stage == nil {
			t.Fatalf("activity line without run or stage: %s", sc.Text())
		}
		var raw map[string]any
		json.Unmarshal(sc.Bytes(), &raw)
		if _, ok := raw["shard"]; !ok {
			t.Fatalf("activity line without shard: %s", sc.Text())
		}
		switch l.Type {
		case "Features":
			if *l.Run != "run-7" || *l.Stage != "features" || l.Shard == nil {
				t.Errorf("features line: %s", sc.Text())
			} else {
				shards[*l.Shard]++
			}
		case "Quantiles":
			if *l.Run != "wf-logging" || *l.Stage != "features" || l.Shard != nil {
				t.Errorf("quantiles line: %s", sc.Text())
			}
		}
		counts[l.Type+"/"+l.Msg]++
	}
	want := map[string]int{
		"Features/activity started": 2, "Features/counted": 2, "Features/activity completed": 2,
		"Quantiles/activity started": 1, "Quantiles/merged": 1, "Quantiles/activity completed": 1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d lines %q, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	if shards[0] != 3 || shards[1] != 3 {
		t.Errorf("lines by shard %v, want 3 each of shards 0 and 1", shards)
	}
}
