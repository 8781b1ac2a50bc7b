package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/internal/shard"
)

// ingestOpts tune runIngest.
type ingestOpts struct {
	splitBytes int64
	chunkRows  int
	notAfter   time.Time
	blocks     int // finalize user shards in at most this many blocks; 0: one activity per partition
}

// runIngest runs the four ingest activities over keys one after another,
// as the workflow does, and returns each source's accounting.
func runIngest(t *testing.T, env *testsuite.TestActivityEnvironment, acts *Activities, run, mapping string, shards int, keys ...string) []ingest.Result {
	t.Helper()
	return runIngestWith(t, env, acts, run, mapping, shards, ingestOpts{splitBytes: 1 << 20, chunkRows: 1000}, keys...)
}

func runIngestWith(t *testing.T, env *testsuite.TestActivityEnvironment, acts *Activities, run, mapping string, shards int, o ingestOpts, keys ...string) []ingest.Result {
	t.Helper()
	get := func(v interface{ Get(any) error }, err error, out any) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(out); err != nil {
			t.Fatal(err)
		}
	}
	var sources []IngestSource
	for i, k := range keys {
		var p IngestPlanOutput
		v, err := env.ExecuteActivity(acts.IngestPlan, IngestPlanInput{RunID: run, Key: k, Index: i, Mapping: mapping, SplitBytes: o.splitBytes})
		get(v, err, &p)
		sources = append(sources, p.Sources...)
	}
	res := make([]ingest.Result, len(sources))
	chunks := make([][]int, len(sources))
	for si, s := range sources {
		res[si] = ingest.Result{Source: s.Key, Name: s.Name, Table: s.Table, Splits: len(s.Splits)}
		for sp := range s.Splits {
			var out IngestSplitOutput
			v, err := env.ExecuteActivity(acts.IngestSplit, IngestSplitInput{RunID: run, Mapping: mapping, Source: s, Split: sp, Shards: shards, ChunkRows: o.chunkRows, NotAfter: o.notAfter})
			get(v, err, &out)
			chunks[si] = append(chunks[si], out.Chunks)
			res[si].RowsRead += out.Counts.RowsRead
			res[si].NoUser += out.Counts.NoUser
		}
	}
	var tables []string
	members := map[string][]int{}
	for si, s := range sources {
		if members[s.Table] == nil {
			tables = append(tables, s.Table)
		}
		members[s.Table] = append(members[s.Table], si)
	}
	late := make([][]string, len(sources))
	for _, tb := range tables {
		var staged []StagedSource
		for _, si := range members[tb] {
			staged = append(staged, StagedSource{Name: sources[si].Name, Spec: sources[si].Spec, Chunks: chunks[si]})
		}
		blocks := shard.Blocks(shards, shards)
		if o.blocks > 0 {
			blocks = shard.Blocks(shards, o.blocks)
		}
		blocks = append(blocks, shard.Block{From: shards, To: shards + 1})
		for _, b := range blocks {
			var out IngestFinalizeOutput
			in := IngestFinalizeInput{RunID: run, Mapping: mapping, Table: tb, Partition: b.From, Shards: shards, Sources: staged}
			if o.blocks > 0 {
				in.To = b.To
			}
			v, err := env.ExecuteActivity(acts.IngestFinalize, in)
			get(v, err, &out)
			for k, si := range members[tb] {
				res[si].AddCounts(out.Counts[k], b.From == shards)
				if out.LateRejects[k] != "" {
					late[si] = append(late[si], out.LateRejects[k])
				}
			}
		}
	}
	rin := IngestRejectsInput{RunID: run}
	for si, s := range sources {
		rin.Sources = append(rin.Sources, RejectSource{Name: s.Name, Key: s.Key, Table: s.Table, Dedupe: s.Dedupe, Chunks: chunks[si], Late: late[si]})
	}
	var rej IngestRejectsOutput
	v, err := env.ExecuteActivity(acts.IngestRejects, rin)
	get(v, err, &rej)
	for si := range res {
		res[si].Rejected = rej.Counts[si].Rejected
		res[si].Duplicates += rej.Counts[si].Duplicates
		res[si].ByReason = rej.Counts[si].ByReason
		res[si].Rejects = rej.Keys[si]
		if err := res[si].Check(); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// readEvents returns every event of a run's user shards, shard by shard.
func readEvents(t *testing.T, store Store, run string, shards int) []canon.Event {
	t.Helper()
	var out []canon.Event
	for i := 0; i < shards; i++ {
		keys, err := store.List(context.Background(), layout.EventsDir(run, i))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			data, err := store.Get(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			err = arrowio.Each(data, canon.EventSchema, memory.DefaultAllocator, func(rec arrow.Record) error {
				ev, err := canon.NewEvents(rec)
				if err != nil {
					return err
				}
				for r := 0; r < ev.Len(); r++ {
					out = append(out, ev.At(r))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// dupEvents is canonical CSV with an exact duplicate in another split, a
// duplicate of a rejected row, and a row without a user.
func dupEvents(n int) string {
	var b strings.Builder
	b.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,purchase,i%d,shoes,\"red\nshoe\",1,10,o%d,web\n", i%7, 1+i%28, i, i)
	}
	b.WriteString("u0,2026-10-01T10:00:00Z,purchase,i0,shoes,\"red\nshoe\",1,10,o0,web\n") // duplicate of row 1
	b.WriteString("u1,not a time,view,,,,,,,web\n")
	b.WriteString("u1,not a time,view,,,,,,,web\n") // duplicate of a rejected row
	b.WriteString(",2026-10-01T10:00:00Z,view,,,,,,,web\n")
	return b.String()
}

func TestIngestDuplicatesAcrossSplits(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	must(t, store.Put(ctx, "raw/t/dup.csv", []byte(dupEvents(300))))
	env, acts := newEnv(store)
	// Splits of 2 KB: the duplicate of row 1 is in a later split.
	res := runIngestWith(t, env, acts, "r", "", 3, ingestOpts{splitBytes: 2048, chunkRows: 50}, "raw/t/dup.csv")[0]
	if res.Splits < 3 {
		t.Fatalf("%d splits, want several", res.Splits)
	}
	want := ingest.Result{RowsRead: 304, Accepted: 300, Duplicates: 2, Rejected: 2, NoUser: 1}
	if res.RowsRead != want.RowsRead || res.Accepted != want.Accepted || res.Duplicates != want.Duplicates ||
		res.Rejected != want.Rejected || res.NoUser != want.NoUser {
		t.Errorf("accounting %+v, want %+v", res, want)
	}
	if res.ByReason["bad ts"] != 1 || res.ByReason["missing user_id"] != 1 {
		t.Errorf("by reason %v", res.ByReason)
	}
	ev := readEvents(t, store, "r", 3)
	if len(ev) != 300 {
		t.Fatalf("%d events in the shards, want 300", len(ev))
	}
	for _, e := range ev {
		if e.Text != "red\nshoe" {
			t.Fatalf("event %+v: embedded newline lost", e)
		}
	}
}

// TestIngestFinalizeBlocks: finalizing user shards in blocks (one
// activity per block, as at more shards than RegenerateInput.ShardBlocks)
// writes the same tables and rejects and counts the same as one activity
// per shard, late rejects (values that could not be carried forward)
// included, each block's in one object.
func TestIngestFinalizeBlocks(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("user_id,ts,type,item_id,channel\n")
	for i := 0; i < 400; i++ {
		ch := "web"
		if i%9 == 0 {
			ch = "" // carried forward, or rejected late on a user's first event
		}
		fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,view,i%d,%s\n", i%37, 1+i%28, i, ch)
	}
	b.WriteString("u1,not a time,view,,web\n")
	must(t, store.Put(ctx, "raw/t/ev.csv", []byte(b.String())))
	mp := "sources:\n- table: events\n  files: ['*.csv']\n  columns:\n    user_id: user_id\n    ts: ts\n    type: type\n    item_id: item_id\n    channel: {expr: channel, missing: carry_forward}\n"
	env, acts := newEnv(store)
	const shards = 7
	one := runIngestWith(t, env, acts, "one", mp, shards, ingestOpts{splitBytes: 4096, chunkRows: 100}, "raw/t/ev.csv")[0]
	blk := runIngestWith(t, env, acts, "blk", mp, shards, ingestOpts{splitBytes: 4096, chunkRows: 100, blocks: 3}, "raw/t/ev.csv")[0]
	if one.ByReason["missing channel"] == 0 {
		t.Fatalf("no late rejects to compare: %v", one.ByReason)
	}
	one.Rejects, blk.Rejects = "", ""
	if fmt.Sprint(one) != fmt.Sprint(blk) {
		t.Errorf("blocks count\n%+v\nper shard\n%+v", blk, one)
	}
	for i := 0; i < shards; i++ {
		a, err := store.Get(ctx, layout.TablePart("one", "events", i, shards, one.Name))
		must(t, err)
		b, err := store.Get(ctx, layout.TablePart("blk", "events", i, shards, blk.Name))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("shard %d: events differ in blocks", i)
		}
	}
	ra, err := store.Get(ctx, layout.Rejects("one", one.Name))
	must(t, err)
	rb, err := store.Get(ctx, layout.Rejects("blk", blk.Name))
	must(t, err)
	if !bytes.Equal(ra, rb) || !bytes.Contains(ra, []byte("missing channel")) {
		t.Errorf("rejects differ in blocks:\n%s\nper shard:\n%s", rb, ra)
	}
	late, err := store.List(ctx, layout.IngestDir("blk")+"late-rejects/")
	must(t, err)
	if len(late) == 0 || len(late) > 3 || !strings.Contains(strings.Join(late, " "), "/shards=") {
		t.Errorf("blocks wrote %d late-rejects objects, want 1 to 3 (one per block): %v", len(late), late)
	}
}

// TestIngestRejectsEventsAfterStart: an event dated 2099 is rejected with
// its line and reason instead of becoming the run's end.
func TestIngestRejectsEventsAfterStart(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	data := "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n" +
		"u1,2026-11-20T10:00:00Z,purchase,i1,shoes,red shoe,1,10,o1,web\n" +
		"u2,2099-11-21T10:00:00Z,purchase,i2,shoes,red shoe,1,10,o2,web\n" +
		"u3,2026-11-30T10:00:00Z,view,i3,shoes,red shoe,1,10,,web\n" + // within the tolerance
		"u4,2026-12-01T03:00:01Z,view,i4,shoes,red shoe,1,10,,web\n" // a second past it
	must(t, store.Put(ctx, "raw/t/future.csv", []byte(data)))
	env, acts := newEnv(store)
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	res := runIngestWith(t, env, acts, "r", "", 2, ingestOpts{splitBytes: 1 << 20, chunkRows: 1000, notAfter: start.Add(24 * time.Hour)}, "raw/t/future.csv")[0]
	if res.Accepted != 2 || res.Rejected != 2 || res.ByReason[mapping.ReasonAfterStart] != 2 {
		t.Errorf("accepted %d, rejected %d by reason %v; want 2, 2 %q", res.Accepted, res.Rejected, res.ByReason, mapping.ReasonAfterStart)
	}
	if want := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC); !res.MaxTS.Equal(want) {
		t.Errorf("last event %v, want %v", res.MaxTS, want)
	}
	rej, err := store.Get(ctx, res.Rejects)
	must(t, err)
	for _, want := range []string{
		`raw/t/future.csv,3,ts,ts after the run's start,2099-11-21T10:00:00Z`,
		`raw/t/future.csv,5,ts,ts after the run's start,2026-12-01T03:00:01Z`,
	} {
		if !strings.Contains(string(rej), want) {
			t.Errorf("rejects lack %q:\n%s", want, rej)
		}
	}

	// Without a limit, the 2099 event is the last.
	res = runIngest(t, env, acts, "r2", "", 2, "raw/t/future.csv")[0]
	if res.Accepted != 4 || res.MaxTS.Year() != 2099 {
		t.Errorf("no limit: accepted %d, last event %v", res.Accepted, res.MaxTS)
	}
}

func TestIngestDeterministicAndResumable(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	must(t, store.Put(ctx, "raw/t/dup.csv", []byte(dupEvents(2000))))
	env, acts := newEnv(store)
	o := ingestOpts{splitBytes: 1 << 30, chunkRows: 300}
	first := runIngestWith(t, env, acts, "a", "", 2, o, "raw/t/dup.csv")[0]

	// The split again, as a retry after a worker died past chunk 1: it
	// resumes from the heartbeat and writes the same objects.
	var p IngestPlanOutput
	v, err := env.ExecuteActivity(acts.IngestPlan, IngestPlanInput{RunID: "b", Key: "raw/t/dup.csv", SplitBytes: o.splitBytes})
	must(t, err)
	must(t, v.Get(&p))
	src := p.Sources[0]
	var beats []ingest.StageState
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var st ingest.StageState
		if err := details.Get(&st); err == nil {
			beats = append(beats, st)
		}
	})
	var full IngestSplitOutput
	v, err = env.ExecuteActivity(acts.IngestSplit, IngestSplitInput{RunID: "b", Source: src, Shards: 2, ChunkRows: o.chunkRows})
	must(t, err)
	must(t, v.Get(&full))
	// The test environment throttles heartbeats: the first one gets through.
	if full.Chunks < 5 || len(beats) == 0 {
		t.Fatalf("%d chunks, %d heartbeats: want several chunks, heartbeats", full.Chunks, len(beats))
	}
	want := map[string][]byte{}
	keys, _ := store.List(ctx, "runs/b/ingest/")
	for _, k := range keys {
		want[k], _ = store.Get(ctx, k)
	}
	// Resume from the state heartbeated after chunk 1: chunk 0 is not
	// rewritten, the rest is the same.
	state := beats[0]
	if state.Chunks != 1 || state.Pos.Line <= 300 || state.Counts.RowsRead != 300 {
		t.Fatalf("state after chunk 1: %+v", state)
	}
	for _, k := range keys {
		must(t, store.Put(ctx, k, []byte("stale")))
	}
	env2, acts2 := newEnv(store)
	env2.SetHeartbeatDetails(state)
	var beats2 []ingest.StageState
	env2.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var st ingest.StageState
		if err := details.Get(&st); err == nil {
			beats2 = append(beats2, st)
		}
	})
	v, err = env2.ExecuteActivity(acts2.IngestSplit, IngestSplitInput{RunID: "b", Source: src, Shards: 2, ChunkRows: o.chunkRows})
	must(t, err)
	var resumed IngestSplitOutput
	must(t, v.Get(&resumed))
	if resumed.Chunks != full.Chunks || resumed.Counts.RowsRead != full.Counts.RowsRead || resumed.Counts.Rejected != full.Counts.Rejected {
		t.Errorf("resumed %+v, uninterrupted %+v", resumed, full)
	}
	// The resumed attempt heartbeats its starting position first, so the
	// details survive until its next chunk (periodic heartbeats repeat it).
	if len(beats2) == 0 || beats2[0].Chunks != state.Chunks || beats2[0].Pos != state.Pos {
		t.Errorf("resumed attempt's first heartbeats %+v, want the resumed state %+v", beats2, state)
	}
	for _, k := range keys {
		got, _ := store.Get(ctx, k)
		chunk := strings.Contains(k, "chunk=00000/")
		switch {
		case chunk && string(got) != "stale":
			t.Errorf("%s rewritten by the resumed split", k)
		case !chunk && !bytes.Equal(got, want[k]):
			t.Errorf("%s differs from the uninterrupted split's", k)
		}
	}
	if first.Accepted != 2000 || first.Duplicates != 2 {
		t.Errorf("accounting %+v", first)
	}

	// Same input, another run: identical events, byte for byte.
	second := runIngestWith(t, env, acts, "c", "", 2, ingestOpts{splitBytes: 4096, chunkRows: 77}, "raw/t/dup.csv")[0]
	if second.Accepted != first.Accepted || second.Duplicates != first.Duplicates {
		t.Errorf("split differently: %+v vs %+v", second, first)
	}
	for i := 0; i < 2; i++ {
		a, _ := store.Get(ctx, layout.EventsPart("a", i, first.Name))
		c, _ := store.Get(ctx, layout.EventsPart("c", i, second.Name))
		if !bytes.Equal(a, c) {
			t.Errorf("shard %d: events differ between split sizes", i)
		}
	}
}

func TestIngestWrongMapping(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("customer,when,what\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "c%d,01/11/2026 10:%02d,view\n", i, i%60)
	}
	must(t, store.Put(ctx, "raw/t/wrong.csv", []byte(b.String())))
	env, acts := newEnv(store)
	for _, tc := range []struct {
		name, mapping, want string
	}{
		{"missing column", "sources:\n- table: events\n  columns: {user_id: customer, ts: timestamp, type: what}\n",
			`raw/t/wrong.csv:1: column "timestamp": not in the file`},
		{"unparseable timestamps", "sources:\n- table: events\n  columns: {user_id: customer, ts: {expr: when, layout: '2006-01-02'}, type: what}\n",
			`raw/t/wrong.csv:2: column "when": bad ts in 100 of 100 rows: wrong file or mapping (example value "01/11/2026 10:00")`},
		{"no source for the file", "sources:\n- table: events\n  files: '*.jsonl'\n  columns: {user_id: customer, ts: when, type: what}\n",
			`raw/t/wrong.csv: no source of the mapping matches`},
		{"bad mapping", "sources:\n- table: events\n  columns: {user_id: customer, ts: when, type: 'what +'}\n", `mapping`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.ExecuteActivity(acts.IngestPlan, IngestPlanInput{RunID: "r", Key: "raw/t/wrong.csv", Mapping: tc.mapping, SplitBytes: 1 << 20})
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != BadInputType {
				t.Fatalf("err = %v, want a non-retryable %s error", err, BadInputType)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
