package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

const events = "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n" +
	"u1,2026-10-01T10:00:00Z,view,i1,shoes,red shoe,1,10,,web\n" +
	"u1,2026-10-02T10:00:00Z,purchase,i1,shoes,red shoe,1,10,o1,web\n" +
	"u2,2026-10-03T10:00:00Z,view,i2,bags,tote,1,20,,app\n" +
	"u3,2026-11-20T10:00:00Z,purchase,i2,bags,tote,2,20,o2,app\n" +
	"u3,bad,view,i2,bags,tote,1,20,,app\n"

func newEnv(store Store) (*testsuite.TestActivityEnvironment, *Activities) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	acts := &Activities{Store: store}
	env.RegisterActivity(acts)
	return env, acts
}

// encodeEvents encodes each builder's events as one Arrow IPC piece of the
// events table (a shard's ingested events) and releases the builders.
func encodeEvents(t *testing.T, mem memory.Allocator, builders []*canon.EventBuilder) [][]byte {
	t.Helper()
	out := make([][]byte, len(builders))
	for i, b := range builders {
		rec := b.NewRecord()
		data, err := arrowio.Encode(canon.EventSchema, mem, rec)
		rec.Release()
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = data
	}
	return out
}

// activityRunner runs activities in env, failing the test on an error,
// and decodes each result into out (nil: an activity without a result).
func activityRunner(t *testing.T, env *testsuite.TestActivityEnvironment) func(fn, in, out any) {
	return func(fn, in, out any) {
		t.Helper()
		v, err := env.ExecuteActivity(fn, in)
		if err != nil {
			t.Fatal(err)
		}
		if out == nil {
			return
		}
		if err := v.Get(out); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIngestThenFeatures(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	if err := store.Put(ctx, "raw/t/events.csv", []byte(events)); err != nil {
		t.Fatal(err)
	}
	env, acts := newEnv(store)
	res := runIngest(t, env, acts, "r", "", 3, "raw/t/events.csv")[0]
	if res.RowsRead != 5 || res.Accepted != 4 || res.Rejected != 1 {
		t.Errorf("ingest %+v", res)
	}
	if routed := res.Accepted - res.AcceptedNoUser; routed != 4 {
		t.Errorf("rows routed to user shards %d, want 4", routed)
	}
	rej, _ := store.Get(ctx, res.Rejects)
	if !strings.Contains(string(rej), "raw/t/events.csv,6,ts,bad ts,bad") {
		t.Errorf("rejects:\n%s", rej)
	}

	end := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var users, train int64
	for i := 0; i < 3; i++ {
		v, err := env.ExecuteActivity(acts.Features, FeaturesInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Cutoff: end.Add(-28 * 24 * time.Hour), LabelEnd: end, End: end})
		if err != nil {
			t.Fatal(err)
		}
		var f FeaturesOutput
		if err := v.Get(&f); err != nil {
			t.Fatal(err)
		}
		users += f.Users
		train += f.TrainRows
	}
	if users != 3 || train != 2 {
		t.Errorf("users %d (want 3), training rows %d (want 2: u3 is new after the cutoff)", users, train)
	}
}

func TestBadInputIsNotRetryable(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	store.Put(ctx, "raw/t/wrong.csv", []byte("customer,when\nc1,2026-01-01\n"))
	store.Put(ctx, layout.Features("r", 0), []byte("this is not arrow"))
	store.Put(ctx, layout.Staged("r", "000", 0, 0, 0, 2), []byte("this is not arrow either"))
	env, acts := newEnv(store)
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"missing column", func() error {
			_, err := env.ExecuteActivity(acts.IngestPlan, IngestPlanInput{RunID: "r", Key: "raw/t/wrong.csv"})
			return err
		}, `raw/t/wrong.csv:1: column "user_id"`},
		{"corrupt shard", func() error {
			_, err := env.ExecuteActivity(acts.KMeansStep, KMeansStepInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}})
			return err
		}, layout.Features("r", 0)},
		{"corrupt staged rows", func() error {
			_, err := env.ExecuteActivity(acts.IngestFinalize, IngestFinalizeInput{RunID: "r", Table: "events", Partition: 0, Shards: 2,
				Sources: []StagedSource{{Name: "000", Chunks: []int{1}}}})
			return err
		}, layout.Staged("r", "000", 0, 0, 0, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != BadInputType {
				t.Fatalf("err = %v, want a non-retryable %s error", err, BadInputType)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestFinalizeLocalErrorIsRetryable: a full local disk while finalizing is
// no fault of the input (it once failed a run as bad input); only staged
// rows that cannot be decoded are.
func TestFinalizeLocalErrorIsRetryable(t *testing.T) {
	key := layout.Staged("r", "000", 0, 0, 0, 2)
	for _, tc := range []struct {
		name string
		err  error
		bad  bool
	}{
		{"no space", &fs.PathError{Op: "write", Path: "/tmp/ingest-final-1/out-0000.arrow", Err: syscall.ENOSPC}, false},
		{"wrapped no space", fmt.Errorf("out-0000.arrow: %w", syscall.ENOSPC), false},
		{"corrupt", &ingest.StagedError{Err: errors.New("arrow ipc reader: bad magic")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := finalizeError(IngestFinalizeInput{RunID: "r", Shards: 2},
				fmt.Errorf("partition 0: %w", &ingest.ChunkError{Source: "000", Err: tc.err}))
			final(&err)
			var app *temporal.ApplicationError
			bad := errors.As(err, &app) && app.NonRetryable()
			if bad != tc.bad {
				t.Errorf("err = %v: non-retryable %v, want %v", err, bad, tc.bad)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("err = %v, want it to name %s", err, key)
			}
		})
	}
}
