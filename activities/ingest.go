package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/mapping"
)

// Ingest runs in four activities (see internal/ingest): IngestPlan per
// input file, IngestSplit per split, IngestFinalize per table partition (or block of
// user shards),
// then IngestRejects once. They pass keys and counts only.

// rangeStore is the bucket with ranged reads, which byte-range splits
// and Parquet need. A store without them is read from the start.
type rangeStore interface {
	Size(ctx context.Context, key string) (int64, error)
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// opener reads the object at key: from a rangeStore by ranges, else
// from its start. size is its size, -1 when the store cannot tell.
func (a *Activities) opener(ctx context.Context, key string) (open ingest.Opener, size int64, err error) {
	if rs, ok := a.Store.(rangeStore); ok {
		n, err := rs.Size(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		return func(ctx context.Context, off, n int64) (io.ReadCloser, error) { return rs.OpenRange(ctx, key, off, n) }, n, nil
	}
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		rc, err := a.Store.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			return nil, fmt.Errorf("%s: skip to %d: %w", key, off, err)
		}
		if n < 0 {
			return rc, nil
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(rc, n), rc}, nil
	}, -1, nil
}

// file returns the input at key as source s reads it; the chunks of its
// splits (ingest.Split.Chunk) are read from the bucket too.
func (a *Activities) file(ctx context.Context, key string, s *mapping.Source) (*ingest.File, error) {
	open, size, err := a.opener(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := ingest.NewFile(key, size, s, open)
	if err != nil {
		return nil, err
	}
	f.Mem = a.mem()
	f.OpenChunk = func(ctx context.Context, chunk string, off, n int64) (io.ReadCloser, error) {
		open, _, err := a.opener(ctx, chunk)
		if err != nil {
			return nil, err
		}
		return open(ctx, off, n)
	}
	return f, nil
}

// loadMapping parses a run's mapping; a bad one is bad input.
func loadMapping(text string) (*mapping.Mapping, error) {
	m, err := mapping.Load(text)
	if err != nil {
		return nil, &ingest.BadInputError{Source: "mapping", Msg: err.Error()}
	}
	return m, nil
}

// source returns source i of the mapping.
func source(m *mapping.Mapping, i int) (*mapping.Source, error) {
	if i < 0 || i >= len(m.Sources) {
		return nil, &ingest.BadInputError{Source: "mapping", Msg: fmt.Sprintf("no source %d", i)}
	}
	return m.Sources[i], nil
}

// IngestPlanInput names one input file of a run.
type IngestPlanInput struct {
	RunID      string
	Key        string // raw/... object
	Index      int    // position among the run's inputs
	Mapping    string // YAML; empty means canonical events
	SplitBytes int64
}

// IngestSource is one input file mapped into one table, as planned.
type IngestSource = ingest.PlannedSource

// IngestPlanOutput lists the sources of one input file.
type IngestPlanOutput struct {
	Sources []IngestSource
}

// IngestPlan matches an input file with the mapping's sources, checks
// each mapping on the file's header and first records (a wrong mapping
// fails here, non-retryably, before anything fans out) and cuts the file
// into splits. A block gzip file (package blockgz) splits by its members'
// index without being inflated; any other compressed CSV or JSON Lines
// file larger than one split is read once and its text copied, split by split, to
// runs/<run>/ingest/<src>/split=NNNN/text.<format>.s2 (see ingest.File.Chunk),
// heartbeating after each split; a retry skips the splits a heartbeat
// says are stored (their keys and bytes are the same).
func (a *Activities) IngestPlan(ctx context.Context, in IngestPlanInput) (_ IngestPlanOutput, err error) {
	defer final(&err)
	m, err := loadMapping(in.Mapping)
	if err != nil {
		return IngestPlanOutput{}, err
	}
	planned, err := ingest.PlanInput(ctx, m, in.Key, layout.Source(in.Index, in.Key), in.SplitBytes,
		func(s *mapping.Source) (*ingest.File, error) { return a.file(ctx, in.Key, s) },
		func(ctx context.Context, f *ingest.File, name string) ([]ingest.Split, error) {
			return a.chunk(ctx, f, in, name)
		})
	if err != nil {
		return IngestPlanOutput{}, err
	}
	var out IngestPlanOutput
	for _, p := range planned {
		out.Sources = append(out.Sources, p.Source)
	}
	return out, nil
}

// ChunkProgress is IngestPlan's heartbeat while it copies a compressed
// file's splits: source Source has its first Splits stored, up to byte
// Offset of the text.
type ChunkProgress struct {
	Source string
	Splits int
	Offset int64
}

// chunk cuts compressed file f into splits whose text it stores in the
// bucket, skipping those that an earlier attempt's heartbeat says are
// stored.
func (a *Activities) chunk(ctx context.Context, f *ingest.File, in IngestPlanInput, name string) ([]ingest.Split, error) {
	var done ChunkProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &done); err != nil || done.Source != name {
			done = ChunkProgress{}
		}
	}
	dir, err := os.MkdirTemp(a.TempDir, "ingest-chunk-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	return f.Chunk(ctx, in.SplitBytes, dir, func(ctx context.Context, sp ingest.Split, path string) (string, error) {
		key := layout.SplitText(in.RunID, name, sp.Index, f.Format)
		if sp.Index >= done.Splits {
			if err := a.Store.PutFile(ctx, key, path); err != nil {
				return "", err
			}
		}
		recordProgress(ctx, ChunkProgress{Source: name, Splits: sp.Index + 1, Offset: sp.End})
		return key, nil
	})
}

// IngestSplitInput asks for one split of a source.
type IngestSplitInput struct {
	RunID   string
	Mapping string
	Source  IngestSource
	Split   int // the split's index (Source.Splits[Split] when Range is nil)
	// Range is the split; nil means Source.Splits[Split] (workflows
	// before 2026-12-04 sent every split's list, quadratic in splits).
	Range     *ingest.Split
	Shards    int
	ChunkRows int
	// NotAfter is the latest event time accepted: the run's start plus
	// its tolerance (workflows.RegenerateInput.FutureTolerance); later
	// events are rejected (mapping.ReasonAfterStart). Zero means no limit.
	NotAfter time.Time
}

// IngestSplitOutput counts the split's records before duplicates are
// removed, and says how many chunks it staged.
type IngestSplitOutput = ingest.Staged

// IngestSplit maps one split's records and stages them: per chunk, one
// object per user shard and one for rows without a user, plus the
// chunk's rejects. After each chunk it heartbeats its position and counts;
// a retry after a worker died resumes from there and writes the same
// objects an uninterrupted run would.
func (a *Activities) IngestSplit(ctx context.Context, in IngestSplitInput) (_ IngestSplitOutput, err error) {
	defer final(&err)
	m, err := loadMapping(in.Mapping)
	if err != nil {
		return IngestSplitOutput{}, err
	}
	s, err := source(m, in.Source.Spec)
	if err != nil {
		return IngestSplitOutput{}, err
	}
	var sp ingest.Split
	switch {
	case in.Range != nil:
		sp = *in.Range
	case in.Split >= 0 && in.Split < len(in.Source.Splits):
		sp = in.Source.Splits[in.Split]
	default:
		return IngestSplitOutput{}, fmt.Errorf("%s: no split %d", in.Source.Key, in.Split)
	}
	var st ingest.StageState
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &st); err != nil {
			st = ingest.StageState{}
		} else {
			activity.GetLogger(ctx).Info("resuming split", "source", in.Source.Name, "split", in.Split, "chunks", st.Chunks, "line", st.Pos.Line)
			// Heartbeat the resumed position at once: the interceptor's
			// periodic heartbeats repeat it, rather than replacing it with
			// empty details before the next chunk ends, which would make a
			// second retry start over.
			recordProgress(ctx, st)
		}
	}
	f, err := a.file(ctx, in.Source.Key, s)
	if err != nil {
		return IngestSplitOutput{}, err
	}
	prog, err := f.Compile(ctx, s)
	if err != nil {
		return IngestSplitOutput{}, err
	}
	prog.SetNotAfter(in.NotAfter)
	out, err := ingest.StageSplit(ctx, f, prog, sp, st, in.Shards, in.ChunkRows, a.TempDir, func(c ingest.Chunk, next ingest.StageState) error {
		key := func(i int) string { return layout.Staged(in.RunID, in.Source.Name, in.Split, c.Index, i, in.Shards) }
		err := a.putFiles(ctx, len(c.Parts), func(i int) (string, string) { return key(i), c.Parts[i] })
		if err != nil {
			return err
		}
		dir, limit := a.stagedDir()
		for i, path := range c.Parts {
			a.staged.keep(ctx, key(i), path, dir, limit)
		}
		if err := a.Store.PutFile(ctx, layout.StagedRejects(in.RunID, in.Source.Name, in.Split, c.Index), c.Rejects); err != nil {
			return err
		}
		recordProgress(ctx, next)
		return nil
	})
	if err != nil {
		return IngestSplitOutput{}, err
	}
	return out, nil
}

// stagePuts is how many staged objects a split uploads at once: a chunk
// has one per shard (1,025 at 1,024 shards), small ones at many shards,
// whose round trips one after the other would be most of the split's time.
const stagePuts = 8

// putFiles uploads n local files, file(i) giving key and path, at most
// stagePuts at a time, and returns the first error that occurred (the
// others are then cancelled).
func (a *Activities) putFiles(ctx context.Context, n int, file func(i int) (key, path string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, stagePuts)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			key, path := file(i)
			if err := a.Store.PutFile(ctx, key, path); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err() // the activity's own context was cancelled
	}
	return first
}

// StagedSource is one source's staged chunks: Chunks[i] chunks in split i.
type StagedSource = ingest.StagedSource

// IngestFinalizeInput asks for one partition of one table, or a block of
// user shards.
type IngestFinalizeInput struct {
	RunID     string
	Mapping   string
	Table     string
	Partition int // 0..Shards-1 user shards; Shards: rows without a user
	// To ends the block of user shards [Partition, To) that the activity
	// finalizes one after the other (shard.Blocks); 0 means Partition+1.
	To      int
	Shards  int
	Sources []StagedSource // the table's sources, in input order
}

// IngestFinalizeOutput counts, per source, what the partitions kept: one
// aggregate for a block, whatever its number of shards; LateRejects are
// keys, "" where a source has none (one object per block).
type IngestFinalizeOutput = ingest.Finalized

// IngestFinalize reads a partition's staged rows of every source in input
// order, removes exact duplicates, carries values forward within users,
// and writes one piece per source: runs/<run>/<table>/shard=NNNN/part-<src>.arrow
// (events of users: the features stage reads them), or .../anonymous/ for
// rows without a user. Given a block of shards it does so for each in
// shard order and returns the counts merged and each source's late rejects
// in one object, so its output does not grow with the block.
func (a *Activities) IngestFinalize(ctx context.Context, in IngestFinalizeInput) (_ IngestFinalizeOutput, err error) {
	defer final(&err)
	m, err := loadMapping(in.Mapping)
	if err != nil {
		return IngestFinalizeOutput{}, err
	}
	progs, table, err := programs(m, in.Table, in.Sources)
	if err != nil {
		return IngestFinalizeOutput{}, err
	}
	dir, err := os.MkdirTemp(a.TempDir, "ingest-final-")
	if err != nil {
		return IngestFinalizeOutput{}, err
	}
	defer os.RemoveAll(dir)
	to := in.To
	if to <= in.Partition {
		to = in.Partition + 1
	}
	task := ingest.FinalizeTask{Table: in.Table, From: in.Partition, To: to, Sources: in.Sources}
	// The worker keeps the events of its user shards for the Profile
	// activity (handOffEvents): as the finalizer writes them when the table
	// has one source, else read back from the pieces' local files in the
	// order of their keys.
	handOff := in.Table == canon.EventsName && activity.IsActivity(ctx)
	kept := map[int]*features.Events{} // user shard -> its events, one source
	pieces := map[int][]localPiece{}   // user shard -> its pieces put, several sources
	var keep func(p, k int, rec arrow.Record) error
	if handOff && len(in.Sources) == 1 {
		keep = func(p, k int, rec arrow.Record) error {
			if p >= in.Shards {
				return nil
			}
			if kept[p] == nil {
				kept[p] = &features.Events{}
			}
			return kept[p].AddRecord(rec)
		}
	}
	counts, late, err := ingest.FinalizeBlock(task, table, progs, dir, a.mem(),
		func(k, sp, c, p int) ([]byte, error) {
			key := layout.Staged(in.RunID, in.Sources[k].Name, sp, c, p, in.Shards)
			if data, ok := a.staged.take(ctx, key); ok {
				return data, nil
			}
			return a.Store.Get(ctx, key)
		},
		func(p, k int, path string) error {
			key := layout.TablePart(in.RunID, in.Table, p, in.Shards, in.Sources[k].Name)
			if err := a.Store.PutFile(ctx, key, path); err != nil {
				return err
			}
			switch {
			case !handOff || p >= in.Shards:
			case keep != nil:
				a.handOff(ctx, in.RunID, p, kept[p])
				delete(kept, p)
			default:
				pieces[p] = append(pieces[p], localPiece{key: key, path: path})
			}
			return nil
		}, keep)
	if err != nil {
		return IngestFinalizeOutput{}, finalizeError(in, err)
	}
	for p := in.Partition; p < to && p < in.Shards; p++ {
		if len(pieces[p]) > 0 {
			a.handOffEvents(ctx, in.RunID, p, pieces[p])
		}
	}
	out := IngestFinalizeOutput{Counts: counts, LateRejects: make([]string, len(in.Sources))}
	for si, src := range in.Sources {
		if late[si] == "" {
			continue
		}
		out.LateRejects[si] = layout.LateRejects(in.RunID, in.Table, in.Partition, in.Shards, src.Name)
		if to > in.Partition+1 {
			out.LateRejects[si] = layout.LateRejectsBlock(in.RunID, in.Table, in.Partition, to, src.Name)
		}
		if err := a.Store.PutFile(ctx, out.LateRejects[si], late[si]); err != nil {
			return IngestFinalizeOutput{}, err
		}
	}
	return out, nil
}

// localPiece is an object put from a local file.
type localPiece struct{ key, path string }

// handOffEvents leaves shard i's events, just finalized into the local
// files of pieces, in the worker's events spill for the Profile activity,
// which then neither downloads nor decodes them (reading them was three
// quarters of Profile's CPU). The events are added in the order of the
// pieces' keys, the order in which loadEvents lists them, so they are the
// same Events. It is only a cache: when it fails, or Profile runs on
// another worker, Profile reads the bucket.
func (a *Activities) handOffEvents(ctx context.Context, run string, i int, pieces []localPiece) {
	key := eventsKey(ctx, run, i)
	if key == "" || len(pieces) == 0 {
		return
	}
	slices.SortFunc(pieces, func(x, y localPiece) int { return strings.Compare(x.key, y.key) })
	evs := &features.Events{}
	for _, pc := range pieces {
		f, err := os.Open(pc.path)
		if err != nil {
			return
		}
		err = arrowio.EachFrom(f, canon.EventSchema, a.mem(), evs.AddRecord)
		f.Close()
		if err != nil {
			return
		}
	}
	a.handOff(ctx, run, i, evs)
}

// handOff spills shard i's events for the Profile activity: to the disk,
// not the cache's memory, which would hold them through the rest of
// ingest and add to the features stage's peak (a spill is read back by a
// copy, about a tenth of a second a shard at 300,000 users).
func (a *Activities) handOff(ctx context.Context, run string, i int, evs *features.Events) {
	if key := eventsKey(ctx, run, i); key != "" && evs != nil {
		a.events.spill(key, evs, a.eventsSpill())
	}
}

// finalizeError classifies an error of finalizing: only a staged object
// that cannot be decoded is bad input; an error writing the partition's
// local files (a full disk) stays retryable. Either names the staged
// object being added.
func finalizeError(in IngestFinalizeInput, err error) error {
	var chunk *ingest.ChunkError
	if !errors.As(err, &chunk) {
		return err
	}
	key := layout.Staged(in.RunID, chunk.Source, chunk.Split, chunk.Chunk, chunk.Partition, in.Shards)
	var staged *ingest.StagedError
	if errors.As(err, &staged) {
		return &corruptError{key: key, err: err}
	}
	return fmt.Errorf("finalize %s: %w", key, err)
}

// programs compiles the table's sources without a file (the finalizer
// needs only their policies).
func programs(m *mapping.Mapping, table string, sources []StagedSource) ([]*mapping.Program, *canon.Table, error) {
	var t *canon.Table
	progs := make([]*mapping.Program, len(sources))
	for i, src := range sources {
		s, err := source(m, src.Spec)
		if err != nil {
			return nil, nil, err
		}
		if s.Table.Name != table {
			return nil, nil, &ingest.BadInputError{Source: "mapping", Msg: fmt.Sprintf("source %q is table %s, not %s", s.Name, s.Table.Name, table)}
		}
		t = s.Table
		if progs[i], err = mapping.Compile(s, nil); err != nil {
			return nil, nil, &ingest.BadInputError{Source: "mapping", Msg: err.Error()}
		}
	}
	if t == nil {
		return nil, nil, errors.New("finalize: no sources")
	}
	return progs, t, nil
}

// RejectSource is one source's staged and late rejects (Late: keys, in
// partition order).
type RejectSource = ingest.RejectSource

// IngestRejectsInput lists every source of a run, in input order.
type IngestRejectsInput struct {
	RunID   string
	Sources []RejectSource
}

// IngestRejectsOutput is, per source, its rejects' key and counts.
type IngestRejectsOutput = ingest.RejectsWritten

// IngestRejects writes runs/<run>/rejects/<src>.csv for every source: every
// rejected record with source file, line, column, reason and value, in
// line order, without records that repeat an earlier rejected record of
// the same table (those are counted as duplicates).
func (a *Activities) IngestRejects(ctx context.Context, in IngestRejectsInput) (_ IngestRejectsOutput, err error) {
	defer final(&err)
	dir, err := os.MkdirTemp(a.TempDir, "ingest-rejects-")
	if err != nil {
		return IngestRejectsOutput{}, err
	}
	defer os.RemoveAll(dir)
	out := IngestRejectsOutput{Keys: make([]string, len(in.Sources))}
	out.Counts, err = ingest.WriteRejects(in.Sources, a.mem(), rejectsStore{ctx, a, in},
		func(k int) string { return filepath.Join(dir, fmt.Sprintf("%d.csv", k)) },
		func(k int, path string) error {
			out.Keys[k] = layout.Rejects(in.RunID, in.Sources[k].Name)
			return a.Store.PutFile(ctx, out.Keys[k], path)
		})
	if err != nil {
		return IngestRejectsOutput{}, err
	}
	return out, nil
}

// rejectsStore reads IngestRejects' staged and late rejects from the
// bucket.
type rejectsStore struct {
	ctx context.Context
	a   *Activities
	in  IngestRejectsInput
}

func (s rejectsStore) Late(key string) ([]byte, error) { return s.a.Store.Get(s.ctx, key) }

func (s rejectsStore) Staged(k, sp, c int) ([]byte, error) {
	return s.a.Store.Get(s.ctx, layout.StagedRejects(s.in.RunID, s.in.Sources[k].Name, sp, c))
}
