package activities

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"

	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/features"
)

// The standardized points a worker keeps between the segment stage's
// activities take about 150 MiB at 1,000,000 users (14 values and an id per
// user), 450 MiB at 3,000,000. They may use scaledCacheShared less what the
// events and scored-shard caches hold, which the segment stage does not use
// (the features stage has taken its events, decide comes later), but never
// less than scaledCacheMin: the three caches together stay within the sum of
// their floors and bounds as before, while the stage that runs alone gets
// the room the others left. At 3,000,000 users in 96 shards, with 256 MiB
// the points did not fit and every Lloyd iteration read and scaled most
// shards again (KMeansStep 0.19 s a shard instead of 0.009).
const (
	scaledCacheMin    = 256 << 20
	scaledCacheShared = 512 << 20
)

// scaledLimit is the scaled-points cache's bound now.
func (a *Activities) scaledLimit() int64 {
	return max(scaledCacheMin, scaledCacheShared-a.events.cachedBytes()-a.scored.cachedBytes())
}

// scaledCache keeps the standardized points of the feature tables the
// segment stage reads again and again: every k-means|| round, the weighing
// and every Lloyd iteration read each shard's features and scaled every row
// anew, which was most of the stage's CPU (docs/PERFORMANCE.md). An entry
// is keyed by the object and the scaler (the k-means child workflow
// continues as new between Lloyd iterations, and the assignment runs in
// its parent, so no workflow identity fits all readers). Round 0 of
// k-means||, the first read of every run of the stage, always reads the
// table and replaces the entry, so a table rewritten since (a run ID
// reused) is not served from an older entry; a worker that did not run
// round 0 of a shard could only hold an older table scaled by the very
// same scaler bits, which the global moments of different features do not
// give (and the same features give the same points). The points are
// read-only once cached, so concurrent activities share them. Entries go
// in insertion order when the bytes would exceed the bound, and when the
// shard's SegmentAssign, its last reader, has read it.
type scaledCache struct {
	mu      sync.Mutex
	entries map[string]*scaledPoints
	order   []string // keys, oldest first
	bytes   int64
}

// scaledPoints are a feature table's user ids and standardized points.
type scaledPoints struct {
	ids  []string
	pts  [][]float64
	size int64
}

// scaledKey is the cache key of the object at key scaled by s, or "" when
// ctx is not an activity's (tests calling a method directly): no caching.
func scaledKey(ctx context.Context, key string, s features.Scaler) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	var b strings.Builder
	b.WriteString(key)
	for k, name := range s.Names {
		b.WriteByte(0)
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(s.Cols[k]))
		b.WriteString(strconv.FormatBool(s.Log[k]))
		for _, x := range []float64{s.Lo[k], s.Hi[k], s.Mean[k], s.Std[k]} {
			b.WriteByte(' ')
			b.WriteString(strconv.FormatUint(math.Float64bits(x), 16))
		}
	}
	return b.String()
}

func (c *scaledCache) get(key string) *scaledPoints {
	if key == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[key]
}

func (c *scaledCache) put(key string, p *scaledPoints, limit int64) {
	c.remove(key)
	if key == "" || p.size > limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*scaledPoints{}
	}
	for c.bytes+p.size > limit && len(c.order) > 0 {
		c.removeLocked(c.order[0])
	}
	c.entries[key] = p
	c.order = append(c.order, key)
	c.bytes += p.size
}

func (c *scaledCache) remove(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

func (c *scaledCache) removeLocked(key string) {
	p, ok := c.entries[key]
	if !ok {
		return
	}
	delete(c.entries, key)
	c.bytes -= p.size
	for i, k := range c.order {
		if k == key {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// scaled returns the user ids and standardized points of the feature
// table at key, from the worker's cache when it holds them and not reload.
// The caller must not modify them.
func (a *Activities) scaled(ctx context.Context, key string, s features.Scaler, reload bool) ([]string, [][]float64, error) {
	ck := scaledKey(ctx, key, s)
	if p := a.scaledPts.get(ck); p != nil && !reload {
		return p.ids, p.pts, nil
	}
	ids, pts, err := a.loadScaled(ctx, key, s)
	if err != nil {
		return nil, nil, err
	}
	size := int64(len(pts)) * int64(24+8*s.Dim()+16)
	for _, id := range ids {
		size += int64(len(id))
	}
	a.scaledPts.put(ck, &scaledPoints{ids: ids, pts: pts, size: size}, a.scaledLimit())
	return ids, pts, nil
}
