package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"

	"github.com/promoflow/promoflow/internal/blockgz"
	"github.com/promoflow/promoflow/internal/mapping"
)

// Opener reads a file's bytes: n bytes from off, or to the end when n < 0.
// An object in a bucket opens with a range request.
type Opener func(ctx context.Context, off, n int64) (io.ReadCloser, error)

// File is one input file as ingest reads it.
type File struct {
	Name      string // the key, for messages and rejects
	Format    string // mapping.CSV, JSONL or Parquet
	Gzip      bool
	Delimiter byte // CSV
	Size      int64
	Open      Opener
	// OpenChunk reads the chunk objects of splits that have one
	// (Split.Chunk, written by Chunk).
	OpenChunk ChunkOpener
	Mem       memory.Allocator
}

// NewFile describes the file name (size bytes, read through open) as
// source s of a mapping reads it.
func NewFile(name string, size int64, s *mapping.Source, open Opener) (*File, error) {
	format, gz := s.FormatFor(name)
	if gz && format == mapping.Parquet {
		return nil, &BadInputError{Source: name, Msg: "gzip-compressed Parquet is not supported (Parquet compresses its own pages)"}
	}
	return &File{Name: name, Format: format, Gzip: gz, Delimiter: s.Delimiter, Size: size, Open: open, Mem: memory.DefaultAllocator}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// stream opens the file's uncompressed bytes from offset off (reading and
// dropping what comes before it in a compressed file).
func (f *File) stream(ctx context.Context, off, end int64) (io.ReadCloser, error) {
	if !f.Gzip {
		n := int64(-1)
		if end >= 0 {
			n = end - off
		}
		return f.Open(ctx, off, n)
	}
	rc, err := f.Open(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		rc.Close()
		return nil, &BadInputError{Source: f.Name, Msg: "not gzip: " + err.Error()}
	}
	r := readCloser{Reader: gz, close: func() error { gz.Close(); return rc.Close() }}
	if off > 0 {
		if _, err := io.CopyN(io.Discard, gz, off); err != nil {
			r.Close()
			return nil, f.gzipErr(err)
		}
	}
	r.Reader = gzipErrs{gz, f}
	return r, nil
}

// gzipErrs turns a corrupt compressed stream into bad input.
type gzipErrs struct {
	r io.Reader
	f *File
}

func (g gzipErrs) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = g.f.gzipErr(err)
	}
	return n, err
}

func (f *File) gzipErr(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &corrupt) {
		return &BadInputError{Source: f.Name, Msg: "corrupt gzip: " + err.Error()}
	}
	return err
}

// Columns returns the file's columns: the CSV header, the Parquet schema's
// columns, or nil for JSON Lines (whose keys the mapping names).
func (f *File) Columns(ctx context.Context) ([]string, error) {
	switch f.Format {
	case mapping.JSONL:
		return nil, nil
	case mapping.Parquet:
		pq, err := OpenParquet(f.readerAt(ctx), f.Name, f.Mem)
		if err != nil {
			return nil, err
		}
		defer pq.Close()
		return pq.Columns(), nil
	}
	rc, err := f.stream(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c, err := NewCSVReader(rc, CSVOptions{Delimiter: f.Delimiter, Source: f.Name})
	if err != nil {
		return nil, err
	}
	return c.Columns(), nil
}

// Plan cuts the file into splits of about splitBytes: byte ranges of
// uncompressed text, groups of Parquet row groups, or the whole of a
// compressed file.
func (f *File) Plan(ctx context.Context, splitBytes int64) ([]Split, error) {
	switch {
	case f.Format == mapping.Parquet:
		pq, err := OpenParquet(f.readerAt(ctx), f.Name, f.Mem)
		if err != nil {
			return nil, err
		}
		defer pq.Close()
		rows, sizes := pq.RowGroups()
		return PlanRowGroups(rows, sizes, splitBytes), nil
	case f.Gzip:
		return Whole(), nil
	}
	rc, err := f.stream(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	splits, err := PlanText(rc, f.Format == mapping.CSV, splitBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return splits, nil
}

// Reader opens split sp for prog's columns at pos (the zero Position
// means the split's start). Close it with the returned function.
func (f *File) Reader(ctx context.Context, sp Split, pos Position, prog *mapping.Program) (Reader, func(), error) {
	if f.Format == mapping.Parquet {
		pq, err := OpenParquet(f.readerAt(ctx), f.Name, f.Mem)
		if err != nil {
			return nil, nil, err
		}
		from := sp.RowGroups[0]
		if pos != (Position{}) {
			from = pos.RowGroup
		}
		r := pq.Rows(ctx, from, sp.RowGroups[1])
		return r, func() { r.Close(); pq.Close() }, nil
	}
	start, line := sp.Start, sp.Line
	if pos != (Position{}) {
		start, line = pos.Offset, pos.Line
	}
	var rc io.ReadCloser
	var err error
	if sp.ZEnd > 0 {
		rc, err = f.openBlocks(ctx, sp, start)
	} else if sp.Chunk != "" {
		if f.OpenChunk == nil {
			return nil, nil, fmt.Errorf("%s: split %d is in %s, and the file has no chunk opener", f.Name, sp.Index, sp.Chunk)
		}
		// The chunk holds [sp.Start, sp.End) of the text; positions stay
		// the file's.
		if sp.ChunkS2 {
			rc, err = f.openS2Chunk(ctx, sp, start)
		} else {
			rc, err = f.OpenChunk(ctx, sp.Chunk, start-sp.Start, sp.End-start)
		}
	} else {
		rc, err = f.stream(ctx, start, sp.End)
	}
	if err != nil {
		return nil, nil, err
	}
	closer := func() { rc.Close() }
	if f.Format == mapping.JSONL {
		return NewJSONLReader(rc, JSONLOptions{Columns: prog.Columns, Start: Position{Offset: start, Line: line}, Source: f.Name}), closer, nil
	}
	opt := CSVOptions{Delimiter: f.Delimiter, Source: f.Name}
	if start > 0 { // past the header: the mapping was compiled against it
		opt.Header, opt.Start = prog.Columns, Position{Offset: start, Line: line}
	}
	c, err := NewCSVReader(rc, opt)
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	return c, closer, nil
}

// Compile binds mapping source s to the file's columns; a column the
// mapping needs and the file lacks is bad input naming file and column.
func (f *File) Compile(ctx context.Context, s *mapping.Source) (*mapping.Program, error) {
	cols, err := f.Columns(ctx)
	if err != nil {
		return nil, err
	}
	p, err := mapping.Compile(s, cols)
	var mc *mapping.MissingColumnError
	if errors.As(err, &mc) {
		return nil, &BadInputError{Source: f.Name, Line: 1, Column: mc.Column, Msg: "not in the file; its columns are " + quoteList(mc.Have)}
	}
	return p, err
}

// Check probes the first EarlyRows records of the file through prog and
// fails with bad input when the mapping is evidently wrong: a needed JSON
// key in none of them, or one column failing in most of them.
func (f *File) Check(ctx context.Context, prog *mapping.Program, first Split) (SplitCounts, error) {
	rd, closeFn, err := f.Reader(ctx, first, Position{}, prog)
	if err != nil {
		return SplitCounts{}, err
	}
	defer closeFn()
	c, err := Probe(rd, prog, EarlyRows, f.Name)
	if err != nil {
		return c, err
	}
	if j, ok := rd.(*JSONLReader); ok && c.RowsRead > 0 {
		for i, n := range j.Seen() {
			if n == 0 && prog.Needed(i) {
				return c, &BadInputError{Source: f.Name, Column: prog.Columns[i],
					Msg: fmt.Sprintf("key in none of the first %d records", c.RowsRead)}
			}
		}
	}
	return c, nil
}

func quoteList(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", v)
	}
	return out
}

// readerAt reads the file at random positions, for Parquet.
func (f *File) readerAt(ctx context.Context) *rangeReader {
	return &rangeReader{ctx: ctx, f: f}
}

// rangeReader is an io.ReaderAt and io.ReadSeeker over an Opener.
type rangeReader struct {
	ctx context.Context
	f   *File
	off int64
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.f.Size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.f.Size {
		n = r.f.Size - off
	}
	rc, err := r.f.Open(r.ctx, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	m, err := io.ReadFull(rc, p[:n])
	if err == nil && int64(m) < int64(len(p)) {
		err = io.EOF
	}
	return m, err
}

func (r *rangeReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		r.off = offset
	case io.SeekCurrent:
		r.off += offset
	case io.SeekEnd:
		r.off = r.f.Size + offset
	}
	if r.off < 0 {
		return 0, fmt.Errorf("seek before the start")
	}
	return r.off, nil
}

// openS2Chunk reads split sp's S2-compressed chunk from the text offset
// start: a compressed stream is entered at its beginning and the bytes
// before start are inflated and skipped (a resumed split only).
func (f *File) openS2Chunk(ctx context.Context, sp Split, start int64) (io.ReadCloser, error) {
	rc, err := f.OpenChunk(ctx, sp.Chunk, 0, -1)
	if err != nil {
		return nil, err
	}
	z := s2.NewReader(bufio.NewReaderSize(rc, 1<<16))
	if _, err := io.CopyN(io.Discard, z, start-sp.Start); err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: split %d: %s: %w", f.Name, sp.Index, sp.Chunk, err)
	}
	var r io.Reader = z
	if sp.End >= 0 {
		r = io.LimitReader(z, sp.End-start)
	}
	return readCloser{Reader: s2Errs{r, sp.Chunk}, close: rc.Close}, nil
}

// s2Errs names the chunk in errors of a corrupt stream.
type s2Errs struct {
	r   io.Reader
	key string
}

func (z s2Errs) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: %w", z.key, err)
	}
	return n, err
}

// PlanBlocks cuts a block gzip file (package blockgz) into splits of
// about splitBytes of text at member boundaries, reading only the
// members' headers and, for CSV, the header record. ok is false for a
// compressed file that is not block gzip, which Chunk then reads whole;
// a file of one split is Whole(). A file whose index breaks off or
// does not fit is bad input naming the file.
func (f *File) PlanBlocks(ctx context.Context, splitBytes int64) (_ []Split, ok bool, _ error) {
	if !f.Gzip || f.Format == mapping.Parquet {
		return nil, false, nil
	}
	if splitBytes <= 0 {
		return nil, false, fmt.Errorf("plan: split size %d", splitBytes)
	}
	blocks, err := blockgz.Blocks(f.readerAt(ctx), f.Size)
	if errors.Is(err, blockgz.ErrNotBlocked) {
		return nil, false, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, &BadInputError{Source: f.Name, Msg: "block gzip: " + err.Error()}
	}
	first := Position{Line: 1}
	if f.Format == mapping.CSV {
		// The first split starts after the header, where a reader stands
		// once it has read it; only the first member is fetched.
		b := blocks[0]
		rc, err := f.openBlocks(ctx, Split{ZEnd: b.Size, End: b.Bytes}, 0)
		if err != nil {
			return nil, false, err
		}
		c, err := NewCSVReader(rc, CSVOptions{Delimiter: f.Delimiter, Source: f.Name})
		rc.Close()
		if err != nil {
			return nil, false, err
		}
		first, _ = c.Pos()
	}
	var splits []Split
	for i := 0; i < len(blocks); {
		b := blocks[i]
		if b.Text+b.Bytes <= first.Offset && i < len(blocks)-1 {
			i++ // the header's member (or members), when they hold nothing else
			continue
		}
		sp := Split{Index: len(splits), Start: b.Text, Line: b.Line, ZStart: b.Offset, ZText: b.Text}
		if len(splits) == 0 {
			sp.Start, sp.Line = first.Offset, first.Line
		}
		for ; i < len(blocks); i++ {
			b = blocks[i]
			sp.End, sp.ZEnd = b.Text+b.Bytes, b.Offset+b.Size
			if sp.End-sp.Start >= splitBytes {
				i++
				break
			}
		}
		splits = append(splits, sp)
	}
	// A last split of no text (an empty last member) folds into the one
	// before.
	if k := len(splits); k > 1 && splits[k-1].Start == splits[k-1].End {
		splits[k-2].End, splits[k-2].ZEnd = splits[k-1].End, splits[k-1].ZEnd
		splits = splits[:k-1]
	}
	if len(splits) == 1 {
		return Whole(), true, nil
	}
	return splits, true, nil
}

// openBlocks reads split sp of a block gzip file from the text offset
// start: its members' compressed bytes, inflated, the text before start
// skipped. The members' text must end exactly at sp.End, as their index
// said.
func (f *File) openBlocks(ctx context.Context, sp Split, start int64) (io.ReadCloser, error) {
	rc, err := f.Open(ctx, sp.ZStart, sp.ZEnd-sp.ZStart)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		rc.Close()
		return nil, &BadInputError{Source: f.Name, Msg: fmt.Sprintf("split %d: block at byte %d: not gzip: %v", sp.Index, sp.ZStart, err)}
	}
	r := readCloser{Reader: gzipErrs{gz, f}, close: func() error { gz.Close(); return rc.Close() }}
	if _, err := io.CopyN(io.Discard, r.Reader, start-sp.ZText); err != nil {
		r.Close()
		return nil, f.blockErr(sp, err)
	}
	r.Reader = &blockText{r: r.Reader, left: sp.End - start, f: f, sp: sp}
	return r, nil
}

// blockText reads a split's text from its members and checks that they
// hold exactly what their index said.
type blockText struct {
	r    io.Reader
	left int64
	f    *File
	sp   Split
}

func (b *blockText) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := io.ReadFull(b.r, one[:]); n > 0 || !errors.Is(err, io.EOF) {
			if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("more text than the block index says")
			}
			return 0, b.f.blockErr(b.sp, err)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		return n, b.f.blockErr(b.sp, errors.New("less text than the block index says"))
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (f *File) blockErr(sp Split, err error) error {
	var bad *BadInputError
	if errors.As(err, &bad) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("less text than the block index says")
	}
	return &BadInputError{Source: f.Name, Msg: fmt.Sprintf("block gzip, split %d (bytes %d-%d): %v", sp.Index, sp.ZStart, sp.ZEnd, err)}
}
