package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
)

// Pieces of the executors' work that do not depend on where objects are
// kept: both Local and the activities call them.

// PlannedFile is a planned source with the file and program it was
// planned with.
type PlannedFile struct {
	Source  PlannedSource
	File    *File
	Program *mapping.Program
}

// PlanInput runs the plan step on one input file, key: for each source of
// m that matches it, the file as open(s) opens it, its program compiled
// and checked on its first records, and its splits (PlanSplits; chunk,
// when not nil, cuts a compressed file whose source is named name). base
// names the sources (several matching sources of one file are told apart
// by their mapping names).
func PlanInput(ctx context.Context, m *mapping.Mapping, key, base string, splitBytes int64,
	open func(*mapping.Source) (*File, error), chunk func(ctx context.Context, f *File, name string) ([]Split, error)) ([]PlannedFile, error) {
	specs := m.Match(key)
	if len(specs) == 0 {
		var globs []string
		for _, s := range m.Sources {
			globs = append(globs, strings.Join(s.Files, " "))
		}
		return nil, &BadInputError{Source: key,
			Msg: fmt.Sprintf("no source of the mapping matches this file name (files: %s)", strings.Join(globs, "; "))}
	}
	var out []PlannedFile
	for _, s := range specs {
		f, err := open(s)
		if err != nil {
			return nil, err
		}
		prog, err := f.Compile(ctx, s)
		if err != nil {
			return nil, err
		}
		name := base
		if len(specs) > 1 {
			name += "-" + s.Name
		}
		var cut func(context.Context) ([]Split, error)
		if chunk != nil {
			cut = func(ctx context.Context) ([]Split, error) { return chunk(ctx, f, name) }
		}
		splits, err := f.PlanSplits(ctx, prog, splitBytes, cut)
		if err != nil {
			return nil, err
		}
		out = append(out, PlannedFile{File: f, Program: prog, Source: PlannedSource{Name: name, Key: key,
			Spec: slices.Index(m.Sources, s), Table: s.Table.Name, Format: f.Format, Dedupe: s.Dedupe, Splits: splits}})
	}
	return out, nil
}

// PlanSplits checks prog on f's first records and cuts f into splits, so
// that a wrong mapping fails before anything fans out. A compressed text
// file splits by its members' index when it is block gzip (PlanBlocks);
// any other is cut by chunk (File.Chunk, which copies its text out), after
// the check, so that a wrong mapping fails before the file is copied.
// chunk nil reads a compressed file as one split.
func (f *File) PlanSplits(ctx context.Context, prog *mapping.Program, splitBytes int64, chunk func(context.Context) ([]Split, error)) ([]Split, error) {
	if f.Gzip && f.Format != mapping.Parquet && chunk != nil {
		if _, err := f.Check(ctx, prog, Whole()[0]); err != nil {
			return nil, err
		}
		splits, blocked, err := f.PlanBlocks(ctx, splitBytes)
		if err != nil || blocked {
			return splits, err
		}
		return chunk(ctx)
	}
	splits, err := f.Plan(ctx, splitBytes)
	if err != nil {
		return nil, err
	}
	if _, err := f.Check(ctx, prog, splits[0]); err != nil {
		return nil, err
	}
	return splits, nil
}

// StageSplit runs the stage step on split sp of f, mapped by prog, from
// st (the zero state, or a retry's heartbeat): its records staged chunk
// by chunk in a scratch directory under tmp, each chunk's files handed to
// put with the state after it. It returns the split's result.
func StageSplit(ctx context.Context, f *File, prog *mapping.Program, sp Split, st StageState, shards, chunkRows int, tmp string,
	put func(Chunk, StageState) error) (Staged, error) {
	rd, closeFn, err := f.Reader(ctx, sp, st.Pos, prog)
	if err != nil {
		return Staged{}, err
	}
	defer closeFn()
	dir, err := os.MkdirTemp(tmp, "ingest-split-")
	if err != nil {
		return Staged{}, err
	}
	defer os.RemoveAll(dir)
	cfg := StageConfig{Program: prog, Shards: shards, ChunkRows: chunkRows, Dir: dir, Mem: f.Mem, Source: f.Name}
	st, err = Stage(ctx, rd, cfg, st, put)
	return Staged{Counts: st.Counts, Chunks: st.Chunks}, err
}

// RejectsStore is where WriteRejects reads rejects: Late reads a late
// rejects reference (RejectSource.Late), Staged source k's rejects staged
// by split sp, chunk c.
type RejectsStore interface {
	Late(ref string) ([]byte, error)
	Staged(k, sp, c int) ([]byte, error)
}

// WriteRejects runs the rejects step: the rejects CSV of every source, in
// input order, to the local file path(k), with one RejectWriter per
// table (so a rejected record that repeats an earlier one of the table is
// a duplicate), each CSV handed to done(k, path) once written.
func WriteRejects(sources []RejectSource, mem memory.Allocator, store RejectsStore, path func(k int) string, done func(k int, path string) error) ([]RejectCounts, error) {
	writers := map[string]*RejectWriter{}
	out := make([]RejectCounts, len(sources))
	for k, src := range sources {
		if writers[src.Table] == nil {
			writers[src.Table] = NewRejectWriter(mem)
		}
		var late [][]byte
		for _, ref := range src.Late {
			data, err := store.Late(ref)
			if err != nil {
				return nil, err
			}
			late = append(late, data)
		}
		sp, c := 0, 0
		next := func() ([]byte, bool, error) {
			for sp < len(src.Chunks) && c >= src.Chunks[sp] {
				sp, c = sp+1, 0
			}
			if sp >= len(src.Chunks) {
				return nil, false, nil
			}
			data, err := store.Staged(k, sp, c)
			c++
			return data, err == nil, err
		}
		p := path(k)
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		out[k], err = writers[src.Table].Source(f, src.Key, src.Dedupe, next, late)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("rejects of %s: %w", src.Key, err)
		}
		if err := done(k, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MergeRejects writes the late rejects files paths (RejectSchema), in
// order, to one file at dst: a block of partitions returns one per source.
func MergeRejects(dst string, paths []string, mem memory.Allocator) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w, err := arrowio.NewWriter(f, RejectSchema, mem)
	if err != nil {
		return err
	}
	for _, p := range paths {
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		err = arrowio.EachFrom(src, RejectSchema, mem, w.Write)
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return w.Close()
}

// ChunkError is an error adding a staged chunk to a finalizer: source
// Source's rows of partition Partition staged by split Split, chunk
// Chunk. A *StagedError in Err means the object cannot be decoded.
type ChunkError struct {
	Source                  string
	Split, Chunk, Partition int
	Err                     error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("%s split %d chunk %d partition %d: %v", e.Source, e.Split, e.Chunk, e.Partition, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// FinalizeBlock runs a FinalizeTask of table, whose sources' programs are
// progs: each partition in turn, in a directory of its own under dir,
// reading source k's rows staged by split sp, chunk c with get(k, sp, c, p)
// and handing the partition's piece of source k to put(p, k, path); kept,
// when not nil, sees each record of the piece as it is written, before
// put (a worker keeps the events it has at hand). It returns the counts merged per source and, per source, a local file of
// its late rejects ("" for none): a task of several partitions merges
// them into one.
func FinalizeBlock(t FinalizeTask, table *canon.Table, progs []*mapping.Program, dir string, mem memory.Allocator,
	get func(k, sp, c, p int) ([]byte, error), put func(p, k int, path string) error,
	kept func(p, k int, rec arrow.Record) error) ([]FinalCounts, []string, error) {
	counts := make([]FinalCounts, len(t.Sources))
	late := make([][]string, len(t.Sources)) // in partition order
	for p := t.From; p < t.To; p++ {
		pdir := filepath.Join(dir, fmt.Sprint(p))
		if err := os.Mkdir(pdir, 0o755); err != nil {
			return nil, nil, err
		}
		c, rejects, err := finalizePartition(t, p, table, progs, pdir, mem, get, put, kept)
		if err != nil {
			return nil, nil, fmt.Errorf("partition %d: %w", p, err)
		}
		for k := range t.Sources {
			counts[k].Merge(c[k])
			if rejects[k] != "" {
				late[k] = append(late[k], rejects[k])
			}
		}
	}
	out := make([]string, len(t.Sources))
	for k, src := range t.Sources {
		switch {
		case len(late[k]) == 0:
		case t.To-t.From == 1:
			out[k] = late[k][0]
		default:
			out[k] = filepath.Join(dir, fmt.Sprintf("late-%d.arrow", k))
			if err := MergeRejects(out[k], late[k], mem); err != nil {
				return nil, nil, fmt.Errorf("late rejects of %s: %w", src.Name, err)
			}
		}
	}
	return counts, out, nil
}

// finalizePartition finalizes partition p of t into dir, puts its pieces
// and returns its counts and its local late-rejects files ("" for none).
func finalizePartition(t FinalizeTask, p int, table *canon.Table, progs []*mapping.Program, dir string, mem memory.Allocator,
	get func(k, sp, c, p int) ([]byte, error), put func(p, k int, path string) error,
	kept func(p, k int, rec arrow.Record) error) ([]FinalCounts, []string, error) {
	fin, err := NewFinalizer(table, progs, dir, mem)
	if err != nil {
		return nil, nil, err
	}
	if kept != nil {
		for k := range t.Sources {
			fin.outs[k].kept = func(rec arrow.Record) error { return kept(p, k, rec) }
		}
	}
	objects := 0
	for _, src := range t.Sources {
		for _, chunks := range src.Chunks {
			objects += chunks
		}
	}
	added := 0
	for k, src := range t.Sources {
		for sp, chunks := range src.Chunks {
			for c := 0; c < chunks; c++ {
				data, err := get(k, sp, c, p)
				if err != nil {
					fin.Close()
					return nil, nil, err
				}
				if err := fin.Add(k, data); err != nil {
					fin.Close()
					return nil, nil, &ChunkError{Source: src.Name, Split: sp, Chunk: c, Partition: p, Err: err}
				}
				if added++; added == 1 {
					// Chunks hold about as many records each: size the
					// set of seen records once.
					fin.Reserve(fin.Distinct() * objects)
				}
			}
		}
	}
	outs, rejects, counts, err := fin.Close()
	if err != nil {
		return nil, nil, err
	}
	for k := range t.Sources {
		if err := put(p, k, outs[k]); err != nil {
			return nil, nil, err
		}
	}
	return counts, rejects, nil
}
