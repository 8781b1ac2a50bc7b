// Package uplift estimates per-user effects of several offers (arms)
// against control from campaign history, with forests as base learners,
// and chooses among learners by cross-validated policy value.
//
// A history is a table with one row per user: the arm received, the
// outcome (binary or continuous, such as revenue), optionally the logged
// propensity of the arm received, and feature columns, numeric or
// categorical. Prepare encodes it into Data and puts every user in one of
// K folds by a salted hash of their id. Cross-fitting then runs in two
// steps, each once per fold, so each can be a parallel activity:
//
//  1. Nuisance: per arm, an outcome forest on the rows of that arm outside
//     the fold predicts the fold's rows (out-of-fold outcome predictions).
//  2. Effects: each learner (T, X, DR) is fit on the rows outside the fold,
//     using the out-of-fold outcome predictions where it needs them, and
//     predicts the fold's per-arm effects.
//
// Evaluate turns the out-of-fold predictions into the report: per-arm
// effects, each learner's cross-validated policy value, the chosen
// learner's Qini curves and its policy at budgets (package policy).
// Analyze does it all in one process. Fit then fits the chosen learner on
// every row into a Model that predicts new users.
//
// A history logged by a targeting decision (NewData, or Prepare with a
// propensity column) is confounded; forests then weigh rows by inverse
// propensity (Config.Weighting).
package uplift

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/promoflow/promoflow/internal/shard"
)

// Table is a parsed CSV file: a header and rows of strings.
type Table struct {
	Header []string
	Rows   [][]string
}

// ReadTable reads CSV with a header row. A UTF-8 byte-order mark and CRLF
// line ends are accepted; every row must have as many fields as the header.
func ReadTable(r io.Reader) (*Table, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	cr := csv.NewReader(bytes.NewReader(data))
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("uplift: header: %w", err)
	}
	t := &Table{Header: header}
	for i := range t.Header {
		t.Header[i] = strings.TrimSpace(t.Header[i])
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("uplift: %w", err)
		}
		t.Rows = append(t.Rows, rec)
	}
	return t, nil
}

// Col returns the index of column name, or -1.
func (t *Table) Col(name string) int { return slices.Index(t.Header, name) }

// Spec says how to read a history table.
type Spec struct {
	ArmCol     string   // the arm received
	Control    string   // the arm value of control (no offer)
	OutcomeCol string   // the outcome
	Features   []string // feature columns; empty means every column not named below
	// IDCol names the user id column; empty means "user_id" or "id" if
	// present, else the row number.
	IDCol string
	// PropensityCol names a column with the logged probability of the arm
	// received. Empty means the history was randomized with the arms'
	// shares as probabilities.
	PropensityCol string
	Exclude       []string // columns never used as features
}

// MaxLevels is the most categories of one column that get a feature of
// their own; rarer ones share "<column>=other".
const MaxLevels = 16

// Column describes how one feature column is encoded.
type Column struct {
	Name string `json:"name"`
	// Levels are the categories with a 0/1 feature each, most frequent
	// first; empty for a numeric column.
	Levels []string `json:"levels,omitempty"`
	Other  bool     `json:"other,omitempty"` // rarer levels share a feature
}

// Encoding turns feature columns into numbers: numeric columns as they are
// (missing as NaN), categorical ones one-hot.
type Encoding struct {
	Columns []Column `json:"columns"`
}

// Names returns the encoded feature names: a numeric column's name,
// "<column>=<level>" per level and "<column>=other".
func (e *Encoding) Names() []string {
	var out []string
	for _, c := range e.Columns {
		if len(c.Levels) == 0 && !c.Other {
			out = append(out, c.Name)
			continue
		}
		for _, l := range c.Levels {
			out = append(out, c.Name+"="+l)
		}
		if c.Other {
			out = append(out, c.Name+"=other")
		}
	}
	return out
}

// missing reports whether a field is a missing value.
func missing(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "na", "n/a", "nan", "null", "none":
		return true
	}
	return false
}

// parse parses a numeric field.
func parse(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err == nil && math.IsInf(v, 0) {
		return 0, fmt.Errorf("infinite value %q", s)
	}
	return v, err
}

// learnEncoding decides for each column whether it is numeric (every
// present value parses) or categorical, and picks the levels.
func learnEncoding(t *Table, cols []int) Encoding {
	var e Encoding
	for _, j := range cols {
		c := Column{Name: t.Header[j]}
		numeric := true
		counts := map[string]int{}
		for _, r := range t.Rows {
			v := r[j]
			if missing(v) {
				continue
			}
			if numeric {
				if _, err := parse(v); err != nil {
					numeric = false
				}
			}
			counts[strings.TrimSpace(v)]++
		}
		if !numeric {
			levels := make([]string, 0, len(counts))
			for l := range counts {
				levels = append(levels, l)
			}
			slices.SortFunc(levels, func(a, b string) int {
				return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
			})
			if len(levels) > MaxLevels {
				c.Other = true
				levels = levels[:MaxLevels]
			}
			c.Levels = levels
		}
		e.Columns = append(e.Columns, c)
	}
	return e
}

// encode appends the encoding of one row's feature fields to dst.
func (e *Encoding) encode(dst []float64, fields []string) []float64 {
	for k, c := range e.Columns {
		v := fields[k]
		if len(c.Levels) == 0 && !c.Other {
			x := math.NaN()
			if !missing(v) {
				x, _ = parse(v)
			}
			dst = append(dst, x)
			continue
		}
		v = strings.TrimSpace(v)
		hit := false
		for _, l := range c.Levels {
			if !missing(v) && v == l {
				dst = append(dst, 1)
				hit = true
			} else {
				dst = append(dst, 0)
			}
		}
		if c.Other {
			dst = append(dst, b2f(!hit && !missing(v)))
		}
	}
	return dst
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Data is an encoded campaign history.
type Data struct {
	IDs      []string
	Arms     []string // arm values; Arms[0] is control
	Features []string // encoded feature names
	X        [][]float64
	A        []int     // arm index per row
	Y        []float64 // outcome
	P        []float64 // propensity of the arm received
	Fold     []int
	Folds    int
	// Logged reports whether P was logged with the history; otherwise P
	// is the arm shares of a history taken to be randomized.
	Logged bool
}

// Rows returns the number of rows.
func (d *Data) Rows() int { return len(d.A) }

// Binary reports whether every outcome is 0 or 1.
func (d *Data) Binary() bool {
	for _, y := range d.Y {
		if y != 0 && y != 1 {
			return false
		}
	}
	return true
}

// Info describes how a table was read.
type Info struct {
	Rows       int      `json:"rows"`
	Dropped    int      `json:"dropped"` // rows without an arm or outcome
	Arms       []string `json:"arms"`
	Features   []string `json:"features"` // encoded feature names
	Encoding   Encoding `json:"encoding"`
	Propensity string   `json:"propensity"` // how propensities were obtained
	IDCol      string   `json:"id_col"`
	Binary     bool     `json:"binary_outcome"`
}

// Prepare reads table t by spec into Data with users in folds folds, by a
// hash of their id salted with seed; rows are ordered by fold, then as in
// the table. Rows without an arm or an outcome are dropped and counted.
// Errors name the offending column.
func Prepare(t *Table, spec Spec, folds int, seed int64) (*Data, Info, error) {
	var info Info
	if folds < 2 {
		return nil, info, fmt.Errorf("uplift: %d folds, want at least 2", folds)
	}
	col := func(name, what string) (int, error) {
		j := t.Col(name)
		if j < 0 {
			return -1, fmt.Errorf("uplift: %s column %q not in header %q", what, name, t.Header)
		}
		return j, nil
	}
	armJ, err := col(spec.ArmCol, "arm")
	if err != nil {
		return nil, info, err
	}
	yJ, err := col(spec.OutcomeCol, "outcome")
	if err != nil {
		return nil, info, err
	}
	idJ, propJ := -1, -1
	switch {
	case spec.IDCol != "":
		if idJ, err = col(spec.IDCol, "id"); err != nil {
			return nil, info, err
		}
	case t.Col("user_id") >= 0:
		idJ = t.Col("user_id")
	case t.Col("id") >= 0:
		idJ = t.Col("id")
	}
	if idJ >= 0 {
		info.IDCol = t.Header[idJ]
	}
	if spec.PropensityCol != "" {
		if propJ, err = col(spec.PropensityCol, "propensity"); err != nil {
			return nil, info, err
		}
	}
	skip := map[int]bool{armJ: true, yJ: true, idJ: true, propJ: true}
	var featJ []int
	if len(spec.Features) > 0 {
		for _, f := range spec.Features {
			j, err := col(f, "feature")
			if err != nil {
				return nil, info, err
			}
			if skip[j] {
				return nil, info, fmt.Errorf("uplift: feature %q is also the id, arm, outcome or propensity column", f)
			}
			featJ = append(featJ, j)
		}
	} else {
		for j, h := range t.Header {
			if !skip[j] && !slices.Contains(spec.Exclude, h) {
				featJ = append(featJ, j)
			}
		}
	}
	if len(featJ) == 0 {
		return nil, info, errors.New("uplift: no feature columns")
	}

	// Arms: control first, then the other values in sorted order.
	seen := map[string]bool{}
	var others []string
	controlSeen := false
	for _, r := range t.Rows {
		v := strings.TrimSpace(r[armJ])
		if missing(v) || seen[v] {
			continue
		}
		seen[v] = true
		if v == spec.Control {
			controlSeen = true
		} else {
			others = append(others, v)
		}
	}
	if !controlSeen {
		return nil, info, fmt.Errorf("uplift: control value %q never appears in column %q", spec.Control, spec.ArmCol)
	}
	if len(others) == 0 {
		return nil, info, fmt.Errorf("uplift: column %q has only the control value %q", spec.ArmCol, spec.Control)
	}
	slices.SortFunc(others, naturalCompare)
	arms := append([]string{spec.Control}, others...)
	armOf := map[string]int{}
	for i, a := range arms {
		armOf[a] = i
	}

	kept := &Table{Header: t.Header}
	for _, r := range t.Rows {
		if missing(r[armJ]) || missing(r[yJ]) {
			info.Dropped++
			continue
		}
		if _, err := parse(r[yJ]); err != nil {
			return nil, info, fmt.Errorf("uplift: outcome column %q: %w", spec.OutcomeCol, err)
		}
		kept.Rows = append(kept.Rows, r)
	}
	enc := learnEncoding(kept, featJ)
	d := &Data{Arms: arms, Features: enc.Names(), Folds: folds, Logged: propJ >= 0}
	fields := make([]string, len(featJ))
	for i, r := range kept.Rows {
		id := strconv.Itoa(i + 1)
		if idJ >= 0 {
			id = strings.TrimSpace(r[idJ])
		}
		y, _ := parse(r[yJ])
		p := math.NaN()
		if propJ >= 0 {
			v, err := parse(r[propJ])
			if err != nil || !(v > 0 && v <= 1) {
				return nil, info, fmt.Errorf("uplift: propensity column %q, row %d: %q is not in (0, 1]", spec.PropensityCol, i+2, r[propJ])
			}
			p = v
		}
		for k, j := range featJ {
			fields[k] = r[j]
		}
		d.IDs = append(d.IDs, id)
		d.A = append(d.A, armOf[strings.TrimSpace(r[armJ])])
		d.Y = append(d.Y, y)
		d.P = append(d.P, p)
		d.X = append(d.X, enc.encode(make([]float64, 0, len(d.Features)), fields))
	}
	if d.Rows() == 0 {
		return nil, info, errors.New("uplift: no rows with an arm and an outcome")
	}
	d.assign(seed)
	info.Propensity = "logged: column " + spec.PropensityCol
	if !d.Logged {
		info.Propensity = "randomized: arm shares"
	}
	info.Rows, info.Arms, info.Features, info.Encoding, info.Binary = d.Rows(), arms, d.Features, enc, d.Binary()
	return d, info, nil
}

// assign puts every row in a fold by a hash of its id salted with seed,
// orders rows by fold, and, unless the propensities were logged, sets
// them to the arm shares.
func (d *Data) assign(seed int64) {
	salt := fmt.Sprintf("%d/uplift-fold", seed)
	d.Fold = make([]int, len(d.IDs))
	for i, id := range d.IDs {
		d.Fold[i] = min(d.Folds-1, int(shard.Unit(salt, id)*float64(d.Folds)))
	}
	d.sortByFold()
	if !d.Logged {
		counts := make([]float64, len(d.Arms))
		for _, a := range d.A {
			counts[a]++
		}
		for i, a := range d.A {
			d.P[i] = counts[a] / float64(d.Rows())
		}
	}
}

// NewData builds Data from rows in memory, as Prepare does from a table:
// users in folds folds by a hash of their id salted with seed, rows
// ordered by fold, then as given. arms[0] is control; a[i] indexes arms;
// x[i] holds the values of features (NaN is missing) and is kept, not
// copied. p[i] is the logged probability of the arm row i received, in
// (0, 1]; if every p is NaN (unknown), the history is taken to be
// randomized and P is the arm shares, with Logged false.
func NewData(ids, arms, features []string, x [][]float64, a []int, y, p []float64, folds int, seed int64) (*Data, error) {
	n := len(ids)
	switch {
	case folds < 2:
		return nil, fmt.Errorf("uplift: %d folds, want at least 2", folds)
	case len(arms) < 2:
		return nil, fmt.Errorf("uplift: arms %q, want control and at least one offer", arms)
	case len(features) == 0:
		return nil, errors.New("uplift: no features")
	case n == 0:
		return nil, errors.New("uplift: no rows")
	case len(x) != n || len(a) != n || len(y) != n || len(p) != n:
		return nil, fmt.Errorf("uplift: %d ids, %d feature rows, %d arms, %d outcomes, %d propensities; want as many of each", n, len(x), len(a), len(y), len(p))
	}
	for i, name := range arms {
		if slices.Contains(arms[:i], name) {
			return nil, fmt.Errorf("uplift: arm %q twice", name)
		}
	}
	unknown := 0
	for i := range n {
		switch {
		case len(x[i]) != len(features):
			return nil, fmt.Errorf("uplift: row %d (id %q) has %d feature values, want %d", i, ids[i], len(x[i]), len(features))
		case a[i] < 0 || a[i] >= len(arms):
			return nil, fmt.Errorf("uplift: row %d (id %q) has arm %d, want 0..%d", i, ids[i], a[i], len(arms)-1)
		case math.IsNaN(y[i]) || math.IsInf(y[i], 0):
			return nil, fmt.Errorf("uplift: row %d (id %q) has outcome %v", i, ids[i], y[i])
		case math.IsNaN(p[i]):
			unknown++
		case !(p[i] > 0 && p[i] <= 1):
			return nil, fmt.Errorf("uplift: row %d (id %q) has propensity %v, want (0, 1] or NaN", i, ids[i], p[i])
		}
		for j, v := range x[i] {
			if math.IsInf(v, 0) {
				return nil, fmt.Errorf("uplift: row %d (id %q) feature %q is %v; use NaN for missing", i, ids[i], features[j], v)
			}
		}
	}
	if unknown > 0 && unknown < n {
		// Mixing logged and share propensities would weigh rows
		// inconsistently.
		return nil, fmt.Errorf("uplift: %d of %d propensities unknown (NaN), want all or none", unknown, n)
	}
	d := &Data{
		IDs: slices.Clone(ids), Arms: slices.Clone(arms), Features: slices.Clone(features),
		X: slices.Clone(x), A: slices.Clone(a), Y: slices.Clone(y), P: slices.Clone(p),
		Folds: folds, Logged: unknown == 0,
	}
	d.assign(seed)
	return d, nil
}

// sortByFold orders rows by fold, keeping the table's order within a fold,
// so that each fold is a contiguous range of rows and the folds, stored
// one by one, concatenate back to the same Data.
func (d *Data) sortByFold() {
	idx := make([]int, d.Rows())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(d.Fold[a], d.Fold[b]) })
	ids, x, a, y, p, fold := d.IDs, d.X, d.A, d.Y, d.P, d.Fold
	d.IDs, d.X, d.A, d.Y, d.P, d.Fold = nil, nil, nil, nil, nil, nil
	for _, i := range idx {
		d.IDs = append(d.IDs, ids[i])
		d.X = append(d.X, x[i])
		d.A = append(d.A, a[i])
		d.Y = append(d.Y, y[i])
		d.P = append(d.P, p[i])
		d.Fold = append(d.Fold, fold[i])
	}
}

// naturalCompare orders numbers numerically before other strings.
func naturalCompare(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Or(cmp.Compare(x, y), cmp.Compare(a, b))
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
