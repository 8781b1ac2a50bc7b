package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"

	"github.com/promoflow/promoflow/internal/mapping"
)

// ChunkOpener reads the bytes of a chunk object (Split.Chunk): n bytes
// from off.
type ChunkOpener func(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

// PutChunk stores the text of split sp, written to the local file path,
// and returns the key of the object that now holds it. It is called once
// per split, in order; a retry must return the same key for the same
// split.
type PutChunk func(ctx context.Context, sp Split, path string) (string, error)

// Chunk cuts a compressed CSV or JSON Lines file into splits of about
// splitBytes of uncompressed text, as PlanText cuts an uncompressed one
// (record boundaries; the CSV header before the first split), reading the
// file once. Each split's text is written uncompressed to a file in dir
// and handed to put, and the split records the key put returns, so that
// the splits are read in parallel while their records keep the original
// file's offsets and lines. The text is S2-compressed (Split.ChunkS2):
// cheap to compress and inflate, it stores about a fifth of the bytes. A
// file of one split is not copied: Chunk then
// returns Whole(). Corrupt compressed data is a *BadInputError naming the
// file. The same file and splitBytes give the same splits and bytes.
func (f *File) Chunk(ctx context.Context, splitBytes int64, dir string, put PutChunk) ([]Split, error) {
	if f.Format == mapping.Parquet {
		return nil, fmt.Errorf("%s: chunk: Parquet is split by row groups", f.Name)
	}
	rc, err := f.stream(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	s := &chunkSink{ctx: ctx, dir: dir, put: put}
	defer s.close()
	splits, err := planText(rc, f.Format == mapping.CSV, splitBytes, s)
	var bad *BadInputError
	if errors.As(err, &bad) {
		return nil, err // names the file already
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if len(splits) == 1 {
		return Whole(), nil
	}
	// The last split is complete and still held.
	if err := s.flush(); err != nil {
		return nil, err
	}
	for i := range splits {
		splits[i].Chunk, splits[i].ChunkS2 = s.keys[i], true
	}
	return splits, nil
}

// chunkSink writes each split's text to a local file and puts it. It
// holds a finished split until the next one is cut, so that a file of
// one split is never put.
type chunkSink struct {
	ctx     context.Context
	dir     string
	put     PutChunk
	f       *os.File
	w       *bufio.Writer
	z       *s2.Writer
	held    *Split
	heldAt  string
	keys    []string
	nChunks int
}

func (s *chunkSink) write(p []byte) error {
	if s.f == nil {
		f, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("chunk-%05d", s.nChunks)))
		if err != nil {
			return err
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<20)
		s.z = s2.NewWriter(s.w)
		s.nChunks++
	}
	_, err := s.z.Write(p)
	return err
}

func (s *chunkSink) cut(sp Split) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if err := s.flush(); err != nil {
		return err
	}
	if s.f == nil { // a split of no bytes (a header-only file)
		if err := s.write(nil); err != nil {
			return err
		}
	}
	if err := s.z.Close(); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	path := s.f.Name()
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f, s.w, s.z = nil, nil, nil
	s.held, s.heldAt = &sp, path
	return nil
}

// flush puts the held split, if any.
func (s *chunkSink) flush() error {
	if s.held == nil {
		return nil
	}
	key, err := s.put(s.ctx, *s.held, s.heldAt)
	if err != nil {
		return fmt.Errorf("split %d: %w", s.held.Index, err)
	}
	os.Remove(s.heldAt)
	s.keys = append(s.keys, key)
	s.held = nil
	return nil
}

func (s *chunkSink) close() {
	if s.f != nil {
		s.z.Close()
		s.f.Close()
		os.Remove(s.f.Name())
	}
	if s.held != nil {
		os.Remove(s.heldAt)
	}
}
