package activities

import (
	"context"
	"os"
	"sync"
	"time"
)

// stagedTTL is how long a worker keeps a staged object that no
// IngestFinalize activity came back for (it ran on another worker): long
// enough for the splits of a large input to end before their partitions
// are finalized.
const stagedTTL = 20 * time.Minute

// DefaultStagedCacheBytes bounds the staged objects a worker keeps on its
// local disk unless Activities.StagedCacheBytes says otherwise: every
// staged object of a 1,000,000-user input.
const DefaultStagedCacheBytes = 8 << 30

// stagedCache keeps, on the worker's local disk, the staged objects its
// IngestSplit activities uploaded, for its IngestFinalize activities: a
// worker that runs both reads a staged object back from its own file
// instead of downloading it through the gateway (at 1,000,000 users about
// as many bytes as the events, each crossing the gateway twice before).
// The bucket keeps the objects: a finalizer on another worker, or after
// this one died, reads them there. Entries are keyed by the workflow
// execution and the object's key (layout.Staged names the run, source,
// split, chunk and partition); a retried split writes the same bytes.
// Each staged object is read by one finalizer, which takes it out.
type stagedCache struct {
	mu    sync.Mutex
	files map[string]*stagedFile
	bytes int64
}

// stagedFile is a staged object's local copy.
type stagedFile struct {
	path  string
	size  int64
	timer *time.Timer // removes the file after stagedTTL
}

// stagedKey is the cache key of the staged object at key, or "" when ctx
// is not an activity's (no caching).
func stagedKey(ctx context.Context, key string) string { return executionKey(ctx, key) }

// keep moves the file at path, just uploaded to key, into dir and keeps
// it for take, unless limit would be passed; the file is left where it
// was when it is not kept.
func (c *stagedCache) keep(ctx context.Context, key, path, dir string, limit int64) {
	ck := stagedKey(ctx, key)
	if ck == "" || dir == "" || limit <= 0 {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.files[ck]; ok { // a retried split's: the same bytes
		c.forget(ck, old)
		os.Remove(old.path)
	}
	if c.bytes+st.Size() > limit {
		return
	}
	f, err := os.CreateTemp(dir, "promoflow-staged-*")
	if err != nil {
		return
	}
	f.Close()
	if err := os.Rename(path, f.Name()); err != nil {
		os.Remove(f.Name())
		return
	}
	if c.files == nil {
		c.files = map[string]*stagedFile{}
	}
	s := &stagedFile{path: f.Name(), size: st.Size()}
	c.bytes += s.size
	s.timer = time.AfterFunc(stagedTTL, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.files[ck] == s {
			c.forget(ck, s)
			os.Remove(s.path)
		}
	})
	c.files[ck] = s
}

// take returns and forgets the local copy of the staged object at key;
// ok is false when there is none (or it cannot be read).
func (c *stagedCache) take(ctx context.Context, key string) (data []byte, ok bool) {
	ck := stagedKey(ctx, key)
	if ck == "" {
		return nil, false
	}
	c.mu.Lock()
	s, found := c.files[ck]
	if found {
		c.forget(ck, s)
	}
	c.mu.Unlock()
	if !found {
		return nil, false
	}
	data, err := os.ReadFile(s.path)
	os.Remove(s.path)
	return data, err == nil
}

// forget drops an entry, not its file; the caller holds mu.
func (c *stagedCache) forget(ck string, s *stagedFile) {
	s.timer.Stop()
	c.bytes -= s.size
	delete(c.files, ck)
}

// stagedDir is where the worker keeps staged objects, and their bound.
func (a *Activities) stagedDir() (string, int64) {
	limit := a.StagedCacheBytes
	if limit == 0 {
		limit = DefaultStagedCacheBytes
	}
	return a.scratchDir(), limit
}
