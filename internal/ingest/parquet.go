package ingest

import (
	"context"
	"errors"

	"io"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// ParquetFile is an open Parquet file: its columns and row groups.
type ParquetFile struct {
	pf     *file.Reader
	fr     *pqarrow.FileReader
	cols   []string
	source string
}

// OpenParquet reads a Parquet file's footer. r is read at random
// positions (an object in a bucket is read with range requests).
func OpenParquet(r parquet.ReaderAtSeeker, source string, mem memory.Allocator) (*ParquetFile, error) {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return nil, &BadInputError{Source: source, Msg: "not a Parquet file: " + err.Error()}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 8192}, mem)
	if err != nil {
		pf.Close()
		return nil, &BadInputError{Source: source, Msg: "Parquet schema: " + err.Error()}
	}
	sc, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, &BadInputError{Source: source, Msg: "Parquet schema: " + err.Error()}
	}
	p := &ParquetFile{pf: pf, fr: fr, source: source}
	for _, f := range sc.Fields() {
		p.cols = append(p.cols, f.Name)
	}
	return p, nil
}

// Columns are the file's top-level column names.
func (p *ParquetFile) Columns() []string { return p.cols }

// RowGroups returns the rows and compressed bytes of each row group.
func (p *ParquetFile) RowGroups() (rows, bytes []int64) {
	for i := 0; i < p.pf.NumRowGroups(); i++ {
		md := p.pf.MetaData().RowGroup(i)
		rows = append(rows, md.NumRows())
		bytes = append(bytes, md.TotalCompressedSize())
	}
	return rows, bytes
}

// Close closes the file.
func (p *ParquetFile) Close() error { return p.pf.Close() }

// ParquetReader reads the rows of a range of row groups. Every column is
// read (fingerprints cover whole rows) and returned as text: numbers as Go
// formats them, timestamps in RFC 3339 (UTC), nested values as JSON.
type ParquetReader struct {
	p       *ParquetFile
	ctx     context.Context
	group   int // current row group
	end     int // one past the last row group
	left    int64
	line    int64 // row number of the next row, 1-based
	rr      pqarrow.RecordReader
	rec     arrow.Record
	row     int
	r       Record
	fields  []string
	null    []bool
	fp      *fingerprinter
	started bool
}

// Rows returns a reader of row groups [from, to).
func (p *ParquetFile) Rows(ctx context.Context, from, to int) *ParquetReader {
	rows, _ := p.RowGroups()
	var line int64 = 1
	for i := 0; i < from && i < len(rows); i++ {
		line += rows[i]
	}
	return &ParquetReader{p: p, ctx: ctx, group: from, end: to, line: line, fp: newFingerprinter(),
		fields: make([]string, len(p.cols)), null: make([]bool, len(p.cols))}
}

// Columns are the file's columns.
func (r *ParquetReader) Columns() []string { return r.p.cols }

// Pos is resumable at row group ends only.
func (r *ParquetReader) Pos() (Position, bool) {
	if r.left == 0 && (r.rec == nil || r.row >= int(r.rec.NumRows())) {
		return Position{RowGroup: r.group, Line: r.line}, true
	}
	return Position{RowGroup: r.group, Line: r.line}, false
}

// Close releases the current batch.
func (r *ParquetReader) Close() {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
}

// Next returns the next row.
func (r *ParquetReader) Next() (*Record, error) {
	for r.rec == nil || r.row >= int(r.rec.NumRows()) {
		if r.rec != nil {
			r.rec.Release()
			r.rec = nil
		}
		if r.rr != nil && r.rr.Next() {
			r.rec = r.rr.Record()
			r.rec.Retain()
			r.row = 0
			continue
		}
		if r.rr != nil {
			err := r.rr.Err()
			r.rr.Release()
			r.rr = nil
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, &BadInputError{Source: r.p.source, Line: int(r.line), Msg: "Parquet row group: " + err.Error()}
			}
			r.group++
		}
		if r.group >= r.end || r.group >= r.p.pf.NumRowGroups() {
			return nil, io.EOF
		}
		rr, err := r.p.fr.GetRecordReader(r.ctx, nil, []int{r.group})
		if err != nil {
			return nil, &BadInputError{Source: r.p.source, Line: int(r.line), Msg: "Parquet row group: " + err.Error()}
		}
		r.rr = rr
		r.left = r.p.pf.MetaData().RowGroup(r.group).NumRows()
	}
	i := r.row
	for c, col := range r.rec.Columns() {
		if col.IsNull(i) {
			r.fields[c], r.null[c] = "", true
			continue
		}
		r.null[c] = false
		if ts, ok := col.(*array.Timestamp); ok {
			unit := ts.DataType().(*arrow.TimestampType).Unit
			r.fields[c] = ts.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
			continue
		}
		r.fields[c] = col.ValueStr(i)
	}
	r.row++
	r.left--
	r.r = Record{Line: r.line, Fields: r.fields, Null: r.null, FP: r.fp.fields(r.fields, r.null)}
	r.line++
	if r.left == 0 && r.row >= int(r.rec.NumRows()) {
		// The group is done: move on so Pos reports the next group.
		r.rec.Release()
		r.rec = nil
		if r.rr != nil {
			r.rr.Release()
			r.rr = nil
		}
		r.group++
	}
	return &r.r, nil
}
