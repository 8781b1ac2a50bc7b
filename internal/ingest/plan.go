package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Split is a part of a source file that one activity ingests: a byte range
// of an uncompressed CSV or JSON Lines file that starts and ends on record
// boundaries, a range of Parquet row groups, a byte range of a compressed
// file's text copied out into a chunk object (Chunk), a run of members
// of a block gzip file (PlanBlocks), or a whole compressed file.
type Split struct {
	Index int   `json:"index"`
	Start int64 `json:"start"` // first byte (text) of the split's first record
	End   int64 `json:"end"`   // one past the last byte; -1 means the end of the file
	Line  int64 `json:"line"`  // line (text) or row (Parquet) of the first record, 1-based
	// RowGroups are the Parquet row groups [RowGroups[0], RowGroups[1]).
	RowGroups [2]int `json:"row_groups,omitempty"`
	// Chunk, for a split of a compressed file, is the object that holds
	// the bytes [Start, End) of the file's uncompressed text, uncompressed
	// (File.Chunk writes it). Start, End and Line stay those of the
	// original file, so records and rejects keep their true lines.
	Chunk string `json:"chunk,omitempty"`
	// ChunkS2 says the chunk holds that text as an S2 stream
	// (klauspost/compress/s2), as File.Chunk writes it: a fifth of the
	// bytes to store and fetch again (generated events), cheaply.
	ChunkS2 bool `json:"chunk_s2,omitempty"`
	// ZStart and ZEnd, for a split of a block gzip file (package blockgz),
	// are the compressed bytes of the members that hold its text, and
	// ZText the text offset where the member at ZStart begins: the split
	// reads and inflates only those bytes.
	ZStart int64 `json:"z_start,omitempty"`
	ZEnd   int64 `json:"z_end,omitempty"`
	ZText  int64 `json:"z_text,omitempty"`
}

// Whole is the one split of a file that cannot be split (compressed).
func Whole() []Split { return []Split{{Start: 0, End: -1, Line: 1}} }

// PlanText splits an uncompressed CSV (csv true) or JSON Lines file of
// about splitBytes per split, reading it once. Split boundaries are record
// boundaries: for CSV a line feed after an even number of quotes since the
// start of the file, the rule CSVReader frames records by, so embedded line
// breaks in quoted fields never split a record. The first CSV split starts
// after the header. Memory is a fixed read buffer.
func PlanText(r io.Reader, csv bool, splitBytes int64) ([]Split, error) {
	return planText(r, csv, splitBytes, nil)
}

// textSink receives the text of each split as planText cuts it.
type textSink interface {
	// write takes the next bytes of the current split, in file order.
	write(p []byte) error
	// cut says that split sp, whose bytes were all written, is complete.
	cut(sp Split) error
}

// planText is PlanText, also passing each split's bytes to sink when it is
// not nil (the bytes before the first split, a CSV header, are not
// passed). A last split folded into the one before is not cut again: its
// bytes are none.
func planText(r io.Reader, csv bool, splitBytes int64, sink textSink) ([]Split, error) {
	if splitBytes <= 0 {
		return nil, fmt.Errorf("plan: split size %d", splitBytes)
	}
	var (
		splits   []Split
		off      int64 // offset of buf[0]
		line     int64 = 1
		odd      bool
		nonBlank bool       // the current record has more than a line end
		start    int64 = -1 // first split's start: after the header for CSV
		startLn  int64 = 1
		next     int64 // cut at the first boundary at or after next
		written  int64 // bytes up to here were passed to sink (or skipped)
		buf      = make([]byte, 1<<20)
		quote    = []byte{'"'}
		sinkErr  error
		// emit passes buf's bytes from written up to at to sink; buf holds
		// the bytes from off.
		emit = func(at int64) {
			if sink != nil && sinkErr == nil && at > written {
				sinkErr = sink.write(buf[written-off : at-off])
			}
			written = at
		}
		boundary = func(at, ln int64) {
			if start < 0 {
				start, startLn = at, ln
				next = at + splitBytes
				written = at
				return
			}
			if at >= next {
				emit(at)
				sp := Split{Index: len(splits), Start: start, End: at, Line: startLn}
				splits = append(splits, sp)
				if sink != nil && sinkErr == nil {
					sinkErr = sink.cut(sp)
				}
				start, startLn = at, ln
				next = at + splitBytes
			}
		}
	)
	if !csv {
		boundary(0, 1)
	}
	for {
		n, err := io.ReadFull(r, buf)
		b := buf[:n]
		for len(b) > 0 {
			k := bytes.IndexByte(b, '\n')
			seg := b
			if k >= 0 {
				seg = b[:k+1]
			}
			if csv && bytes.Count(seg, quote)%2 == 1 {
				odd = !odd
			}
			if !nonBlank {
				t := seg
				if off+int64(n-len(b)) == 0 { // a byte-order mark is not content, as for CSVReader
					t = bytes.TrimPrefix(t, []byte(bom))
				}
				nonBlank = len(bytes.Trim(t, "\r\n")) > 0
			}
			if k < 0 {
				break
			}
			line++
			if !odd && (nonBlank || start >= 0) { // the header is the first record that is not blank
				boundary(off+int64(n-len(b)+k+1), line)
				nonBlank = false
			}
			b = b[k+1:]
		}
		if start >= 0 {
			emit(off + int64(n))
		} else {
			written = off + int64(n)
		}
		if sinkErr != nil {
			return nil, sinkErr
		}
		off += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if start < 0 { // a header without a line end, or an empty file
		start, startLn = off, line
	}
	splits = append(splits, Split{Index: len(splits), Start: start, End: off, Line: startLn})
	// A last split of nothing but the end of the file folds into the one
	// before.
	if k := len(splits); k > 1 && splits[k-1].Start == splits[k-1].End {
		splits[k-2].End = splits[k-1].End
		splits = splits[:k-1]
	} else if sink != nil {
		if err := sink.cut(splits[k-1]); err != nil {
			return nil, err
		}
	}
	return splits, nil
}

// PlanRowGroups groups row groups, given their compressed sizes and row
// counts, into splits of about splitBytes.
func PlanRowGroups(rows, sizes []int64, splitBytes int64) []Split {
	var splits []Split
	var line int64 = 1
	from, acc := 0, int64(0)
	startLine := line
	for i := range rows {
		acc += sizes[i]
		line += rows[i]
		if acc >= splitBytes || i == len(rows)-1 {
			splits = append(splits, Split{Index: len(splits), Start: -1, End: -1, Line: startLine, RowGroups: [2]int{from, i + 1}})
			from, acc, startLine = i+1, 0, line
		}
	}
	if len(splits) == 0 {
		splits = append(splits, Split{Start: -1, End: -1, Line: 1})
	}
	return splits
}
