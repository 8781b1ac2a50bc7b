package activities

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/promoflow/promoflow/internal/blob"
)

// stagedCounter counts the downloads of staged objects.
type stagedCounter struct {
	*blob.Mem
	gets atomic.Int64
}

func (s *stagedCounter) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.Contains(key, "/ingest/") && strings.Contains(key, "/chunk=") && !strings.HasSuffix(key, "rejects.arrow") {
		s.gets.Add(1)
	}
	return s.Mem.Get(ctx, key)
}

// TestStagedCache ingests a file in several splits and chunks with the
// staged objects kept on the worker's disk, without, and with the splits
// on one worker and the finalizers on another: the finalizers download no
// staged object when the worker kept them, every one otherwise, and the
// run's objects are the same bytes whichever way; no file is left behind.
func TestStagedCache(t *testing.T) {
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i := range 600 {
		fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,view,i%d,home,red lantern,1,%d,,web\n", i%53, 1+i%28, i%40, 2+i%7)
		if i%50 == 0 {
			b.WriteString("u1,not a time,view,i1,home,x,1,2,,web\n") // a reject
		}
		if i%30 == 0 { // a duplicate in another split
			fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,view,i%d,home,red lantern,1,%d,,web\n", i%53, 1+i%28, i%40, 2+i%7)
		}
	}
	const shards = 5
	run := func(split, finalize func(*Activities)) (map[string][]byte, int64) {
		store := &stagedCounter{Mem: blob.NewMem()}
		must(t, store.Put(ctx, "raw/t/ev.csv", []byte(b.String())))
		env, acts := newEnv(store)
		acts.TempDir = t.TempDir()
		acts.EventsSpillBytes = -1 // no events handed off: only staged files in TempDir
		split(acts)
		finalize(acts)
		runIngestWith(t, env, acts, "r", "", shards, ingestOpts{splitBytes: 4096, chunkRows: 100}, "raw/t/ev.csv")
		objects := map[string][]byte{}
		keys, err := store.List(ctx, "runs/r/")
		must(t, err)
		for _, k := range keys {
			if !strings.Contains(k, "/ingest/") {
				objects[k], err = store.Get(ctx, k)
				must(t, err)
			}
		}
		if files, _ := os.ReadDir(acts.TempDir); len(files) != 0 {
			t.Errorf("%d files left in the worker's scratch space", len(files))
		}
		if len(acts.staged.files) != 0 || acts.staged.bytes != 0 {
			t.Errorf("%d staged objects (%d bytes) still kept after the stage", len(acts.staged.files), acts.staged.bytes)
		}
		return objects, store.gets.Load()
	}
	keep := func(*Activities) {}
	none := func(a *Activities) { a.StagedCacheBytes = -1 }
	want, gets := run(none, none)
	if gets < 2*shards {
		t.Fatalf("without the cache the finalizers downloaded %d staged objects, want every one (at least %d)", gets, 2*shards)
	}
	staged := gets
	// Splits on a worker that keeps nothing: its finalizers download all.
	for _, c := range []struct {
		name            string
		split, finalize func(*Activities)
		gets            int64
	}{
		{"kept", keep, keep, 0},
		{"kept up to 1 byte", func(a *Activities) { a.StagedCacheBytes = 1 }, keep, staged},
	} {
		got, gets := run(c.split, c.finalize)
		if gets != c.gets {
			t.Errorf("%s: the finalizers downloaded %d staged objects, want %d", c.name, gets, c.gets)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d objects, want %d", c.name, len(got), len(want))
		}
		var differ []string
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				differ = append(differ, k)
			}
		}
		sort.Strings(differ)
		if len(differ) > 0 {
			t.Errorf("%s: objects differ from the run without the cache: %v", c.name, differ)
		}
	}
}
