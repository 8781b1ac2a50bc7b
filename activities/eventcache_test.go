package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// openCounter counts the reads of event pieces (an open, or the size a
// read by ranges starts with).
type openCounter struct {
	*blob.Mem
	opens atomic.Int64
}

func (s *openCounter) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/events/") {
		s.opens.Add(1)
	}
	return s.Mem.Open(ctx, key)
}

func (s *openCounter) Size(ctx context.Context, key string) (int64, error) {
	if strings.Contains(key, "/events/") {
		s.opens.Add(1)
	}
	return s.Mem.Size(ctx, key)
}

// TestEventsCacheSameFeatures runs Profile, Vocabulary and Features on the
// same events without a window (every pass reads the events) and with one
// (Features takes the events Profile kept): the stored feature tables are
// the same bytes, and with the window the events are read once per shard.
func TestEventsCacheSameFeatures(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const shards = 3
	mem := memory.NewGoAllocator()
	var pieces [shards][]byte
	var builders [shards]*canon.EventBuilder
	for i := range builders {
		builders[i] = canon.NewEventBuilder(mem)
	}
	words := []string{"red heart lantern", "jumbo bag red", "heart t-light holder", "lunch bag", "sale lantern"}
	for u := range 60 {
		id := "u" + string(rune('a'+u%26)) + string(rune('a'+u/26))
		for j := range 1 + u%4 {
			w := words[(u+j)%len(words)]
			typ := []string{canon.View, canon.Search, canon.Cart, canon.Purchase}[(u+j)%4]
			builders[shard.Of(id, shards)].Append(canon.Event{
				UserID: id, TS: end.Add(-time.Duration(5*u+j) * 24 * time.Hour), Type: typ,
				ItemID: w, Category: "home", Text: w, Quantity: 1, Price: 2 + float64(j), OrderID: id + "-" + w,
			})
		}
	}
	copy(pieces[:], encodeEvents(t, mem, builders[:]))
	cfg := interest.DefaultConfig()
	cfg.MinDF = 2
	run := func(window int, configure ...func(*Activities)) ([][]byte, int64) {
		store := &openCounter{Mem: blob.NewMem()}
		for i, data := range pieces {
			if err := store.Put(ctx, layout.EventsPart("r", i, "000-x"), data); err != nil {
				t.Fatal(err)
			}
		}
		env, acts := newEnv(store)
		acts.TempDir = t.TempDir()
		for _, c := range configure {
			c(acts)
		}
		tables := featuresPass(t, env, acts, store, shards, window, end, cfg, true)
		if n := len(acts.events.entries) + acts.events.held + len(acts.events.spilled); n != 0 || acts.events.spillBytes != 0 {
			t.Errorf("window %d: %d events still cached, held or spilled (%d bytes) after the stage", window, n, acts.events.spillBytes)
		}
		if files, _ := os.ReadDir(acts.TempDir); len(files) != 0 {
			t.Errorf("window %d: %d files left in the worker's scratch space", window, len(files))
		}
		return tables, store.opens.Load()
	}
	want, opens := run(0)
	if opens != 2*shards {
		t.Errorf("without a window: %d event reads, want %d", opens, 2*shards)
	}
	noSpill := func(a *Activities) { a.EventsSpillBytes = -1 }
	noMemory := func(a *Activities) { a.EventsCacheBytes = 1 }
	for _, c := range []struct {
		name      string
		window    int
		configure []func(*Activities)
		opens     int64
	}{
		// A window of all shards keeps them all in memory.
		{"window of all shards", shards, nil, shards},
		// A window of one keeps the last profiled shard in memory, which
		// the load of shard 0 evicts; the others are spilled to disk.
		{"window of one", 1, nil, shards},
		{"window of one, no spill", 1, []func(*Activities){noSpill}, 2 * shards},
		// Nothing fits in memory: every shard is read back from disk.
		{"no memory", shards, []func(*Activities){noMemory}, shards},
		{"no memory, no spill", shards, []func(*Activities){noMemory, noSpill}, 2 * shards},
	} {
		got, opens := run(c.window, c.configure...)
		if opens != c.opens {
			t.Errorf("%s: %d event reads, want %d", c.name, opens, c.opens)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: table %d differs from the one without a window", c.name, i)
			}
		}
	}
}

// TestEventsCacheBound checks that cached and held events never exceed the
// window, that loads evict the highest shard first, and that take hands an
// entry out once.
func TestEventsCacheBound(t *testing.T) {
	var c eventsCache
	check := func(window int) {
		t.Helper()
		if n := len(c.entries) + c.held; n > window {
			t.Fatalf("%d cached and held, window %d", n, window)
		}
	}
	const window = 3
	for range window {
		c.reserve(window)
		check(window)
	}
	for i := range window {
		c.release(string(rune('0'+i)), i, window, 1<<40, &features.Events{})
		check(window)
	}
	if len(c.entries) != window {
		t.Fatalf("%d cached, want %d", len(c.entries), window)
	}
	c.reserve(window) // a load for a shard not cached: evicts shard 2
	check(window)
	if _, ok := c.entries["2"]; ok || len(c.entries) != 2 {
		t.Fatalf("after a load: entries %v, want shards 0 and 1", c.entries)
	}
	if c.take("0") == nil || c.take("0") != nil {
		t.Fatal("take: want the entry once")
	}
	check(window)
	c.release("0", 0, window, 1<<40, nil)
	c.release("x", 9, window, 1<<40, nil)
	if c.held != 0 || len(c.entries) != 1 {
		t.Fatalf("held %d, entries %d: want 0 and 1", c.held, len(c.entries))
	}
}

// TestEventsCacheBytes checks that the cached events never exceed the byte
// limit, whatever the window, and that a taken entry frees its bytes.
func TestEventsCacheBytes(t *testing.T) {
	shardEvents := func(n int) *features.Events {
		var e features.Events
		for i := range n {
			e.Add(canon.Event{UserID: fmt.Sprintf("u%d", i%7), TS: time.Unix(int64(i), 0), Type: "view", ItemID: "i1"})
		}
		return &e
	}
	const window, limit = 100, 25 * eventBytes // room for two shards of 10 events, not three
	var c eventsCache
	for i := range 3 {
		c.reserve(window)
		c.release(fmt.Sprint(i), i, window, limit, shardEvents(10))
	}
	if len(c.entries) != 2 || c.bytes != 20*eventBytes {
		t.Fatalf("cached %d shards, %d bytes: want 2 shards, %d bytes", len(c.entries), c.bytes, 20*eventBytes)
	}
	if _, ok := c.entries["2"]; ok {
		t.Fatal("the third shard was kept beyond the limit")
	}
	if c.take("0") == nil || c.bytes != 10*eventBytes {
		t.Fatalf("after take: %d bytes, want %d", c.bytes, 10*eventBytes)
	}
	c.release("0", 0, window, limit, nil)
	c.reserve(window)
	c.release("3", 3, window, limit, shardEvents(10))
	if len(c.entries) != 2 || c.bytes != 20*eventBytes || c.held != 0 {
		t.Fatalf("cached %d shards, %d bytes, %d held: want 2, %d, 0", len(c.entries), c.bytes, c.held, 20*eventBytes)
	}
}

// TestIngestHandsOffEvents ingests one file (the records the finalizer
// writes are kept) or two (two sources: two event pieces a shard, read
// back from their local files) and runs the features pass on the same
// worker: the finalizer spills each shard's events for Profile, so
// Profile and Features read no event piece, and the feature
// tables are the same bytes as a worker's that read every piece from the
// bucket.
func TestIngestHandsOffEvents(t *testing.T) {
	for _, sources := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d sources", sources), func(t *testing.T) { testIngestHandsOffEvents(t, sources) })
	}
}

func testIngestHandsOffEvents(t *testing.T, sources int) {
	ctx := context.Background()
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const shards = 3
	words := []string{"red heart lantern", "jumbo bag red", "heart t-light holder", "lunch bag", "sale lantern"}
	files := make([]strings.Builder, sources)
	for f := range files {
		files[f].WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	}
	for u := range 90 {
		for j := range 1 + u%5 {
			w := words[(u+j)%len(words)]
			typ := []string{canon.View, canon.Search, canon.Cart, canon.Purchase}[(u+j)%4]
			// The same second in both files for some users: ties the
			// pieces' order decides.
			ts := end.Add(-time.Duration(3*u+j%2) * 24 * time.Hour).Format(time.RFC3339)
			fmt.Fprintf(&files[(u+j)%sources], "u%02d,%s,%s,%s,home,%s,1,%d,o%d-%d,web\n", u, ts, typ, strings.ReplaceAll(w, " ", "-"), w, 2+j, u, j)
		}
	}
	cfg := interest.DefaultConfig()
	cfg.MinDF = 2
	// features ingests the files with one worker's activities and runs the
	// features pass with another's (the same when fresh is false); it
	// returns the stored tables and the event pieces read by the pass.
	features := func(fresh bool, configure ...func(*Activities)) ([][]byte, int64, int) {
		store := &openCounter{Mem: blob.NewMem()}
		var keys []string
		for f := range files {
			keys = append(keys, fmt.Sprintf("raw/t/%d.csv", f))
			must(t, store.Put(ctx, keys[f], []byte(files[f].String())))
		}
		env, acts := newEnv(store)
		acts.TempDir = t.TempDir()
		for _, c := range configure {
			c(acts)
		}
		runIngest(t, env, acts, "r", "", shards, keys...)
		// What the finalizer left is what a read of the bucket gives,
		// to the order of events of the same time.
		for k, sp := range acts.events.spilled {
			shard := -1
			fmt.Sscanf(k[strings.LastIndexByte(k, 0)+1:], "%d", &shard)
			loaded, err := acts.loadEvents(ctx, "r", shard)
			must(t, err)
			var a, b bytes.Buffer
			must(t, readSpill(sp.path).Spill(&a))
			must(t, loaded.Spill(&b))
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("shard %d: the events handed off differ from the bucket's", shard)
			}
		}
		if fresh {
			env, acts = newEnv(store)
			acts.TempDir = t.TempDir()
		}
		pieces := 0
		for i := range shards {
			ks, err := store.List(ctx, layout.EventsDir("r", i))
			must(t, err)
			pieces += len(ks)
		}
		store.opens.Store(0)
		tables := featuresPass(t, env, acts, store, shards, shards, end, cfg, false)
		if n := len(acts.events.entries) + acts.events.held + len(acts.events.spilled); n != 0 || acts.events.spillBytes != 0 {
			t.Errorf("%d events still cached, held or spilled (%d bytes) after the stage", n, acts.events.spillBytes)
		}
		if files, _ := os.ReadDir(acts.TempDir); len(files) != 0 {
			t.Errorf("%d files left in the worker's scratch space", len(files))
		}
		return tables, store.opens.Load(), pieces
	}
	want, opens, pieces := features(true)
	if pieces != sources*shards || opens != int64(pieces) {
		t.Fatalf("another worker: %d pieces (want %d), %d read by the pass (want each once)", pieces, sources*shards, opens)
	}
	noSpill := func(a *Activities) { a.EventsSpillBytes = -1 }
	noMemory := func(a *Activities) { a.EventsCacheBytes = 1 }
	for _, c := range []struct {
		name      string
		configure []func(*Activities)
		opens     int64
	}{
		{"spilled", nil, 0},
		{"spilled, nothing kept in memory", []func(*Activities){noMemory}, 0},
		// Without a spill the finalizer hands nothing off: Profile reads
		// every piece, Features none (they stay in memory) or every one.
		{"no spill", []func(*Activities){noSpill}, int64(pieces)},
		{"neither", []func(*Activities){noMemory, noSpill}, 2 * int64(pieces)},
	} {
		got, opens, _ := features(false, c.configure...)
		if opens != c.opens {
			t.Errorf("%s: the pass read %d event pieces, want %d", c.name, opens, c.opens)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: table %d differs from another worker's", c.name, i)
			}
		}
	}
}

// featuresPass runs Profile, Vocabulary and Features over shards one
// shard an activity, with window, and returns each shard's stored
// scoring and training tables, and its sample when withSample.
func featuresPass(t *testing.T, env *testsuite.TestActivityEnvironment, acts *Activities, store Store, shards, window int, end time.Time, cfg interest.Config, withSample bool) [][]byte {
	t.Helper()
	exec := activityRunner(t, env)
	vin := VocabularyInput{RunID: "r", Interest: cfg, Top: 3}
	for i := range shards {
		var p ProfileOutput
		exec(acts.Profile, ProfileInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, End: end, Interest: cfg, Window: window}, &p)
		vin.Docs += p.Users
		vin.TermsKeys, vin.PricesKeys = append(vin.TermsKeys, p.TermsKey), append(vin.PricesKeys, p.PricesKey)
	}
	var vocab VocabularyOutput
	exec(acts.Vocabulary, vin, &vocab)
	var tables [][]byte
	for i := range shards {
		var f FeaturesOutput
		exec(acts.Features, FeaturesInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Cutoff: end.Add(-28 * 24 * time.Hour), LabelEnd: end, End: end,
			VocabularyKey: vocab.Key, Docs: vocab.Docs, PricesKey: vocab.PricesKey, Interest: cfg, Seed: 1, SampleRate: 0.5, Window: window}, &f)
		keys := []string{layout.Features("r", i), layout.Train("r", i)}
		if withSample {
			keys = append(keys, f.SampleKey)
		}
		for _, key := range keys {
			data, err := store.Get(context.Background(), key)
			must(t, err)
			tables = append(tables, data)
		}
	}
	return tables
}
