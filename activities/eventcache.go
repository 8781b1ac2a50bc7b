package activities

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/features"
)

// eventsTTL is how long a worker keeps a shard's events that no Features
// activity came back for (it ran on another worker).
const eventsTTL = 5 * time.Minute

// eventsCache keeps shards' events from the Profile activity to the
// Features activity of the same shard, so that a worker running both reads
// and decodes the events once instead of twice (reading them was about
// half of the stage's CPU). Memory stays that of the window: the events
// cached plus those held by running Profile and Features activities never
// exceed the window of shards in flight, which bounded them before; a
// load evicts cached shards (highest shard first: the Features activities
// start in shard order) to make room. Entries are keyed by the workflow
// execution, run and shard: within an execution a shard's event pieces do
// not change. Features takes its entry out, so an Events is only ever used
// by one activity at a time.
//
// The window alone would let a worker keep every shard's events between
// the two passes (all shards are in flight when there are fewer than the
// window), which makes its memory grow with the users; so the cached
// events are also bounded in bytes (limit; Activities.EventsCacheBytes).
//
// Events that do not fit are spilled to the worker's local disk
// (features.Events.Spill: the events as they are in memory, read back by a
// copy) rather than dropped, up to a bound in bytes
// (Activities.EventsSpillBytes): reading a spill costs a fraction of
// reading and decoding the shard's events object again, which was most of
// the Features activity's reading at 1,000,000 users, where only 2 of 16
// shards fit in memory.
type eventsCache struct {
	mu      sync.Mutex
	entries map[string]*cachedEvents
	held    int   // events loaded by running activities
	bytes   int64 // estimated size of the cached events

	spilled    map[string]*spilledEvents
	spillBytes int64 // size of the spilled events' files (or reserved for those being written)
}

// spilledEvents is a shard's events in a local file.
type spilledEvents struct {
	path  string
	bytes int64
	timer *time.Timer // removes the file after eventsTTL
}

// spillTo is where a worker spills events that do not fit in memory: a
// directory and a bound of the files' bytes; the zero value spills nothing.
type spillTo struct {
	dir   string
	limit int64
}

// evicted is a cached shard's events a load pushed out of memory.
type evicted struct {
	key string
	evs *features.Events
}

// eventBytes is the estimated memory of one loaded event: the 48-byte
// record and its share of the interned strings and the grouping index
// (about 70 bytes live per event in BenchmarkFeaturesShard).
const eventBytes = 70

// DefaultEventsCacheBytes bounds the events a worker keeps between the
// Profile and Features passes unless Activities.EventsCacheBytes says
// otherwise: about 3.8 million events, two shards of 37,500 users. (At
// 384 MiB a 300,000-user run peaked at 1,391 MiB, at 256 at 1,033 MiB for
// 2.4 more CPU seconds in features.)
const DefaultEventsCacheBytes = 256 << 20

type cachedEvents struct {
	evs   *features.Events
	bytes int64
	shard int
	timer *time.Timer // drops the entry after eventsTTL
}

// eventsKey is the cache key of shard i of run, or "" when ctx is not an
// activity's (no caching).
func eventsKey(ctx context.Context, run string, i int) string {
	return executionKey(ctx, fmt.Sprintf("%s\x00%d", run, i))
}

// executionKey is a worker cache's key of name within the workflow
// execution of the activity of ctx (within it, what an activity wrote
// under name does not change), or "" when ctx is not an activity's (no
// caching).
func executionKey(ctx context.Context, name string) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.RunID + "\x00" + name
}

// cachedBytes is the estimated size of the cached events.
func (c *eventsCache) cachedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// take removes and returns the events cached at key, counting them as
// held; nil when there are none.
func (c *eventsCache) take(key string) *features.Events {
	if key == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	e.timer.Stop()
	c.drop(key)
	c.held++
	return e.evs
}

// reserve makes room for one more shard's events under window (evicting
// cached ones, which it returns for spilling) and counts them as held.
// Every reserve or successful take is paired with a release.
func (c *eventsCache) reserve(window int) []evicted {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []evicted
	for len(c.entries) > 0 && len(c.entries)+c.held+1 > window {
		victim := ""
		for k, e := range c.entries {
			if victim == "" || e.shard > c.entries[victim].shard || e.shard == c.entries[victim].shard && k > victim {
				victim = k
			}
		}
		out = append(out, evicted{victim, c.entries[victim].evs})
		c.entries[victim].timer.Stop()
		c.drop(victim)
	}
	c.held++
	return out
}

// drop removes a cached entry; the caller holds mu and has stopped its
// timer.
func (c *eventsCache) drop(key string) {
	c.bytes -= c.entries[key].bytes
	delete(c.entries, key)
}

// release ends an activity's hold on its events and, when evs is not nil
// and both the window and the byte limit have room, keeps them at key for
// the next pass. It reports whether evs should be kept but did not fit
// (for spilling).
func (c *eventsCache) release(key string, shard, window int, limit int64, evs *features.Events) (spill bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held--
	if key == "" || evs == nil || window <= 0 { // no window: nothing is kept
		return false
	}
	size := int64(evs.Len()) * eventBytes
	if len(c.entries)+c.held+1 > window || c.bytes+size > limit {
		return true
	}
	if c.entries == nil {
		c.entries = map[string]*cachedEvents{}
	}
	if old, ok := c.entries[key]; ok {
		old.timer.Stop()
		c.drop(key)
	}
	e := &cachedEvents{evs: evs, bytes: size, shard: shard}
	c.bytes += size
	e.timer = time.AfterFunc(eventsTTL, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.entries[key] == e {
			c.drop(key)
		}
	})
	c.entries[key] = e
	return false
}

// spill writes evs to a file under to's directory and keeps it at key,
// unless the spilled files would pass to's bound. Failures only lose the
// spill: the next pass reads the events from the bucket.
func (c *eventsCache) spill(key string, evs *features.Events, to spillTo) {
	if key == "" || to.dir == "" || to.limit <= 0 {
		return
	}
	size := int64(evs.Len()) * eventBytes // reserved until the file's size is known
	c.mu.Lock()
	if c.spillBytes+size > to.limit {
		c.mu.Unlock()
		return
	}
	c.spillBytes += size
	c.mu.Unlock()
	path, written, err := spillFile(to.dir, evs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spillBytes -= size
	if err != nil {
		return
	}
	if c.spilled == nil {
		c.spilled = map[string]*spilledEvents{}
	}
	if old, ok := c.spilled[key]; ok {
		c.unspill(key, old)
	}
	s := &spilledEvents{path: path, bytes: written}
	c.spillBytes += written
	s.timer = time.AfterFunc(eventsTTL, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.spilled[key] == s {
			c.unspill(key, s)
		}
	})
	c.spilled[key] = s
}

// unspill forgets a spilled entry and removes its file; the caller holds
// mu.
func (c *eventsCache) unspill(key string, s *spilledEvents) {
	s.timer.Stop()
	os.Remove(s.path)
	c.spillBytes -= s.bytes
	delete(c.spilled, key)
}

// takeSpilled reads back and removes the events spilled at key; nil when
// there are none (or they cannot be read). The caller has reserved room
// for them.
func (c *eventsCache) takeSpilled(key string) *features.Events {
	c.mu.Lock()
	s, ok := c.spilled[key]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	s.timer.Stop()
	delete(c.spilled, key)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.spillBytes -= s.bytes
		c.mu.Unlock()
		os.Remove(s.path)
	}()
	return readSpill(s.path)
}

// peek returns the events cached or spilled at key without taking them,
// for an activity that only reads them (the recommendation model's
// sample); nil when there are none. Cached events are shared with the
// Features activity that takes them later, so the reader must not change
// them; a spill is read from its file, which a concurrent take may remove
// (then peek returns nil, or the open file is read to its end).
func (c *eventsCache) peek(key string) *features.Events {
	if key == "" {
		return nil
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.mu.Unlock()
		return e.evs
	}
	s, ok := c.spilled[key]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return readSpill(s.path)
}

// readSpill reads the events spilled at path; nil when they cannot be
// read (the caller reads them from the bucket instead).
func readSpill(path string) *features.Events {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	evs, err := features.Unspill(f)
	if err != nil {
		return nil
	}
	return evs
}

// spillFile writes evs to a new file in dir and returns its path and size.
func spillFile(dir string, evs *features.Events) (string, int64, error) {
	f, err := os.CreateTemp(dir, "promoflow-events-*.spill")
	if err != nil {
		return "", 0, err
	}
	err = evs.Spill(f)
	var st os.FileInfo
	if err == nil {
		st, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	return f.Name(), st.Size(), nil
}
