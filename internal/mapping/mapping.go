// Package mapping reads mapping files: YAML that says how a foreign
// dataset's files become promoflow's canonical tables (events, profiles,
// campaign history), with column expressions, timestamp layouts and time
// zones, missing-value policies, rows to skip and sensitive attributes.
// docs/DATA.md documents the format.
package mapping

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"
	_ "time/tzdata" // time zones of mapping files work on machines without tzdata

	"gopkg.in/yaml.v3"

	"github.com/promoflow/promoflow/internal/canon"
)

// Formats of source files.
const (
	CSV     = "csv"
	JSONL   = "jsonl"
	Parquet = "parquet"
)

// Missing-value policies of a column.
const (
	Reject       = "reject"        // the row is rejected: "missing <column>"
	Keep         = "keep"          // stored as null (or "" / 0 where the table has no nulls)
	Fill         = "fill"          // the column's fill value
	CarryForward = "carry_forward" // the user's previous value in input order; else fill, else reject
)

// Mapping is a parsed mapping file.
type Mapping struct {
	Dataset     string // default dataset name under raw/ for uploads
	Description string
	Sources     []*Source
}

// Source says how files matching Files become rows of Table.
type Source struct {
	Name       string
	Files      []string // globs on the file's base name
	Format     string   // csv, jsonl, parquet; empty means from the file name
	Delimiter  byte     // csv
	Table      *canon.Table
	Location   *time.Location // of timestamps without an offset
	Dedupe     bool           // drop exact duplicate rows (counted)
	Skip       []Skip
	Columns    []*Column // in table order; nil entries are unmapped columns
	Attributes []*Column // profiles: one attribute per entry, Target is its name
	Line       int       // in the mapping file
}

// Skip is a rule for rows that are not rows of the table (postage lines,
// stock adjustments): they are rejected with Reason.
type Skip struct {
	When   string
	Reason string
	expr   node
	cols   []*colNode
}

// Column says how one target column (or profile attribute) is computed.
type Column struct {
	Target    string
	Expr      string       // expression; empty with Const set
	Const     *canon.Value // a constant (converted to the target's kind)
	Layouts   []string     // timestamp layouts: Go layouts, "rfc3339", "unix", "unix_ms"
	Location  *time.Location
	Missing   string       // policy when the value is missing
	FillValue *canon.Value // for Fill and as CarryForward's fallback
	Optional  bool         // source columns absent from the file read as null
	Sensitive bool         // profile attributes only
	Kind      canon.Kind
	Line      int

	expr node
	cols []*colNode
	// direct is set when expr is a bare source column (or, for a text
	// target, lower(column)): value then converts the field itself,
	// without the interpreter, to the same result.
	direct *colNode
	lower  bool
}

// DefaultLayouts are tried, in order, for timestamps whose column gives no
// layout.
var DefaultLayouts = []string{"rfc3339", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"}

// Error is a mistake in a mapping file, with its line (and column, when
// one key or value is to blame).
type Error struct {
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("mapping line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("mapping line %d: %s", e.Line, e.Msg)
	}
	return "mapping: " + e.Msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

type fileYAML struct {
	Dataset     string       `yaml:"dataset"`
	Description string       `yaml:"description"`
	Sources     []sourceYAML `yaml:"sources"`
}

type sourceYAML struct {
	Name      string    `yaml:"name"`
	Files     yaml.Node `yaml:"files"`
	Format    string    `yaml:"format"`
	Delimiter *string   `yaml:"delimiter"`
	Table     string    `yaml:"table"`
	Timezone  string    `yaml:"timezone"`
	Dedupe    *bool     `yaml:"dedupe"`
	Skip      []struct {
		When   string `yaml:"when"`
		Reason string `yaml:"reason"`
		Line   int    `yaml:"-"`
	} `yaml:"skip"`
	Columns    yaml.Node `yaml:"columns"`
	Attributes yaml.Node `yaml:"attributes"`
	Sensitive  []string  `yaml:"sensitive"`
	line       int
}

type columnYAML struct {
	Expr     string    `yaml:"expr"`
	Const    *string   `yaml:"const"`
	Layout   yaml.Node `yaml:"layout"`
	Timezone string    `yaml:"timezone"`
	Missing  string    `yaml:"missing"`
	Fill     *string   `yaml:"fill"`
	Optional bool      `yaml:"optional"`
}

// Parse reads a mapping file and checks everything that can be checked
// without data: tables, columns, expressions, layouts, time zones, policies.
func Parse(data []byte) (*Mapping, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(err, nil)
	}
	if len(root.Content) == 0 {
		return nil, &Error{Msg: "empty file"}
	}
	if err := checkKeys(root.Content[0]); err != nil {
		return nil, err
	}
	var f fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, yamlError(err, root.Content[0])
	}
	// Lines of the sources, for messages.
	if doc := root.Content[0]; doc.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == "sources" && doc.Content[i+1].Kind == yaml.SequenceNode {
				for j, s := range doc.Content[i+1].Content {
					if j < len(f.Sources) {
						f.Sources[j].line = s.Line
					}
				}
			}
		}
	}
	if len(f.Sources) == 0 {
		return nil, &Error{Msg: "no sources"}
	}
	m := &Mapping{Dataset: f.Dataset, Description: f.Description}
	names := map[string]bool{}
	for i := range f.Sources {
		s, err := parseSource(&f.Sources[i])
		if err != nil {
			return nil, err
		}
		if names[s.Name] {
			return nil, &Error{Line: s.Line, Msg: fmt.Sprintf("two sources named %q", s.Name)}
		}
		names[s.Name] = true
		m.Sources = append(m.Sources, s)
	}
	return m, nil
}

func parseSource(y *sourceYAML) (*Source, error) {
	node := &yaml.Node{Line: y.line}
	t, ok := canon.Tables[y.Table]
	if !ok {
		return nil, errAt(node, "table %q: want events, profiles or history", y.Table)
	}
	s := &Source{Name: y.Name, Table: t, Location: time.UTC, Dedupe: true, Delimiter: ',', Line: y.line}
	if s.Name == "" {
		s.Name = y.Table
	}
	files, err := stringList(&y.Files)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		files = []string{"*"}
	}
	for _, g := range files {
		if _, err := path.Match(g, ""); err != nil {
			return nil, errAt(&y.Files, "files %q: %v", g, err)
		}
	}
	s.Files = files
	switch y.Format {
	case "", CSV, JSONL, Parquet:
		s.Format = y.Format
	default:
		return nil, errAt(node, "format %q: want csv, jsonl or parquet", y.Format)
	}
	if y.Delimiter != nil {
		d := *y.Delimiter
		switch strings.ToLower(d) {
		case `\t`, "tab":
			d = "\t"
		}
		if len(d) != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r' || d[0] >= 0x80 {
			return nil, errAt(node, "delimiter %q: want one ASCII character other than a quote or line break", *y.Delimiter)
		}
		s.Delimiter = d[0]
	}
	if y.Timezone != "" {
		loc, err := time.LoadLocation(y.Timezone)
		if err != nil {
			return nil, errAt(node, "timezone %q: %v", y.Timezone, err)
		}
		s.Location = loc
	}
	if y.Dedupe != nil {
		s.Dedupe = *y.Dedupe
	}
	for _, sk := range y.Skip {
		if sk.Reason == "" {
			return nil, errAt(node, "skip rule %q has no reason", sk.When)
		}
		n, cols, err := parse(sk.When)
		if err != nil {
			return nil, errAt(node, "skip rule: %v", err)
		}
		s.Skip = append(s.Skip, Skip{When: sk.When, Reason: sk.Reason, expr: n, cols: cols})
	}

	s.Columns = make([]*Column, len(t.Columns))
	if y.Columns.Kind != yaml.MappingNode {
		return nil, errAt(node, "source %q: columns: want a map of table column to expression", s.Name)
	}
	for i := 0; i+1 < len(y.Columns.Content); i += 2 {
		k, v := y.Columns.Content[i], y.Columns.Content[i+1]
		j := t.Index(k.Value)
		if j < 0 {
			return nil, errAt(k, "table %s has no column %q", t.Name, k.Value)
		}
		if t == canon.ProfilesTable && k.Value != "user_id" {
			return nil, errAt(k, "profiles: map user_id under columns and the rest under attributes")
		}
		if s.Columns[j] != nil {
			return nil, errAt(k, "column %q mapped twice", k.Value)
		}
		c, err := parseColumn(k.Value, v, t.Columns[j], s.Location)
		if err != nil {
			return nil, err
		}
		s.Columns[j] = c
	}
	for j, tc := range t.Columns {
		if s.Columns[j] == nil && tc.Required && !(t == canon.ProfilesTable && tc.Name != "user_id") {
			return nil, errAt(&y.Columns, "source %q: required column %s is not mapped", s.Name, tc.Name)
		}
	}

	sensitive := map[string]bool{}
	for _, a := range y.Sensitive {
		sensitive[a] = true
	}
	switch y.Attributes.Kind {
	case 0:
	case yaml.SequenceNode:
		for _, e := range y.Attributes.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, errAt(e, "attributes: want column names")
			}
			c, err := parseColumn(e.Value, &yaml.Node{Kind: yaml.ScalarNode, Value: "`" + e.Value + "`", Line: e.Line}, canon.Column{Name: e.Value, Kind: canon.String}, s.Location)
			if err != nil {
				return nil, err
			}
			s.Attributes = append(s.Attributes, c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(y.Attributes.Content); i += 2 {
			k, v := y.Attributes.Content[i], y.Attributes.Content[i+1]
			c, err := parseColumn(k.Value, v, canon.Column{Name: k.Value, Kind: canon.String}, s.Location)
			if err != nil {
				return nil, err
			}
			s.Attributes = append(s.Attributes, c)
		}
	default:
		return nil, errAt(&y.Attributes, "attributes: want a list of columns or a map of name to expression")
	}
	if len(s.Attributes) > 0 && t != canon.ProfilesTable {
		return nil, errAt(&y.Attributes, "attributes are for the profiles table")
	}
	if t == canon.ProfilesTable && len(s.Attributes) == 0 {
		return nil, errAt(node, "source %q: profiles need attributes", s.Name)
	}
	seen := map[string]bool{}
	for _, a := range s.Attributes {
		if seen[a.Target] {
			return nil, errAt(&yaml.Node{Line: a.Line}, "attribute %q twice", a.Target)
		}
		seen[a.Target] = true
		a.Sensitive = sensitive[a.Target]
		if a.Missing == Reject || a.Missing == CarryForward {
			return nil, errAt(&yaml.Node{Line: a.Line}, "attribute %q: missing attributes are kept (left out) or filled", a.Target)
		}
	}
	for name := range sensitive {
		if !seen[name] {
			return nil, errAt(node, "sensitive %q is not an attribute", name)
		}
	}
	return s, nil
}

func stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, errAt(e, "want a string")
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, errAt(n, "want a string or a list of strings")
}

func parseColumn(target string, v *yaml.Node, tc canon.Column, loc *time.Location) (*Column, error) {
	c := &Column{Target: target, Kind: tc.Kind, Location: loc, Line: v.Line}
	var y columnYAML
	switch v.Kind {
	case yaml.ScalarNode:
		y.Expr = v.Value
	case yaml.MappingNode:
		if err := v.Decode(&y); err != nil {
			e := yamlError(err, v).(*Error)
			e.Msg = fmt.Sprintf("column %q: %s", target, e.Msg)
			return nil, e
		}
	default:
		return nil, errAt(v, "column %q: want an expression or a map with expr, const, layout, timezone, missing, fill", target)
	}
	if (y.Expr == "") == (y.Const == nil) {
		return nil, errAt(v, "column %q: want exactly one of expr and const", target)
	}
	if y.Const != nil {
		cv, reason := c.convert(strVal(*y.Const))
		if reason != "" {
			return nil, errAt(v, "column %q: const %q is not a %s", target, *y.Const, tc.Kind)
		}
		c.Const = &cv
	} else {
		n, cols, err := parse(y.Expr)
		if err != nil {
			return nil, errAt(v, "column %q: %v", target, err)
		}
		c.Expr, c.expr, c.cols = y.Expr, n, cols
	}
	layouts, err := stringList(&y.Layout)
	if err != nil {
		return nil, err
	}
	if len(layouts) > 0 && tc.Kind != canon.Timestamp {
		return nil, errAt(v, "column %q: layout is for timestamps", target)
	}
	c.Layouts = layouts
	if len(c.Layouts) == 0 {
		c.Layouts = DefaultLayouts
	}
	if y.Timezone != "" {
		l, err := time.LoadLocation(y.Timezone)
		if err != nil {
			return nil, errAt(v, "column %q: timezone %q: %v", target, y.Timezone, err)
		}
		c.Location = l
	}
	c.Optional = y.Optional
	c.Missing = y.Missing
	if c.Missing == "" {
		switch {
		case y.Fill != nil:
			c.Missing = Fill
		case tc.Required:
			c.Missing = Reject
		default:
			c.Missing = Keep
		}
	}
	switch c.Missing {
	case Reject, Keep, Fill, CarryForward:
	default:
		return nil, errAt(v, "column %q: missing %q: want reject, keep, fill or carry_forward", target, c.Missing)
	}
	if c.Missing == CarryForward && target == "user_id" {
		return nil, errAt(v, "column user_id cannot be carried forward")
	}
	if c.Missing == Fill && y.Fill == nil {
		return nil, errAt(v, "column %q: missing: fill needs a fill value", target)
	}
	if c.Missing == Keep && tc.Required {
		return nil, errAt(v, "column %q is required: missing values can be rejected, filled or carried forward", target)
	}
	if y.Fill != nil {
		fv, reason := c.convert(strVal(*y.Fill))
		if reason != "" {
			return nil, errAt(v, "column %q: fill %q is not a %s", target, *y.Fill, tc.Kind)
		}
		c.FillValue = &fv
	}
	return c, nil
}

// Match returns the sources whose globs match file's base name, in
// mapping order.
func (m *Mapping) Match(file string) []*Source {
	base := path.Base(file)
	var out []*Source
	for _, s := range m.Sources {
		for _, g := range s.Files {
			if ok, _ := path.Match(g, base); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// FormatOf returns the format a file name implies (csv when it says
// nothing) and whether it is gzip-compressed.
func FormatOf(name string) (format string, gzip bool) {
	n := strings.ToLower(path.Base(name))
	if strings.HasSuffix(n, ".gz") {
		gzip = true
		n = strings.TrimSuffix(n, ".gz")
	}
	switch {
	case strings.HasSuffix(n, ".jsonl"), strings.HasSuffix(n, ".ndjson"), strings.HasSuffix(n, ".json"):
		return JSONL, gzip
	case strings.HasSuffix(n, ".parquet"), strings.HasSuffix(n, ".pq"):
		return Parquet, gzip
	}
	return CSV, gzip
}

// FormatFor is the format of file under source s.
func (s *Source) FormatFor(file string) (format string, gzip bool) {
	format, gzip = FormatOf(file)
	if s.Format != "" {
		format = s.Format
	}
	return format, gzip
}

// canonicalYAML is the built-in mapping of canonical event files (CSV,
// JSON Lines or Parquet with the events table's column names): columns
// other than user_id, ts and type may be absent, and rows without a user
// are rejected, since promoflow's own exports always carry one.
const canonicalYAML = `
dataset: local
description: canonical events (docs/DATA.md), the default when a run names no mapping
sources:
  - name: events
    table: events
    columns:
      user_id: {expr: user_id, missing: reject}
      ts: ts
      type: lower(type)
      item_id: {expr: item_id, optional: true}
      category: {expr: category, optional: true}
      text: {expr: text, optional: true}
      quantity: {expr: quantity, optional: true}
      price: {expr: price, optional: true}
      order_id: {expr: order_id, optional: true}
      channel: {expr: channel, optional: true}
`

// Canonical returns the built-in mapping of canonical event files.
func Canonical() *Mapping {
	m, err := Parse([]byte(canonicalYAML))
	if err != nil {
		panic(err)
	}
	return m
}

// Load parses text, or returns Canonical when text is empty.
func Load(text string) (*Mapping, error) {
	if strings.TrimSpace(text) == "" {
		return Canonical(), nil
	}
	return Parse([]byte(text))
}
