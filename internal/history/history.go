// Package history is a template's campaign history as the closed loop keeps
// it: after a campaign's window, its evaluation turns the plan and the
// outcomes into one row per user who was randomized (canon.HistoryTable),
// stored as history/<template>/<campaign>.parquet; later decisions of the
// template read those objects and learn per-user offer effects from them.
package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/evaluate"
)

// ControlArm is the arm of users who got no offer: held out, or not chosen.
const ControlArm = "control"

// Row is one user's row of a campaign's history (canon.HistoryTable).
type Row struct {
	UserID      string
	Campaign    string
	Arm         string // the offer, or ControlArm
	SentAt      time.Time
	Probability float64 // assignment probability of Arm, in (0, 1]
	Responded   bool
	Conversions int64
	Revenue     float64
	Explore     bool
	Holdout     bool
	WindowStart time.Time
	WindowEnd   time.Time
	RunID       string // the run whose features the decision used
}

// FromPlan turns an evaluated plan (outcomes joined) into history rows.
// Only users the campaign's randomization could have treated otherwise
// are kept: the control group, and users whose assignment probability is
// below 1. Users outside the audience, suppressed or without any eligible
// offer (probability 1, no offer) teach nothing about offers: they are
// counted in skipped. Plans without logged probabilities (written before
// the plan had them) cannot feed the history: ErrNoProbabilities.
func FromPlan(rows []evaluate.Row, campaignID, runID string, start, end time.Time) (out []Row, skipped int, err error) {
	for i, r := range rows {
		p := r.AssignmentProbability
		if math.IsNaN(p) {
			return nil, len(rows), ErrNoProbabilities
		}
		if !(p > 0 && p <= 1) {
			return nil, 0, fmt.Errorf("history: plan row %d (user %s): assignment_probability %v not in (0, 1]", i+1, r.UserID, p)
		}
		treated := !r.Control && r.Offer != campaign.None && r.Offer != ""
		if !r.Control && !treated && p == 1 {
			skipped++
			continue
		}
		arm := ControlArm
		if treated {
			arm = r.Offer
		}
		out = append(out, Row{
			UserID: r.UserID, Campaign: campaignID, Arm: arm, SentAt: start, Probability: p,
			Responded: r.Responded, Conversions: r.Conversions, Revenue: r.Revenue,
			Explore: r.Explore, Holdout: r.Control, WindowStart: start, WindowEnd: end, RunID: runID,
		})
	}
	return out, skipped, nil
}

// ErrNoProbabilities is FromPlan's error for plans without an
// assignment_probability column.
var ErrNoProbabilities = errors.New("history: the plan has no assignment probabilities (written before they were logged)")

// RowOf is the row of canonical history values v (canon.HistoryTable's
// columns, in order): nulls read as zero values, a null assignment
// probability as NaN (unknown).
func RowOf(v []canon.Value) Row {
	r := Row{
		UserID: v[0].Str, Campaign: v[1].Str, Arm: v[2].Str, Probability: math.NaN(),
		Responded: v[5].Bool, Conversions: v[6].Int, Revenue: v[7].Float, Explore: v[8].Bool, Holdout: v[9].Bool,
		RunID: v[12].Str,
	}
	if !v[3].Null {
		r.SentAt = v[3].Time()
	}
	if !v[4].Null {
		r.Probability = v[4].Float
	}
	if !v[10].Null {
		r.WindowStart = v[10].Time()
	}
	if !v[11].Null {
		r.WindowEnd = v[11].Time()
	}
	return r
}

// Write writes rows as Parquet with canon.HistoryTable's schema. The bytes
// depend only on the rows.
func Write(w io.Writer, rows []Row, mem memory.Allocator) error {
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithCompression(compress.Codecs.Snappy), parquet.WithCreatedBy("promoflow"))
	fw, err := pqarrow.NewFileWriter(canon.HistoryTable.Schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return fmt.Errorf("history parquet: %w", err)
	}
	b := canon.NewRowBuilder(mem, canon.HistoryTable.Schema, canon.HistoryTable.Kinds())
	defer b.Release()
	ts := func(t time.Time) canon.Value { return canon.Value{Int: t.UnixMilli()} }
	flush := func() error {
		rec := b.NewRecord()
		defer rec.Release()
		return fw.Write(rec)
	}
	for _, r := range rows {
		b.Append([]canon.Value{
			{Str: r.UserID}, {Str: r.Campaign}, {Str: r.Arm}, ts(r.SentAt), {Float: r.Probability},
			{Bool: r.Responded}, {Int: r.Conversions}, {Float: r.Revenue}, {Bool: r.Explore}, {Bool: r.Holdout},
			ts(r.WindowStart), ts(r.WindowEnd), {Str: r.RunID},
		})
		b.Done()
		if b.Len() == 65536 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if b.Len() > 0 || len(rows) == 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return fw.Close()
}

// Read reads a history object written by Write (or any Parquet file with
// canon.HistoryTable's columns). Nulls read as zero values, a null
// assignment probability as NaN.
func Read(data []byte, mem memory.Allocator) ([]Row, error) {
	pf, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, fmt.Errorf("history parquet: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 65536}, mem)
	if err != nil {
		return nil, fmt.Errorf("history parquet: %w", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("history parquet: %w", err)
	}
	defer tbl.Release()
	t := canon.HistoryTable
	idx := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		f := tbl.Schema().FieldIndices(c.Name)
		if len(f) == 0 {
			return nil, fmt.Errorf("history parquet: no column %q", c.Name)
		}
		if !arrow.TypeEqual(tbl.Schema().Field(f[0]).Type, c.Kind.ArrowType()) {
			return nil, fmt.Errorf("history parquet: column %q is %s, want %s", c.Name, tbl.Schema().Field(f[0]).Type, c.Kind.ArrowType())
		}
		idx[i] = f[0]
	}
	tr := array.NewTableReader(tbl, 65536)
	defer tr.Release()
	var out []Row
	v := make([]canon.Value, len(t.Columns))
	for tr.Next() {
		rec := tr.Record()
		for r := range int(rec.NumRows()) {
			for i, c := range t.Columns {
				v[i] = canon.ValueAt(rec.Column(idx[i]), c.Kind, r)
			}
			out = append(out, RowOf(v))
		}
	}
	return out, tr.Err()
}
