package activities

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/features"
)

// readArrowFile is readArrow for large objects: it downloads the object to
// a scratch file and decodes it from there one record batch at a time, so
// neither the object's bytes nor all its records are in memory at once.
func (a *Activities) readArrowFile(ctx context.Context, key string, schema *arrow.Schema, fn func(arrow.Record) error) error {
	f, err := os.CreateTemp(a.TempDir, "object-*.arrow")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	body, err := a.Store.Open(ctx, key)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, body)
	body.Close()
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	if err := arrowio.EachFrom(f, schema, a.mem(), fn); err != nil {
		return &corruptError{key: key, err: err}
	}
	return nil
}

// readArrowStream is readArrowFile without the scratch file, for stores
// that read ranges: an Arrow IPC file is its magic, the IPC stream of its
// schema and record batches, then a footer, so the stream between them is
// decoded as it downloads, one record batch at a time. Writing the object
// to disk and reading it back was a fifth of reading a shard's events. It
// falls back to readArrowFile for other stores.
func (a *Activities) readArrowStream(ctx context.Context, key string, schema *arrow.Schema, fn func(arrow.Record) error) error {
	rs, ok := a.Store.(rangeStore)
	if !ok {
		return a.readArrowFile(ctx, key, schema, fn)
	}
	size, err := rs.Size(ctx, key)
	if err != nil {
		return err
	}
	// The file ends with the footer's length (int32, little endian) and the
	// magic; it starts with the magic padded to 8 bytes.
	const head, tail = 8, 10
	if size < head+tail {
		return &corruptError{key: key, err: fmt.Errorf("arrow ipc file of %d bytes", size)}
	}
	body, err := rs.OpenRange(ctx, key, size-tail, tail)
	if err != nil {
		return err
	}
	end := make([]byte, tail)
	_, err = io.ReadFull(body, end)
	body.Close()
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	footer := int64(binary.LittleEndian.Uint32(end[:4]))
	if string(end[4:]) != "ARROW1" || footer <= 0 || head+footer+tail > size {
		return &corruptError{key: key, err: fmt.Errorf("arrow ipc: no file footer (trailer %q)", end)}
	}
	body, err = rs.OpenRange(ctx, key, head, size-head-tail-footer)
	if err != nil {
		return err
	}
	defer body.Close()
	// A failed download is retryable; only what decodes wrong is corrupt.
	src := &downloadReader{r: body}
	decodeErr := func(err error) error {
		if src.err != nil {
			return fmt.Errorf("download %s: %w", key, src.err)
		}
		return &corruptError{key: key, err: err}
	}
	r, err := ipc.NewReader(bufio.NewReaderSize(src, 1<<20), ipc.WithAllocator(a.mem()))
	if err != nil {
		return decodeErr(fmt.Errorf("arrow ipc stream: %w", err))
	}
	defer r.Release()
	if schema != nil && !r.Schema().Equal(schema) {
		return &corruptError{key: key, err: fmt.Errorf("arrow ipc: schema %v, want %v", r.Schema(), schema)}
	}
	for r.Next() {
		if err := fn(r.Record()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return decodeErr(err)
	}
	if src.err != nil { // the stream ended early at a message boundary
		return fmt.Errorf("download %s: %w", key, src.err)
	}
	return nil
}

// downloadReader keeps the first error other than io.EOF of the body it
// reads.
type downloadReader struct {
	r   io.Reader
	err error
}

func (d *downloadReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

// rowBatch is the number of feature rows per record batch of a streamed
// feature table.
const rowBatch = 16384

// rowFile streams feature rows into an Arrow IPC scratch file, rowBatch
// rows per record batch, and uploads it when done: a shard's table is
// never whole in memory.
type rowFile struct {
	a     *Activities
	f     *os.File
	w     *arrowio.Writer
	label bool
	batch []features.Row
	rows  int64
}

func (a *Activities) newRowFile(label bool) (*rowFile, error) {
	f, err := os.CreateTemp(a.TempDir, "rows-*.arrow")
	if err != nil {
		return nil, err
	}
	schema := features.Schema
	if label {
		schema = features.TrainSchema
	}
	w, err := arrowio.NewWriter(f, schema, a.mem())
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &rowFile{a: a, f: f, w: w, label: label}, nil
}

// add appends one row.
func (r *rowFile) add(row features.Row) error {
	r.batch = append(r.batch, row)
	r.rows++
	if len(r.batch) == rowBatch {
		return r.flush()
	}
	return nil
}

func (r *rowFile) flush() error {
	if len(r.batch) == 0 {
		return nil
	}
	rec := features.Record(r.batch, r.label, r.a.mem())
	err := r.w.Write(rec)
	rec.Release()
	clear(r.batch) // drop the rows' references
	r.batch = r.batch[:0]
	return err
}

// upload writes the rest, closes the file and stores it at key. A table
// without rows is one empty record batch, as before streaming.
func (r *rowFile) upload(ctx context.Context, key string) error {
	if r.rows == 0 {
		rec := features.Record(nil, r.label, r.a.mem())
		err := r.w.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if err := r.flush(); err != nil {
		return err
	}
	if err := r.w.Close(); err != nil {
		return err
	}
	if err := r.f.Close(); err != nil {
		return err
	}
	return r.a.Store.PutFile(ctx, key, r.f.Name())
}

// close removes the scratch file.
func (r *rowFile) close() {
	r.f.Close()
	os.Remove(r.f.Name())
}
