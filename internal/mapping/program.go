package mapping

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
)

// MissingColumnError is a column the mapping reads that the file does not
// have.
type MissingColumnError struct {
	Column string
	Have   []string
}

func (e *MissingColumnError) Error() string {
	return fmt.Sprintf("column %q not in the file (it has %s)", e.Column, strings.Join(e.Have, ", "))
}

// Program is a source of a mapping bound to one file's columns: it turns
// the file's records into rows of the source's table.
type Program struct {
	Source  *Source
	Table   *canon.Table
	Columns []string // the file's columns, by index (for JSON Lines: the columns the mapping reads)
	user    int      // table column of user_id
	needed  map[int]bool
	checked []bool // by table column: Table.Check can reject its values
	ts      int    // table column of an event's ts; -1 for other tables
	// notAfter is the latest event time accepted, Unix milliseconds; 0
	// means no limit (SetNotAfter).
	notAfter int64
}

// ReasonAfterStart is the reject reason of an event later than the run's
// start (plus its tolerance): SetNotAfter.
const ReasonAfterStart = "ts after the run's start"

// SetNotAfter makes the program reject events whose ts is later than t,
// with ReasonAfterStart: a run reads no events from its future, so a
// mistyped date (2099) cannot become the run's end and move every recency.
// The zero time removes the limit. Only the events table has the limit.
func (p *Program) SetNotAfter(t time.Time) {
	p.notAfter = 0
	if !t.IsZero() && p.ts >= 0 {
		p.notAfter = t.UnixMilli()
	}
}

// Needed reports whether column i of Columns is read by a column that is
// not optional or by a skip rule: a file without it cannot be mapped.
func (p *Program) Needed(i int) bool { return p.needed[i] }

// Compile binds s to a file with the given columns (CSV header, Parquet
// schema). Names match exactly, else case-insensitively when that is
// unambiguous. With columns nil (JSON Lines, whose keys are not known in
// advance) every column the mapping reads becomes a column, in order of
// first use; Columns lists them.
func Compile(s *Source, columns []string) (*Program, error) {
	p := &Program{Source: s, Table: s.Table, user: s.Table.Index("user_id"), needed: map[int]bool{}, ts: -1}
	if s.Table == canon.EventsTable {
		p.ts = s.Table.Index("ts")
	}
	for i := range s.Table.Columns {
		p.checked = append(p.checked, s.Table.Checked(i))
	}
	open := columns == nil
	cols := append([]string(nil), columns...)
	resolve := func(c *colNode, optional bool) (err error) {
		defer func() {
			if err == nil && !optional && c.idx >= 0 {
				p.needed[c.idx] = true
			}
		}()
		for i, name := range cols {
			if name == c.name {
				c.idx = i
				return nil
			}
		}
		if open {
			cols = append(cols, c.name)
			c.idx = len(cols) - 1
			return nil
		}
		found := -1
		for i, name := range cols {
			if strings.EqualFold(strings.TrimSpace(name), c.name) {
				if found >= 0 {
					return &MissingColumnError{Column: c.name, Have: cols}
				}
				found = i
			}
		}
		if found >= 0 {
			c.idx = found
			return nil
		}
		if optional {
			c.idx = -1
			return nil
		}
		return &MissingColumnError{Column: c.name, Have: cols}
	}
	// Bind a copy of every node, so one Source serves files with different
	// column orders.
	s2 := *s
	s2.Columns = make([]*Column, len(s.Columns))
	for i, c := range s.Columns {
		if c == nil {
			continue
		}
		cc, err := bindColumn(c, resolve)
		if err != nil {
			return nil, err
		}
		s2.Columns[i] = cc
	}
	s2.Attributes = make([]*Column, len(s.Attributes))
	for i, c := range s.Attributes {
		cc, err := bindColumn(c, resolve)
		if err != nil {
			return nil, err
		}
		s2.Attributes[i] = cc
	}
	s2.Skip = make([]Skip, len(s.Skip))
	for i, sk := range s.Skip {
		n, refs, _ := parse(sk.When) // parsed once already
		for _, r := range refs {
			if err := resolve(r, false); err != nil {
				return nil, err
			}
		}
		sk.expr, sk.cols = n, refs
		s2.Skip[i] = sk
	}
	p.Source = &s2
	p.Columns = cols
	return p, nil
}

func bindColumn(c *Column, resolve func(*colNode, bool) error) (*Column, error) {
	cc := *c
	if c.Expr == "" {
		return &cc, nil
	}
	n, refs, err := parse(c.Expr)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if err := resolve(r, c.Optional); err != nil {
			return nil, err
		}
	}
	cc.expr, cc.cols = n, refs
	switch x := n.(type) {
	case *colNode:
		cc.direct = x
	case *callNode:
		if a, ok := x.args[0].(*colNode); ok && x.name == "lower" && len(x.args) == 1 && cc.Kind == canon.String {
			cc.direct, cc.lower = a, true
		}
	}
	return &cc, nil
}

// Failure says why a record is not a row: the source column (or target,
// when no column is to blame), a short countable reason, and the value.
type Failure struct {
	Column string
	Reason string
	Value  string
	Skip   bool // a skip rule matched: not a mapping problem
}

// Row is the result of one record.
type Row struct {
	// Rows are the table rows the record makes: one for events and
	// history, one per attribute for profiles. Reused by the next Eval.
	Rows [][]canon.Value
	// Carry has bit i set when table column i is missing and is to be
	// carried forward from the user's previous row.
	Carry uint32
	// NoUser is set when the record has no user id.
	NoUser bool
	// Fail is the reason the record is rejected; Fail.Reason == "" when it
	// is accepted.
	Fail Failure

	buf []canon.Value
	env env // the record being mapped: kept here, as it escapes to the expressions
}

// Eval maps one record, given as its fields by column index (null marks
// absent or null fields; it may be nil), into out.
func (p *Program) Eval(fields []string, null []bool, out *Row) {
	out.env = env{fields: fields, null: null}
	e := &out.env
	t := p.Table
	n := len(t.Columns)
	if need := n + 5*len(p.Source.Attributes); cap(out.buf) < need {
		out.buf = make([]canon.Value, need)
	}
	row := out.buf[:n]
	out.Rows = out.Rows[:0]
	out.Carry, out.NoUser, out.Fail = 0, false, Failure{}

	// The user first: it decides NoUser whatever else happens.
	if p.user >= 0 {
		if !p.column(e, p.user, row, out) {
			if out.Fail.Reason == "missing user_id" {
				out.NoUser = true
			}
			return
		}
		out.NoUser = row[p.user].Null
	}
	for _, sk := range p.Source.Skip {
		v, err := sk.expr.eval(e)
		var b bool
		if err == nil {
			b, err = v.truth()
		}
		if err != nil {
			out.Fail = Failure{Column: p.colName(err.col, sk.cols, "skip"), Reason: "bad skip rule value", Value: err.value}
			return
		}
		if b {
			f := Failure{Reason: sk.Reason, Skip: true}
			if len(sk.cols) > 0 {
				f.Column = sk.cols[0].name
				f.Value = e.column(sk.cols[0].idx).text()
			}
			out.Fail = f
			return
		}
	}
	for i := range t.Columns {
		if i == p.user {
			continue
		}
		if !p.column(e, i, row, out) {
			return
		}
	}
	if p.notAfter != 0 && !row[p.ts].Null && row[p.ts].Int > p.notAfter {
		var refs []*colNode
		if c := p.Source.Columns[p.ts]; c != nil {
			refs = c.cols
		}
		out.Fail = Failure{Column: p.colName(-1, refs, "ts"), Reason: ReasonAfterStart, Value: p.shown(row[p.ts], canon.Timestamp)}
		return
	}
	if t != canon.ProfilesTable {
		out.Rows = append(out.Rows, row)
		return
	}
	// Profiles: one row per attribute that has a value.
	out.buf = out.buf[:cap(out.buf)]
	user := row[p.user]
	for k, a := range p.Source.Attributes {
		v, ok := p.value(e, a, out)
		if !ok {
			return
		}
		if v.Null {
			continue
		}
		r := out.buf[n+5*k : n+5*k+5]
		r[0], r[1], r[2] = user, canon.Value{Str: a.Target}, canon.Value{Str: v.Str}
		if f, err := strconv.ParseFloat(v.Str, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			r[3] = canon.Value{Float: f}
		} else {
			r[3] = canon.Value{Null: true}
		}
		r[4] = canon.Value{Bool: a.Sensitive}
		out.Rows = append(out.Rows, r)
	}
}

// column computes table column i into row[i]; false means the record is
// rejected (out.Fail says why).
func (p *Program) column(e *env, i int, row []canon.Value, out *Row) bool {
	c := p.Source.Columns[i]
	if c == nil {
		row[i] = canon.Value{Null: true}
		return true
	}
	if c.direct != nil && p.directValue(e, c, &row[i]) {
		// Present (so nothing to carry) and converted in place: values
		// are 48 bytes, and copying them through value cost more than
		// converting them.
		if p.checked[i] {
			if r := p.Table.Check(i, row[i]); r != "" {
				out.Fail = Failure{Column: p.colName(-1, c.cols, c.Target), Reason: r, Value: p.shown(row[i], c.Kind)}
				return false
			}
		}
		return true
	}
	v, ok := p.value(e, c, out)
	if !ok {
		return false
	}
	if v.Null && c.Missing == CarryForward {
		out.Carry |= 1 << uint(i)
	}
	if p.checked[i] {
		if r := p.Table.Check(i, v); r != "" {
			out.Fail = Failure{Column: p.colName(-1, c.cols, c.Target), Reason: r, Value: p.shown(v, c.Kind)}
			return false
		}
	}
	row[i] = v
	return true
}

// value evaluates c and converts it to c.Kind, applying the missing-value
// policy (carry forward is left to the caller).
func (p *Program) value(e *env, c *Column, out *Row) (canon.Value, bool) {
	if c.Const != nil {
		return *c.Const, true
	}
	var v val
	if c.direct != nil {
		if v = e.column(c.direct.idx); !v.isNull() && c.lower {
			v = strVal(strings.ToLower(v.s))
		}
	} else {
		var err *evalError
		if v, err = c.expr.eval(e); err != nil {
			out.Fail = Failure{Column: p.colName(err.col, c.cols, c.Target), Reason: "bad " + c.Target, Value: err.value}
			return canon.Value{}, false
		}
	}
	if v.isNull() {
		switch c.Missing {
		case Reject:
			out.Fail = Failure{Column: p.colName(-1, c.cols, c.Target), Reason: "missing " + c.Target}
			return canon.Value{}, false
		case Fill:
			return *c.FillValue, true
		}
		return canon.Value{Null: true}, true
	}
	cv, reason := c.convert(v)
	if reason != "" {
		out.Fail = Failure{Column: p.colName(v.col, c.cols, c.Target), Reason: reason, Value: v.text()}
		return canon.Value{}, false
	}
	if c.Target == "type" && p.Table == canon.EventsTable {
		cv.Str = strings.ToLower(cv.Str)
	}
	return cv, true
}

// colName names the source column to blame: the one a value came from,
// else the expression's first column, else the target.
func (p *Program) colName(idx int, refs []*colNode, target string) string {
	if idx >= 0 && idx < len(p.Columns) {
		return p.Columns[idx]
	}
	if len(refs) > 0 {
		return refs[0].name
	}
	return target
}

func (p *Program) shown(v canon.Value, k canon.Kind) string {
	switch k {
	case canon.Int:
		return strconv.FormatInt(v.Int, 10)
	case canon.Float:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case canon.Timestamp:
		return v.Time().Format(time.RFC3339Nano)
	case canon.Bool:
		return strconv.FormatBool(v.Bool)
	}
	return v.Str
}

// convert turns an expression value into a value of c.Kind; the reason is
// "bad <target>" when it cannot.
func (c *Column) convert(v val) (canon.Value, string) {
	switch c.Kind {
	case canon.String:
		return canon.Value{Str: v.text()}, ""
	case canon.Int:
		f, err := v.num()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return canon.Value{}, c.bad()
		}
		return canon.Value{Int: int64(f)}, ""
	case canon.Float:
		f, err := v.num()
		if err != nil {
			return canon.Value{}, c.bad()
		}
		return canon.Value{Float: f}, ""
	case canon.Bool:
		b, err := v.truth()
		if err != nil {
			return canon.Value{}, c.bad()
		}
		return canon.Value{Bool: b}, ""
	case canon.Timestamp:
		t, ok := c.parseTime(v)
		if !ok {
			return canon.Value{}, c.bad()
		}
		return canon.Value{Int: t.UnixMilli()}, ""
	}
	return canon.Value{}, c.bad()
}

// directValue sets *dst to the value of direct column c when its field
// is present and converts the common way, or is absent and kept as null,
// as value would; false leaves the field to value (other missing-value
// policies, other forms and their failure reasons).
func (p *Program) directValue(e *env, c *Column, dst *canon.Value) bool {
	var s string
	if i := c.direct.idx; i >= 0 && i < len(e.fields) && (e.null == nil || !e.null[i]) {
		s = trimSpace(e.fields[i])
	}
	if s == "" {
		// Absent (as env.column has it): null, unless the policy says
		// otherwise, which value applies.
		if c.Missing == Reject || c.Missing == Fill || c.Missing == CarryForward {
			return false
		}
		*dst = canon.Value{Null: true}
		return true
	}
	if !c.convertDirect(s, dst) {
		return false
	}
	if c.Target == "type" && p.Table == canon.EventsTable {
		dst.Str = strings.ToLower(dst.Str)
	}
	return true
}

// convertDirect converts the text of a direct column (trimmed, not
// empty) into *dst the common ways, to what convert gives; false leaves
// the value to convert (and its reasons).
func (c *Column) convertDirect(s string, dst *canon.Value) bool {
	switch c.Kind {
	case canon.String:
		if c.lower {
			s = strings.ToLower(s)
		}
		*dst = canon.Value{Str: s}
		return true
	case canon.Int:
		if n, ok := parseDigits(s); ok {
			*dst = canon.Value{Int: int64(n)}
			return true
		}
		// Integers within ±2^53 are exact as floats, as convert reads them.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > 1<<53 || n < -(1<<53) {
			return false
		}
		*dst = canon.Value{Int: n}
		return true
	case canon.Float:
		if f, ok := parseDecimal(s); ok {
			*dst = canon.Value{Float: f}
			return true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		*dst = canon.Value{Float: f}
		return true
	case canon.Timestamp:
		if len(c.Layouts) > 0 && c.Layouts[0] == "rfc3339" {
			if ms, ok := parseUTCSeconds(s); ok {
				*dst = canon.Value{Int: ms}
				return true
			}
		}
	}
	return false
}

// parseUTCSeconds reads the commonest RFC 3339 form,
// "2006-01-02T15:04:05Z", as Unix milliseconds, with the calendar
// arithmetic of time.Date but none of its generality (about 10× faster
// than time.Parse); false for anything else (other forms, out-of-range
// fields or times outside [minTime, maxTime)), which then goes through
// parseTime.
func parseUTCSeconds(s string) (int64, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return 0, false
	}
	c, y := two(s, 0), two(s, 2)
	month, day := two(s, 5), two(s, 8)
	hour, minute, sec := two(s, 11), two(s, 14), two(s, 17)
	if c < 0 || y < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	year := c*100 + y
	if year < minYear || year >= maxYear || day > daysIn(year, month) {
		return 0, false
	}
	secs := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return secs * 1000, true
}

// minYear and maxYear bound the years of [minTime, maxTime), which
// start on January 1st.
const minYear, maxYear = 1900, 2200

// two reads two decimal digits at s[i:], or -1.
func two(s string, i int) int {
	a, b := s[i]-'0', s[i+1]-'0' // bytes below '0' wrap above 9
	if a > 9 || b > 9 {
		return -1
	}
	return int(a)*10 + int(b)
}

// daysIn is the number of days of a month (1-12) of the proleptic
// Gregorian calendar.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts the days from 1970-01-01 to a date (year > 0) of
// the proleptic Gregorian calendar: eras of 400 years of 146,097 days,
// years starting in March so that a leap day ends the year.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400                     // [0, 399]
	doy := (153*((month+9)%12)+2)/5 + day - 1 // [0, 365], from March 1st
	doe := yoe*365 + yoe/4 - yoe/100 + doy    // [0, 146096]
	return int64(era*146097+doe) - 719468     // 719,468 days from 0000-03-01 to 1970-01-01
}

// parseDigits reads 1 to 15 decimal digits (no sign), which are exact
// in the ±2^53 convert keeps; false leaves the text to strconv.
func parseDigits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}

// pow10 are the powers of ten exact in a float64 that parseDecimal
// divides by.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseDecimal reads the commonest float text, digits with at most one
// point between digits ("27.49") and at most 15 digits in all, as
// strconv.ParseFloat does on its exact path: the digits as an integer
// (below 2^52, so exact) divided by an exact power of ten, one correctly
// rounded division, hence the same float. False leaves the text to
// strconv (signs, exponents, longer numbers).
func parseDecimal(s string) (float64, bool) {
	if len(s) == 0 || len(s) > 16 || s[0]-'0' > 9 || s[len(s)-1]-'0' > 9 {
		return 0, false
	}
	var m uint64
	digits, point := 0, -1
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			if s[i] != '.' || point >= 0 {
				return 0, false
			}
			point = i
			continue
		}
		m = m*10 + uint64(d)
		digits++
	}
	if digits > 15 {
		return 0, false
	}
	if point < 0 {
		return float64(m), true
	}
	return float64(m) / pow10[len(s)-1-point], true
}

// trimSpace is strings.TrimSpace, without its work when the ends are
// ASCII and not space, as nearly every field's are.
func trimSpace(s string) string {
	if n := len(s); n > 0 && s[0] > ' ' && s[0] < 0x80 && s[n-1] > ' ' && s[n-1] < 0x80 {
		return s
	}
	return strings.TrimSpace(s)
}

// bad is the reason of a value that does not convert; built only then,
// since convert runs for every field of every record.
func (c *Column) bad() string { return "bad " + c.Target }

var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (c *Column) parseTime(v val) (time.Time, bool) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	s := v.text()
	for _, layout := range c.Layouts {
		var t time.Time
		var err error
		switch layout {
		case "unix", "unix_ms":
			f, e := v.num()
			if e != nil {
				continue
			}
			if layout == "unix" {
				t = time.UnixMilli(int64(math.Round(f * 1000)))
			} else {
				t = time.UnixMilli(int64(math.Round(f)))
			}
		case "rfc3339":
			t, err = time.Parse(time.RFC3339Nano, s)
		default:
			t, err = time.ParseInLocation(layout, s, loc)
		}
		if err == nil && !t.Before(minTime) && t.Before(maxTime) {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// CarryFill returns, for table column i, the value to use when carrying
// forward finds nothing: the fill value, or false to reject the row.
func (p *Program) CarryFill(i int) (canon.Value, bool) {
	c := p.Source.Columns[i]
	if c == nil || c.FillValue == nil {
		return canon.Value{}, false
	}
	return *c.FillValue, true
}

// CarryColumn names the source column of table column i, for rejects of
// rows whose value could not be carried forward.
func (p *Program) CarryColumn(i int) string {
	c := p.Source.Columns[i]
	if c == nil {
		return p.Table.Columns[i].Name
	}
	return p.colName(-1, c.cols, c.Target)
}
