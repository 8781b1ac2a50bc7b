package ingest

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/mapping"
)

// Pieces of the executors' work that do not depend on where objects are
// kept: both Local and the activities call them.

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

// StagedRejects returns the next function of RejectWriter.Source over a
// source's staged rejects: get(sp, c) for every chunk c of every split sp,
// chunks[sp] chunks in split sp.
func StagedRejects(chunks []int, get func(sp, c int) ([]byte, error)) func() ([]byte, bool, error) {
	sp, c := 0, 0
	return func() ([]byte, bool, error) {
		for sp < len(chunks) && c >= chunks[sp] {
			sp, c = sp+1, 0
		}
		if sp >= len(chunks) {
			return nil, false, nil
		}
		data, err := get(sp, c)
		c++
		return data, err == nil, err
	}
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
