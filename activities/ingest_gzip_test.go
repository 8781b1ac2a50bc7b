package activities

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/s2"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/blockgz"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
)

func gzipped(t *testing.T, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	must(t, zw.Close())
	return b.Bytes()
}

// sameEvents checks that runs a and b staged the same events, byte for
// byte and not none, in each of shards shards (sources srcA and srcB).
func sameEvents(t *testing.T, store Store, shards int, a, srcA, b, srcB string) {
	t.Helper()
	for i := range shards {
		x, _ := store.Get(context.Background(), layout.EventsPart(a, i, srcA))
		y, _ := store.Get(context.Background(), layout.EventsPart(b, i, srcB))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("shard %d: events differ (%d and %d bytes)", i, len(x), len(y))
		}
	}
}

// snapshot returns every object under prefix.
func snapshot(t *testing.T, store Store, prefix string) map[string][]byte {
	t.Helper()
	keys, err := store.List(context.Background(), prefix)
	must(t, err)
	out := map[string][]byte{}
	for _, k := range keys {
		out[k], err = store.Get(context.Background(), k)
		must(t, err)
	}
	return out
}

// TestIngestGzipChunked: a gzip CSV larger than one split is cut into
// chunks in IngestPlan and staged split by split; its events, rejects
// and accounting equal those of the same file read as one split (a split
// size above the file's), byte for byte, with lines of the original file.
func TestIngestGzipChunked(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	text := dupEvents(3000)
	must(t, store.Put(ctx, "raw/t/dup.csv.gz", gzipped(t, text)))
	env, acts := newEnv(store)
	whole := runIngestWith(t, env, acts, "whole", "", 3, ingestOpts{splitBytes: 1 << 30, chunkRows: 500}, "raw/t/dup.csv.gz")[0]
	chunked := runIngestWith(t, env, acts, "chunked", "", 3, ingestOpts{splitBytes: 16 << 10, chunkRows: 500}, "raw/t/dup.csv.gz")[0]
	if whole.Splits != 1 || chunked.Splits < 8 {
		t.Fatalf("whole %d splits, chunked %d", whole.Splits, chunked.Splits)
	}
	if got := snapshot(t, store, "runs/whole/ingest/"); len(got) == 0 || len(snapshot(t, store, "runs/whole/ingest/000-dup/split=0000/text")) != 0 {
		t.Fatalf("a file of one split was copied")
	}
	texts := snapshot(t, store, "runs/chunked/ingest/")
	var joined []byte
	for sp := 0; sp < chunked.Splits; sp++ {
		b, ok := texts[layout.SplitText("chunked", "000-dup", sp, "csv")]
		if !ok {
			t.Fatalf("no text of split %d", sp)
		}
		b, err := io.ReadAll(s2.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("split %d: %v", sp, err)
		}
		joined = append(joined, b...)
	}
	if header := strings.IndexByte(text, '\n') + 1; string(joined) != text[header:] {
		t.Fatalf("the chunks' text (%d bytes) is not the file's after its header (%d bytes)", len(joined), len(text)-header)
	}
	want := ingest.Result{RowsRead: 3004, Accepted: 3000, Duplicates: 2, Rejected: 2, NoUser: 1}
	for _, r := range []ingest.Result{whole, chunked} {
		if r.RowsRead != want.RowsRead || r.Accepted != want.Accepted || r.Duplicates != want.Duplicates ||
			r.Rejected != want.Rejected || r.NoUser != want.NoUser || r.ByReason["bad ts"] != 1 {
			t.Errorf("accounting %+v, want %+v", r, want)
		}
	}
	sameEvents(t, store, 3, "whole", whole.Name, "chunked", chunked.Name)
	rw, _ := store.Get(ctx, whole.Rejects)
	rc, _ := store.Get(ctx, chunked.Rejects)
	// The bad row is at line 2*3000+4: after the header, 3000 rows of two
	// lines each and a duplicate of two.
	if line := fmt.Sprintf("raw/t/dup.csv.gz,%d,", 2*3000+4); !bytes.Equal(rw, rc) || !bytes.Contains(rc, []byte(line)) {
		t.Errorf("rejects differ or lack %q:\nwhole\n%s\nchunked\n%s", line, rw, rc)
	}
}

// TestIngestBlockGzip: a block gzip CSV (what `starter generate` writes)
// is split by its members' index: no text is copied out, every split
// reads only its members, and the events, rejects (lines included) and
// accounting equal those of the same text as plain gzip, byte for byte.
func TestIngestBlockGzip(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	text := dupEvents(3000)
	var b bytes.Buffer
	w, err := blockgz.NewWriter(&b, flate.BestSpeed, 4<<10, true)
	must(t, err)
	_, err = w.Write([]byte(text))
	must(t, err)
	must(t, w.Close())
	must(t, store.Put(ctx, "raw/p/dup.csv.gz", gzipped(t, text)))
	must(t, store.Put(ctx, "raw/b/dup.csv.gz", b.Bytes()))
	env, acts := newEnv(store)
	opts := ingestOpts{splitBytes: 16 << 10, chunkRows: 500}
	plain := runIngestWith(t, env, acts, "plain", "", 3, opts, "raw/p/dup.csv.gz")[0]
	blocked := runIngestWith(t, env, acts, "blocked", "", 3, opts, "raw/b/dup.csv.gz")[0]
	if blocked.Splits < 8 || blocked.Splits != plain.Splits {
		t.Fatalf("block gzip %d splits, plain %d", blocked.Splits, plain.Splits)
	}
	for k := range snapshot(t, store, "runs/blocked/ingest/") {
		if strings.Contains(k, "/text.") {
			t.Fatalf("a block gzip file's text was copied out: %s", k)
		}
	}
	if plain.RowsRead != 3004 || blocked.RowsRead != plain.RowsRead || blocked.Accepted != plain.Accepted ||
		blocked.Duplicates != plain.Duplicates || blocked.Rejected != plain.Rejected || blocked.NoUser != plain.NoUser {
		t.Errorf("accounting: block gzip %+v, plain %+v", blocked, plain)
	}
	sameEvents(t, store, 3, "plain", plain.Name, "blocked", blocked.Name)
	rp, _ := store.Get(ctx, plain.Rejects)
	rb, _ := store.Get(ctx, blocked.Rejects)
	rp = bytes.ReplaceAll(rp, []byte("raw/p/"), []byte("raw/b/"))
	if line := fmt.Sprintf("raw/b/dup.csv.gz,%d,", 2*3000+4); !bytes.Equal(rp, rb) || !bytes.Contains(rb, []byte(line)) {
		t.Errorf("rejects differ or lack %q:\nplain\n%s\nblock gzip\n%s", line, rp, rb)
	}
}

// TestIngestGzipChunkRetry: a retry of IngestPlan after its heartbeat
// said two splits were stored does not write them again and stores the
// others as before; corrupt data past the first records fails the plan
// with a non-retryable bad input naming the file.
func TestIngestGzipChunkRetry(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	gz := gzipped(t, dupEvents(3000))
	must(t, store.Put(ctx, "raw/t/dup.csv.gz", gz))
	env, acts := newEnv(store)
	in := IngestPlanInput{RunID: "r", Key: "raw/t/dup.csv.gz", SplitBytes: 16 << 10}
	var first IngestPlanOutput
	v, err := env.ExecuteActivity(acts.IngestPlan, in)
	must(t, err)
	must(t, v.Get(&first))
	want := snapshot(t, store, "runs/r/ingest/")
	if len(want) < 8 {
		t.Fatalf("%d chunks", len(want))
	}
	for k := range want {
		must(t, store.Put(ctx, k, []byte("stale")))
	}
	env2, acts2 := newEnv(store)
	env2.SetHeartbeatDetails(ChunkProgress{Source: "000-dup", Splits: 2})
	var again IngestPlanOutput
	v, err = env2.ExecuteActivity(acts2.IngestPlan, in)
	must(t, err)
	must(t, v.Get(&again))
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("retry planned %+v, first attempt %+v", again, first)
	}
	for k, b := range snapshot(t, store, "runs/r/ingest/") {
		skipped := strings.Contains(k, "/split=0000/") || strings.Contains(k, "/split=0001/")
		switch {
		case skipped && string(b) != "stale":
			t.Errorf("%s rewritten by the retry", k)
		case !skipped && !bytes.Equal(b, want[k]):
			t.Errorf("%s differs from the first attempt's", k)
		}
	}

	for name, bad := range map[string][]byte{
		"truncated": gz[:len(gz)*2/3],
		"flipped": func() []byte {
			b := bytes.Clone(gz)
			for i := len(b) * 3 / 4; i < len(b)*3/4+16; i++ {
				b[i] ^= 0x5a
			}
			return b
		}(),
	} {
		key := "raw/t/" + name + ".csv.gz"
		must(t, store.Put(ctx, key, bad))
		_, err := env.ExecuteActivity(acts.IngestPlan, IngestPlanInput{RunID: "r", Key: key, SplitBytes: 16 << 10})
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != BadInputType || !strings.Contains(err.Error(), key+": corrupt gzip") {
			t.Errorf("%s: err = %v, want a non-retryable %s error naming %s", name, err, BadInputType, key)
		}
	}
}
