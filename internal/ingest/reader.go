package ingest

import (
	"encoding/binary"

	"github.com/zeebo/xxh3"
)

// Record is one record of a source file, as a reader returns it.
type Record struct {
	// Line is where the record starts: the 1-based line of a CSV or JSON
	// Lines file, the 1-based row of a Parquet file.
	Line int64
	// Fields are the values by column index (Reader.Columns); valid until
	// the next call of Next.
	Fields []string
	// Null marks absent or null fields (JSON Lines, Parquet); nil for CSV,
	// where an empty field is the only kind of missing.
	Null []bool
	// FP fingerprints the whole raw record (every column, not only the ones
	// a mapping reads): equal records have equal fingerprints.
	FP [16]byte
	// Err is set when the record could not be split into fields: a short
	// countable reason ("csv syntax", "field count", "bad json", "invalid
	// utf-8"), with ErrValue saying more and ErrColumn naming the column
	// when one is to blame. Such a record is rejected.
	Err       string
	ErrValue  string
	ErrColumn string
}

// Position is where a reader can resume: the byte offset in the
// uncompressed file and the line number of the next record (CSV, JSON
// Lines), or the next row group (Parquet).
type Position struct {
	Offset   int64 `json:"offset,omitempty"`
	Line     int64 `json:"line,omitempty"`
	RowGroup int   `json:"row_group,omitempty"`
}

// Reader reads the records of one split of a source file.
type Reader interface {
	// Columns are the file's column names (for JSON Lines: the keys asked
	// for).
	Columns() []string
	// Next returns the next record, or io.EOF after the split's last. A
	// non-nil error other than io.EOF ends the split: the file cannot be
	// read (I/O, a record larger than the limit).
	Next() (*Record, error)
	// Pos returns the position after the last record returned, and whether
	// a reader can resume there (Parquet: only at row group ends).
	Pos() (Position, bool)
}

// fingerprinter hashes records into 16-byte fingerprints: XXH3-128, a
// fixed function of the bytes (no per-process seed), so records of
// different splits, processes and retries compare equal. Fingerprints find
// exact duplicates within one input, not adversarial collisions: at 2^-128
// per pair, a file of 10^12 records has a chance of any collision below
// 10^-14.
type fingerprinter struct {
	buf []byte
}

func newFingerprinter() *fingerprinter { return &fingerprinter{} }

// fields fingerprints a list of fields, telling nulls from empty strings
// and never confusing field boundaries.
func (f *fingerprinter) fields(fields []string, null []bool) [16]byte {
	f.buf = f.buf[:0]
	for i, s := range fields {
		if null != nil && null[i] {
			f.buf = append(f.buf, 0xff)
			continue
		}
		f.buf = binary.AppendUvarint(f.buf, uint64(len(s)))
		f.buf = append(f.buf, s...)
	}
	return f.bytes(f.buf)
}

// bytes fingerprints raw bytes.
func (f *fingerprinter) bytes(b []byte) [16]byte {
	return xxh3.Hash128(b).Bytes()
}
