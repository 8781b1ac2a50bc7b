// Package activities holds promoflow's Temporal activities: thin adapters
// that read objects from the bucket, call the domain packages in internal/,
// write objects back, and return only keys, counts and aggregates.
package activities

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/ingest"
)

// Store is the bucket as activities use it.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	PutFile(ctx context.Context, key, path string) error
	// Create streams an object: large outputs (features table, plan) are
	// uploaded in parts as they are written, never whole.
	Create(ctx context.Context, key string) (blob.Writer, error)
	Get(ctx context.Context, key string) ([]byte, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]string, error)
	// DeletePrefix deletes the objects under a non-empty prefix and
	// returns how many.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
	URL(key string) string
}

// Activities are promoflow's activities, with the dependencies they share.
// Register a *Activities with a worker; every exported method is an activity.
type Activities struct {
	Store   Store
	Mem     memory.Allocator // nil means the Go allocator
	TempDir string           // local scratch space; empty means the OS default

	// ScoredCacheBytes bounds the decoded scored shards this worker keeps
	// for the decide stage's rounds (scoredCache); 0 means
	// DefaultScoredCacheBytes, negative keeps none.
	ScoredCacheBytes int64

	// EventsCacheBytes bounds the events this worker keeps from a shard's
	// Profile to its Features activity (eventsCache); 0 means
	// DefaultEventsCacheBytes, negative keeps none.
	EventsCacheBytes int64
	// EventsSpillBytes bounds the events this worker spills to TempDir
	// when they do not fit in EventsCacheBytes (eventsCache); 0 means
	// DefaultEventsSpillBytes, negative spills none.
	EventsSpillBytes int64
	// StagedCacheBytes bounds the staged objects this worker keeps in
	// TempDir from its IngestSplit to its IngestFinalize activities
	// (stagedCache); 0 means DefaultStagedCacheBytes, negative keeps none.
	StagedCacheBytes int64

	uplift modelCache  // the uplift models DecideScore decoded last
	forest forestCache // the propensity forest DecideScore decoded last
	scored scoredCache // decoded scored shards, by key and digest

	scaledPts scaledCache // the segment stage's standardized points
	events    eventsCache // shards' events from Profile to Features
	staged    stagedCache // staged objects from IngestSplit to IngestFinalize
	live      liveCache   // live campaigns' decoded models and shards

	recModel recModelCache // the recommendation model Recommend decoded last
}

// scoredLimit is the bound of the scored-shard cache.
func (a *Activities) scoredLimit() int64 {
	if a.ScoredCacheBytes == 0 {
		return DefaultScoredCacheBytes
	}
	return a.ScoredCacheBytes
}

// eventsLimit is the bound of the events cache.
// DefaultEventsSpillBytes bounds the events a worker spills to its local
// disk unless Activities.EventsSpillBytes says otherwise: about 120
// million events, every shard of a 3,000,000-user run.
const DefaultEventsSpillBytes = 8 << 30

// eventsSpill is where the events cache spills.
func (a *Activities) eventsSpill() spillTo {
	limit := a.EventsSpillBytes
	if limit == 0 {
		limit = DefaultEventsSpillBytes
	}
	return spillTo{dir: a.scratchDir(), limit: limit}
}

// scratchDir is the worker's local scratch folder: TempDir, else the OS's.
func (a *Activities) scratchDir() string {
	if a.TempDir == "" {
		return os.TempDir()
	}
	return a.TempDir
}

func (a *Activities) eventsLimit() int64 {
	if a.EventsCacheBytes == 0 {
		return DefaultEventsCacheBytes
	}
	return a.EventsCacheBytes
}

func (a *Activities) mem() memory.Allocator {
	if a.Mem == nil {
		return memory.DefaultAllocator
	}
	return a.Mem
}

// BadInputType is the error type of failures that retrying cannot fix: a
// wrong file or mapping, a corrupt object. Workflows do not retry it.
const BadInputType = "BadInput"

// corruptError is an object that cannot be decoded: it will not mend on
// retry.
type corruptError struct {
	key string
	err error
}

func (e *corruptError) Error() string { return e.key + ": " + e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// final marks bad input (a wrong file or mapping, a corrupt object) anywhere
// in err's chain as a non-retryable BadInput error at the top, where Temporal
// looks; other errors stay retryable. Every activity defers it. The
// message is the whole error's text, so it carries no cause: the cause
// would print the same text again, marked retryable.
func final(err *error) {
	if *err == nil {
		return
	}
	var bad *ingest.BadInputError
	var corrupt *corruptError
	if errors.As(*err, &bad) || errors.As(*err, &corrupt) {
		*err = temporal.NewNonRetryableApplicationError((*err).Error(), BadInputType, nil)
	}
}

// readArrow gets an Arrow IPC object and calls fn for each record batch.
func (a *Activities) readArrow(ctx context.Context, key string, schema *arrow.Schema, fn func(arrow.Record) error) error {
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := arrowio.Each(data, schema, a.mem(), fn); err != nil {
		return &corruptError{key: key, err: err}
	}
	return nil
}

// writeArrow encodes recs as one IPC object at key.
func (a *Activities) writeArrow(ctx context.Context, key string, schema *arrow.Schema, recs ...arrow.Record) error {
	data, err := arrowio.Encode(schema, a.mem(), recs...)
	if err != nil {
		return err
	}
	return a.Store.Put(ctx, key, data)
}
