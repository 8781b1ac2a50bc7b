package activities

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"

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
