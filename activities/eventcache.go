package activities

import (
	"context"
	"fmt"
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
type eventsCache struct {
	mu      sync.Mutex
	entries map[string]*cachedEvents
	held    int   // events loaded by running activities
	bytes   int64 // estimated size of the cached events
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
	if !activity.IsActivity(ctx) {
		return ""
	}
	return fmt.Sprintf("%s\x00%s\x00%d", activity.GetInfo(ctx).WorkflowExecution.RunID, run, i)
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
// cached ones) and counts them as held. Every reserve or successful take is
// paired with a release.
func (c *eventsCache) reserve(window int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.entries) > 0 && len(c.entries)+c.held+1 > window {
		victim := ""
		for k, e := range c.entries {
			if victim == "" || e.shard > c.entries[victim].shard || e.shard == c.entries[victim].shard && k > victim {
				victim = k
			}
		}
		c.entries[victim].timer.Stop()
		c.drop(victim)
	}
	c.held++
}

// drop removes a cached entry; the caller holds mu and has stopped its
// timer.
func (c *eventsCache) drop(key string) {
	c.bytes -= c.entries[key].bytes
	delete(c.entries, key)
}

// release ends an activity's hold on its events and, when evs is not nil
// and both the window and the byte limit have room, keeps them at key for
// the next pass.
func (c *eventsCache) release(key string, shard, window int, limit int64, evs *features.Events) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held--
	if key == "" || evs == nil || len(c.entries)+c.held+1 > window {
		return
	}
	size := int64(evs.Len()) * eventBytes
	if c.bytes+size > limit {
		return
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
}
