// Package ingest parses delivered event files into the canonical events
// table, accounts for every row, and routes accepted rows to shards.
package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
)

// Reject is one input row that was not accepted.
type Reject struct {
	Line   int    // 1-based line in the source where the record starts
	Column string // column that failed, empty for whole-row problems
	Reason string // short, stable, countable: "bad ts", "unknown type", ...
	Value  string // the offending value (or the raw row)
}

// Result accounts for every row of one source: RowsRead = Accepted +
// Duplicates + Rejected.
type Result struct {
	Source     string           `json:"source"`
	RowsRead   int64            `json:"rows_read"`
	Accepted   int64            `json:"accepted"`
	Duplicates int64            `json:"duplicates"`
	Rejected   int64            `json:"rejected"`
	ByReason   map[string]int64 `json:"by_reason,omitempty"`
	MinTS      time.Time        `json:"min_ts"`
	MaxTS      time.Time        `json:"max_ts"`
}

// BadInputError means the input as a whole cannot be read as configured (a
// missing column, a column most rows fail to parse). Retrying cannot help.
type BadInputError struct {
	Source  string
	Line    int
	Column  string
	Example string
	Msg     string
}

func (e *BadInputError) Error() string {
	s := e.Source
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Column != "" {
		s += fmt.Sprintf(": column %q", e.Column)
	}
	s += ": " + e.Msg
	if e.Example != "" {
		s += fmt.Sprintf(" (example value %q)", e.Example)
	}
	return s
}

// required columns of canonical event CSV; the others default to empty.
var required = []string{"user_id", "ts", "type"}

// earlyRows is how many rows are read before a mostly failing column is
// judged to be a wrong mapping rather than bad rows.
const earlyRows = 1000

// ReadCSV reads canonical event CSV (header row with the names of
// canon.EventColumns, any order, extra columns ignored) from r. Accepted
// events go to accept, rejected rows to reject; both are called in input
// order. progress, if not nil, is called every 10,000 rows with the rows read.
func ReadCSV(r io.Reader, source string, accept func(canon.Event) error, reject func(Reject) error, progress func(rows int64)) (Result, error) {
	res := Result{Source: source, ByReason: map[string]int64{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return res, &BadInputError{Source: source, Line: 1, Msg: "empty file, no header"}
		}
		return res, &BadInputError{Source: source, Line: 1, Msg: "unreadable header: " + err.Error()}
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		col[strings.ToLower(h)] = i
	}
	for _, name := range required {
		if _, ok := col[name]; !ok {
			return res, &BadInputError{Source: source, Line: 1, Column: name,
				Msg: fmt.Sprintf("required column missing; header is %q", strings.Join(header, ","))}
		}
	}
	idx := make([]int, len(canon.EventColumns))
	for i, name := range canon.EventColumns {
		if j, ok := col[name]; ok {
			idx[i] = j
		} else {
			idx[i] = -1
		}
	}
	// Counts per column of early failures, to tell a wrong mapping from bad rows.
	early := map[string]int{}
	earlyExample := map[string]Reject{}

	fail := func(rj Reject) error {
		res.Rejected++
		res.ByReason[rj.Reason]++
		if res.RowsRead <= earlyRows && rj.Column != "" {
			early[rj.Column]++
			if _, ok := earlyExample[rj.Column]; !ok {
				earlyExample[rj.Column] = rj
			}
		}
		return reject(rj)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		res.RowsRead++
		if progress != nil && res.RowsRead%10000 == 0 {
			progress(res.RowsRead)
		}
		if res.RowsRead == earlyRows {
			if err := judgeEarly(source, res.RowsRead, early, earlyExample); err != nil {
				return res, err
			}
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
				if err := fail(Reject{Line: line, Reason: "csv syntax", Value: pe.Err.Error()}); err != nil {
					return res, err
				}
				continue
			}
			return res, fmt.Errorf("%s: line %d: %w", source, line, err)
		}
		if len(rec) != len(header) {
			if err := fail(Reject{Line: line, Reason: "field count", Value: fmt.Sprintf("%d fields, header has %d", len(rec), len(header))}); err != nil {
				return res, err
			}
			continue
		}
		e, rj, ok := parseEvent(rec, idx)
		if !ok {
			rj.Line = line
			if err := fail(rj); err != nil {
				return res, err
			}
			continue
		}
		if res.Accepted == 0 || e.TS.Before(res.MinTS) {
			res.MinTS = e.TS
		}
		if res.Accepted == 0 || e.TS.After(res.MaxTS) {
			res.MaxTS = e.TS
		}
		res.Accepted++
		if err := accept(e); err != nil {
			return res, err
		}
	}
	if res.RowsRead > 0 && res.RowsRead < earlyRows {
		if err := judgeEarly(source, res.RowsRead, early, earlyExample); err != nil {
			return res, err
		}
	}
	return res, nil
}

// judgeEarly fails the whole input when one column breaks in most of the
// first rows: that is a wrong file or mapping, not a few bad rows.
func judgeEarly(source string, rows int64, early map[string]int, examples map[string]Reject) error {
	for _, name := range canon.EventColumns {
		if n := early[name]; n >= 10 && int64(n)*2 > rows {
			ex := examples[name]
			return &BadInputError{Source: source, Line: ex.Line, Column: name, Example: ex.Value,
				Msg: fmt.Sprintf("%s in %d of the first rows: wrong file or mapping", ex.Reason, n)}
		}
	}
	return nil
}

var tsLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"}

// ParseTime reads a timestamp in RFC 3339 or a plain "2006-01-02 15:04:05"
// layout; times without a zone are UTC.
func ParseTime(s string) (time.Time, bool) {
	for _, layout := range tsLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseEvent(rec []string, idx []int) (canon.Event, Reject, bool) {
	get := func(i int) string {
		if idx[i] < 0 {
			return ""
		}
		return strings.TrimSpace(rec[idx[i]])
	}
	var e canon.Event
	e.UserID = get(0)
	if e.UserID == "" {
		return e, Reject{Column: "user_id", Reason: "missing user_id"}, false
	}
	ts, ok := ParseTime(get(1))
	if !ok {
		return e, Reject{Column: "ts", Reason: "bad ts", Value: get(1)}, false
	}
	e.TS = ts
	e.Type = strings.ToLower(get(2))
	if !canon.ValidType(e.Type) {
		return e, Reject{Column: "type", Reason: "unknown type", Value: get(2)}, false
	}
	e.ItemID, e.Category, e.Text = get(3), get(4), get(5)
	if q := get(6); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil {
			return e, Reject{Column: "quantity", Reason: "bad quantity", Value: q}, false
		}
		e.Quantity = n
	}
	if p := get(7); p != "" {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f != f {
			return e, Reject{Column: "price", Reason: "bad price", Value: p}, false
		}
		e.Price = f
	}
	e.OrderID, e.Channel = get(8), get(9)
	return e, Reject{}, true
}
