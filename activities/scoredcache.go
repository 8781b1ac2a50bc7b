package activities

import (
	"sync"
	"time"

	"github.com/promoflow/promoflow/internal/strategy"
)

// DefaultScoredCacheBytes bounds a worker's cache of decoded scored shards
// when Activities.ScoredCacheBytes is 0: about 360 bytes a user by
// ScoredSize's estimate, so every shard of a 700,000-user run fits in one
// worker. (At 512 MiB a 3,000,000-user run peaked at 2.5 GB in decide.)
const DefaultScoredCacheBytes = 256 << 20

// scoredID names one version of a scored shard: its key and the SHA-256 of
// its bytes (DecideScoreOutput.Digest), so an entry can never stand for
// other contents written to the same key later.
type scoredID struct{ key, digest string }

type scoredEntry struct {
	users []strategy.Scored
	size  int64
	used  uint64    // the cache's clock at the last use
	at    time.Time // the time of the last use
}

// scoredTTL is how long an entry no round has used stays: a run's decide
// stage reads its shards every few seconds, and a worker should not hold
// last week's run for a week (nor take the room the segment stage's
// points may use, scaledLimit).
const scoredTTL = 10 * time.Minute

// scoredCache keeps decoded shards of scored users, so the budget rounds
// (DecideCurve) and quota rounds (DecideAssign) of a shard that this worker
// has scored or read before neither fetch nor decode it again. Entries are
// shared by concurrent activities: the strategy passes only read users. The
// total size (strategy.ScoredSize) stays within a bound, the least recently
// used entries going first; a shard larger than the bound is not kept. A
// cache is only a shortcut: a worker without it (another process, a
// restart) reads the same bytes and decodes the same users.
type scoredCache struct {
	mu    sync.Mutex
	items map[scoredID]*scoredEntry
	size  int64
	clock uint64
	now   func() time.Time // nil: time.Now
}

func (c *scoredCache) time() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// expire drops the entries unused for scoredTTL; the caller holds mu.
func (c *scoredCache) expire(now time.Time) {
	for k, e := range c.items {
		if now.Sub(e.at) > scoredTTL {
			c.size -= e.size
			delete(c.items, k)
		}
	}
}

// cachedBytes is the total size of the cached shards.
func (c *scoredCache) cachedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(c.time())
	return c.size
}

// get returns the users of id if they are cached.
func (c *scoredCache) get(id scoredID) ([]strategy.Scored, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.time()
	c.expire(now)
	e, ok := c.items[id]
	if !ok {
		return nil, false
	}
	c.clock++
	e.used, e.at = c.clock, now
	return e.users, true
}

// put caches users as id, evicting the least recently used entries until
// the total fits limit.
func (c *scoredCache) put(id scoredID, users []strategy.Scored, limit int64) {
	size := strategy.ScoredSize(users)
	if size > limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[scoredID]*scoredEntry{}
	}
	now := c.time()
	c.expire(now)
	if old, ok := c.items[id]; ok {
		c.size -= old.size
		delete(c.items, id)
	}
	for c.size+size > limit {
		var oldest scoredID
		first := true
		for k, e := range c.items {
			if first || e.used < c.items[oldest].used {
				oldest, first = k, false
			}
		}
		c.size -= c.items[oldest].size
		delete(c.items, oldest)
	}
	c.clock++
	c.items[id] = &scoredEntry{users: users, size: size, used: c.clock, at: now}
	c.size += size
}
