package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/evaluate"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/mapping"
)

// OutcomeRows accounts for every record of the outcome files an
// evaluation read through a mapping: each is rejected by the mapping
// (with its reason), skipped by a skip rule, an exact duplicate (sources
// that dedupe), or accepted; accepted purchases in the window without a
// user cannot be joined to the plan and are counted apart.
type OutcomeRows struct {
	Read       int64            `json:"read"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	Skipped    int64            `json:"skipped"`
	Duplicates int64            `json:"duplicates"`
	NoUser     int64            `json:"no_user"`             // accepted purchases in the window without a user id
	ByReason   map[string]int64 `json:"by_reason,omitempty"` // rejected and skipped records, by reason
}

// readOutcomes reads the purchases in [in.Start, in.End) of the outcome
// files of in (keys, and prefixes listed now) into outcomes, adds their
// count to out.Purchases and returns the keys read. Without a mapping the
// files are canonical event CSV (evaluate.ReadOutcomes: a bad line fails
// the evaluation); with one, its events sources read them as ingest reads
// a run's inputs (CSV, JSON Lines, Parquet, gzip), and out.OutcomeRows
// accounts for the records it rejects.
func (a *Activities) readOutcomes(ctx context.Context, in EvaluateCampaignInput, outcomes map[string]*evaluate.Outcome, out *EvaluateCampaignOutput) ([]string, error) {
	keys, err := a.expandKeys(ctx, in.Outcomes, nil)
	if err != nil {
		return nil, err
	}
	if in.Mapping == "" {
		for _, k := range keys {
			data, err := a.Store.Get(ctx, k)
			if err != nil {
				return nil, err
			}
			n, err := evaluate.ReadOutcomes(bytes.NewReader(data), k, in.Start, in.End, outcomes)
			if err != nil {
				return nil, &corruptError{key: k, err: err}
			}
			out.Purchases += n
		}
		return keys, nil
	}
	m, err := loadMapping(in.Mapping)
	if err != nil {
		return nil, err
	}
	rows := &OutcomeRows{ByReason: map[string]int64{}}
	seen := map[*mapping.Source]map[[16]byte]bool{}
	for _, k := range keys {
		var sources []*mapping.Source
		for _, s := range m.Match(k) {
			if s.Table == canon.EventsTable {
				sources = append(sources, s)
			}
		}
		if len(sources) == 0 {
			return nil, &ingest.BadInputError{Source: k, Msg: "no events source of the outcomes mapping matches this file name"}
		}
		for _, s := range sources {
			if seen[s] == nil {
				seen[s] = map[[16]byte]bool{}
			}
			n, err := a.readMappedOutcomes(ctx, k, s, in.Start, in.End, outcomes, rows, seen[s])
			if err != nil {
				return nil, err
			}
			out.Purchases += n
		}
	}
	out.OutcomeRows = rows
	return keys, nil
}

// readMappedOutcomes reads one outcome file through events source s.
func (a *Activities) readMappedOutcomes(ctx context.Context, key string, s *mapping.Source, start, end time.Time,
	outcomes map[string]*evaluate.Outcome, rows *OutcomeRows, seen map[[16]byte]bool) (purchases int, err error) {
	f, err := a.file(ctx, key, s)
	if err != nil {
		return 0, err
	}
	prog, err := f.Compile(ctx, s)
	if err != nil {
		return 0, err
	}
	splits := ingest.Whole()
	if f.Format == mapping.Parquet {
		if splits, err = f.Plan(ctx, 1<<40); err != nil {
			return 0, err
		}
	}
	// A mapping that evidently does not fit the file fails here, as it
	// fails a run's ingest, rather than rejecting every row.
	if _, err := f.Check(ctx, prog, splits[0]); err != nil {
		return 0, err
	}
	t := canon.EventsTable
	user, ts, typ, qty, price, order := t.Index("user_id"), t.Index("ts"), t.Index("type"), t.Index("quantity"), t.Index("price"), t.Index("order_id")
	var row mapping.Row
	for _, sp := range splits {
		rd, closeFn, err := f.Reader(ctx, sp, ingest.Position{}, prog)
		if err != nil {
			return purchases, err
		}
		for {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				closeFn()
				return purchases, fmt.Errorf("%s: %w", key, err)
			}
			rows.Read++
			if rec.Err != "" {
				rows.Rejected++
				rows.ByReason[rec.Err]++
				continue
			}
			if s.Dedupe {
				if seen[rec.FP] {
					rows.Duplicates++
					continue
				}
				seen[rec.FP] = true
			}
			prog.Eval(rec.Fields, rec.Null, &row)
			if row.Fail.Reason != "" {
				if row.Fail.Skip {
					rows.Skipped++
				} else {
					rows.Rejected++
				}
				rows.ByReason[row.Fail.Reason]++
				continue
			}
			rows.Accepted++
			for _, r := range row.Rows {
				if r[typ].Str != "purchase" {
					continue
				}
				at := time.UnixMilli(r[ts].Int)
				if at.Before(start) || !at.Before(end) {
					continue
				}
				if r[user].Null || r[user].Str == "" {
					rows.NoUser++
					continue
				}
				evaluate.AddPurchase(outcomes, r[user].Str, r[order].Str, float64(r[qty].Int)*r[price].Float)
				purchases++
			}
		}
		closeFn()
	}
	return purchases, nil
}
