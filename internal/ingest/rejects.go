package ingest

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
)

// RejectsHeader is the header of rejects CSV files.
var RejectsHeader = []string{"source", "line", "column", "reason", "value"}

// RejectCounts count one source's rejects after duplicates are removed.
type RejectCounts struct {
	Rejected   int64            `json:"rejected"`
	Duplicates int64            `json:"duplicates"` // rejected records that repeat an earlier rejected record
	ByReason   map[string]int64 `json:"by_reason"`
}

// RejectWriter writes the rejects CSV files of a table's sources, in input
// order, and drops rejected records that are exact duplicates of an
// earlier rejected record of the table (counting them as duplicates): a
// record is a duplicate before it is anything else, and equal records are
// rejected alike, so this is where their duplicates are found.
type RejectWriter struct {
	seen map[[16]byte]struct{}
	mem  memory.Allocator
}

// NewRejectWriter returns a writer with no rejects seen yet.
func NewRejectWriter(mem memory.Allocator) *RejectWriter {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &RejectWriter{seen: map[[16]byte]struct{}{}, mem: mem}
}

type reject struct {
	line                  int64
	column, reason, value string
}

// Source writes one source's rejects CSV to w: staged rejects come from
// next (the splits' chunks in order, each sorted by line; next returns
// false after the last), late rejects (the finalizers', not deduplicated)
// are merged in by line. dedupe is the source's mapping setting.
func (rw *RejectWriter) Source(w io.Writer, source string, dedupe bool, next func() ([]byte, bool, error), late [][]byte) (RejectCounts, error) {
	counts := RejectCounts{ByReason: map[string]int64{}}
	var lates []reject
	for _, data := range late {
		err := rw.each(data, func(r reject, _ [16]byte) error {
			lates = append(lates, r)
			return nil
		})
		if err != nil {
			return counts, err
		}
	}
	sort.SliceStable(lates, func(i, j int) bool { return lates[i].line < lates[j].line })
	cw := csv.NewWriter(w)
	if err := cw.Write(RejectsHeader); err != nil {
		return counts, err
	}
	write := func(r reject) error {
		counts.Rejected++
		counts.ByReason[r.reason]++
		return cw.Write([]string{source, strconv.FormatInt(r.line, 10), r.column, r.reason, r.value})
	}
	flushLate := func(before int64) error {
		for len(lates) > 0 && lates[0].line < before {
			if err := write(lates[0]); err != nil {
				return err
			}
			lates = lates[1:]
		}
		return nil
	}
	for {
		data, ok, err := next()
		if err != nil {
			return counts, err
		}
		if !ok {
			break
		}
		err = rw.each(data, func(r reject, fp [16]byte) error {
			if dedupe {
				if _, dup := rw.seen[fp]; dup {
					counts.Duplicates++
					return nil
				}
				rw.seen[fp] = struct{}{}
			}
			if err := flushLate(r.line); err != nil {
				return err
			}
			return write(r)
		})
		if err != nil {
			return counts, err
		}
	}
	if err := flushLate(1 << 62); err != nil {
		return counts, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return counts, fmt.Errorf("rejects of %s: %w", source, err)
	}
	return counts, nil
}

func (rw *RejectWriter) each(data []byte, fn func(reject, [16]byte) error) error {
	return arrowio.Each(data, RejectSchema, rw.mem, func(rec arrow.Record) error {
		lines := rec.Column(0).(*array.Int64)
		fps := rec.Column(1).(*array.FixedSizeBinary)
		col, reason, val := rec.Column(2).(*array.String), rec.Column(3).(*array.String), rec.Column(4).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			var fp [16]byte
			copy(fp[:], fps.Value(i))
			r := reject{line: lines.Value(i), column: strings.Clone(col.Value(i)), reason: strings.Clone(reason.Value(i)), value: strings.Clone(val.Value(i))}
			if err := fn(r, fp); err != nil {
				return err
			}
		}
		return nil
	})
}
