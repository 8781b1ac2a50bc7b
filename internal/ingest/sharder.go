package ingest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/shard"
)

// batchRows is the record batch size of shard files; it bounds the memory a
// shard holds before writing.
const batchRows = 16384

// Sharder routes events to one Arrow IPC file per shard in a local folder,
// writing a record batch whenever a shard has batchRows rows, so memory is
// bounded by shards x batchRows whatever the input size.
type Sharder struct {
	n        int
	mem      memory.Allocator
	paths    []string
	files    []*os.File
	bufs     []*bufio.Writer
	writers  []*arrowio.Writer
	builders []*canon.EventBuilder
	rows     []int64
}

// NewSharder creates n shard files in dir.
func NewSharder(dir string, n int, mem memory.Allocator) (*Sharder, error) {
	s := &Sharder{n: n, mem: mem, rows: make([]int64, n)}
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, shard.Key(i)+".arrow")
		f, err := os.Create(path)
		if err != nil {
			s.abort()
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		bw := bufio.NewWriterSize(f, 1<<16)
		w, err := arrowio.NewWriter(bw, canon.EventSchema, mem)
		if err != nil {
			f.Close()
			s.abort()
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		s.paths = append(s.paths, path)
		s.files = append(s.files, f)
		s.bufs = append(s.bufs, bw)
		s.writers = append(s.writers, w)
		s.builders = append(s.builders, canon.NewEventBuilder(mem))
	}
	return s, nil
}

// Add routes e to its user's shard.
func (s *Sharder) Add(e canon.Event) error {
	i := shard.Of(e.UserID, s.n)
	s.builders[i].Append(e)
	s.rows[i]++
	if s.builders[i].Len() >= batchRows {
		return s.flush(i)
	}
	return nil
}

func (s *Sharder) flush(i int) error {
	rec := s.builders[i].NewRecord()
	defer rec.Release()
	if err := s.writers[i].Write(rec); err != nil {
		return fmt.Errorf("shard %d: %w", i, err)
	}
	return nil
}

// Rows returns the rows routed to each shard.
func (s *Sharder) Rows() []int64 { return append([]int64(nil), s.rows...) }

// Close writes the remaining rows and the file footers and returns the
// shard files' paths, in shard order. Every shard gets a file, empty or not,
// so later stages need not tell "no rows" from "missing".
func (s *Sharder) Close() ([]string, error) {
	defer s.abort()
	for i := range s.writers {
		if s.builders[i].Len() > 0 {
			if err := s.flush(i); err != nil {
				return nil, err
			}
		}
		if err := s.writers[i].Close(); err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		if err := s.bufs[i].Flush(); err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		if err := s.files[i].Close(); err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		s.files[i] = nil
	}
	return s.paths, nil
}

// abort releases builders and closes files that are still open.
func (s *Sharder) abort() {
	for i, b := range s.builders {
		if b != nil {
			b.Release()
			s.builders[i] = nil
		}
	}
	for i, f := range s.files {
		if f != nil {
			f.Close()
			s.files[i] = nil
		}
	}
}
