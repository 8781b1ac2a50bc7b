package canon

import (
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Kind is the type of a canonical column.
type Kind int

// Column kinds and their Arrow types.
const (
	String    Kind = iota // utf8
	Timestamp             // timestamp[ms, UTC]
	Int                   // int64
	Float                 // float64
	Bool                  // bool
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Timestamp:
		return "timestamp"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ArrowType is the Arrow type of columns of kind k.
func (k Kind) ArrowType() arrow.DataType {
	switch k {
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	case Int:
		return arrow.PrimitiveTypes.Int64
	case Float:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

// Column describes one column of a canonical table (docs/DATA.md).
type Column struct {
	Name     string
	Kind     Kind
	Required bool   // a row without it is not a row of the table
	Nullable bool   // stored as null when missing; otherwise as "" or 0
	Doc      string // one line, for docs/DATA.md
}

// Table is a canonical table: its columns and their Arrow schema.
type Table struct {
	Name    string
	Doc     string
	Columns []Column
	Schema  *arrow.Schema
}

// Index returns the position of column name, or -1.
func (t *Table) Index(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func newTable(name, doc string, cols []Column) *Table {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Kind.ArrowType(), Nullable: c.Nullable}
	}
	return &Table{Name: name, Doc: doc, Columns: cols, Schema: arrow.NewSchema(fields, nil)}
}

// Table names.
const (
	EventsName   = "events"
	ProfilesName = "profiles"
	HistoryName  = "history"
)

// EventsTable is the events table; its schema is EventSchema.
var EventsTable = &Table{
	Name: EventsName,
	Doc:  "one row per user action: views, searches, carts, purchases, returns",
	Columns: []Column{
		{Name: "user_id", Kind: String, Doc: "the user; empty for anonymous events (guest checkouts), which are kept apart from the user shards"},
		{Name: "ts", Kind: Timestamp, Required: true, Doc: "when it happened, UTC, millisecond precision"},
		{Name: "type", Kind: String, Required: true, Doc: "view, search, cart, purchase or return"},
		{Name: "item_id", Kind: String, Doc: "the item (SKU); empty for searches"},
		{Name: "category", Kind: String, Doc: "the item's category"},
		{Name: "text", Kind: String, Doc: "the search query, or the item's title"},
		{Name: "quantity", Kind: Int, Doc: "units, >= 0; a return's quantity is the units returned (positive); 0 when unknown"},
		{Name: "price", Kind: Float, Doc: "unit price, >= 0; 0 when unknown or free"},
		{Name: "order_id", Kind: String, Doc: "the order (invoice) a purchase or return line belongs to"},
		{Name: "channel", Kind: String, Doc: "web, app, store, ..."},
	},
	Schema: EventSchema,
}

// ProfilesTable holds user attributes in long form: one row per user and
// attribute, so any set of attributes fits one schema. Sensitive attributes
// are for fairness audits only, never model features.
var ProfilesTable = newTable(ProfilesName, "one row per user and attribute (long form)", []Column{
	{Name: "user_id", Kind: String, Required: true, Doc: "the user"},
	{Name: "attribute", Kind: String, Required: true, Doc: "attribute name, as the mapping names it"},
	{Name: "value", Kind: String, Doc: "the value as text"},
	{Name: "number", Kind: Float, Nullable: true, Doc: "the value as a number, null when it is not one"},
	{Name: "sensitive", Kind: Bool, Doc: "true for attributes marked sensitive (race, gender, ...): fairness audits only, never features"},
})

// HistoryTable is the campaign history: who got which offer (or none),
// when, with what probability, and what they did afterwards. Evaluations
// write it (history/<template>/<campaign>.parquet) and later decisions of
// the template learn from it; a mapping may also ingest a shop's own.
var HistoryTable = newTable(HistoryName, "one row per user and campaign", []Column{
	{Name: "user_id", Kind: String, Required: true, Doc: "the user"},
	{Name: "campaign_id", Kind: String, Required: true, Doc: "the campaign"},
	{Name: "arm", Kind: String, Required: true, Doc: "the offer the user got, or \"control\" for no offer (held out, or not chosen)"},
	{Name: "sent_at", Kind: Timestamp, Nullable: true, Doc: "when the offer was sent, UTC"},
	{Name: "assignment_probability", Kind: Float, Nullable: true, Doc: "probability that the campaign's randomization gave the user this arm, in (0, 1], when known"},
	{Name: "responded", Kind: Bool, Nullable: true, Doc: "whether the user converted in the campaign's window"},
	{Name: "conversions", Kind: Int, Nullable: true, Doc: "orders in the campaign's window"},
	{Name: "revenue", Kind: Float, Nullable: true, Doc: "revenue in the campaign's window"},
	{Name: "explore", Kind: Bool, Nullable: true, Doc: "the offer was drawn at random (exploration), not chosen"},
	{Name: "holdout", Kind: Bool, Nullable: true, Doc: "the user was in the randomized control group (arm control)"},
	{Name: "window_start", Kind: Timestamp, Nullable: true, Doc: "start of the campaign's window, UTC"},
	{Name: "window_end", Kind: Timestamp, Nullable: true, Doc: "end of the campaign's window, UTC"},
	{Name: "run_id", Kind: String, Nullable: true, Doc: "the run whose features the decision used (runs/<run_id>/features/): learners join the row to the user's features as of the decision"},
})

// Tables are the canonical tables, by name.
var Tables = map[string]*Table{EventsName: EventsTable, ProfilesName: ProfilesTable, HistoryName: HistoryTable}

// Value is one cell of a canonical table. Timestamps are Unix milliseconds
// in Int.
type Value struct {
	Null  bool
	Str   string
	Int   int64
	Float float64
	Bool  bool
}

// Check applies the table's rules to a converted value of column i and
// returns a short reason when it breaks one ("unknown type", "negative
// price"), or "".
func (t *Table) Check(i int, v Value) string {
	if v.Null {
		return ""
	}
	c := t.Columns[i]
	switch {
	case t == EventsTable && c.Name == "type":
		if !ValidType(v.Str) {
			return "unknown type"
		}
	case c.Kind == Float && (math.IsNaN(v.Float) || math.IsInf(v.Float, 0)):
		return "bad " + c.Name
	case t == EventsTable && (c.Name == "price" && v.Float < 0 || c.Name == "quantity" && v.Int < 0):
		return "negative " + c.Name
	case t == HistoryTable && c.Name == "assignment_probability" && (v.Float <= 0 || v.Float > 1):
		return "assignment_probability out of (0, 1]"
	}
	return ""
}

// Checked reports whether Check can reject a value of column i, so that
// mapping a column without rules skips it.
func (t *Table) Checked(i int) bool {
	c := t.Columns[i]
	switch {
	case c.Kind == Float:
		return true
	case t == EventsTable:
		return c.Name == "type" || c.Name == "price" || c.Name == "quantity"
	case t == HistoryTable:
		return c.Name == "assignment_probability"
	}
	return false
}

// RowBuilder accumulates rows of any canonical (or extended) schema.
type RowBuilder struct {
	b     *array.RecordBuilder
	kinds []Kind
	n     int
}

// NewRowBuilder returns a builder for schema, whose leading fields have
// the given kinds (extra trailing fields are appended by the caller through
// Field).
func NewRowBuilder(mem memory.Allocator, schema *arrow.Schema, kinds []Kind) *RowBuilder {
	return &RowBuilder{b: array.NewRecordBuilder(mem, schema), kinds: kinds}
}

// Append adds the leading len(kinds) cells of a row; the caller appends
// any extra fields with Field and then calls Done.
func (rb *RowBuilder) Append(row []Value) {
	for i, k := range rb.kinds {
		AppendValue(rb.b.Field(i), k, row[i])
	}
}

// Field returns the builder of field i, for extra fields.
func (rb *RowBuilder) Field(i int) array.Builder { return rb.b.Field(i) }

// Done counts one finished row.
func (rb *RowBuilder) Done() { rb.n++ }

// Len is the number of rows since the last NewRecord.
func (rb *RowBuilder) Len() int { return rb.n }

// NewRecord returns the rows as a record and resets the builder. The
// caller must Release it.
func (rb *RowBuilder) NewRecord() arrow.Record {
	rb.n = 0
	return rb.b.NewRecord()
}

// Release frees the builder.
func (rb *RowBuilder) Release() { rb.b.Release() }

// AppendValue appends v to a builder of kind k's Arrow type. Null values go
// in as nulls when the builder's field is nullable in spirit; callers that
// must not store nulls pass zero values instead.
func AppendValue(b array.Builder, k Kind, v Value) {
	if v.Null {
		b.AppendNull()
		return
	}
	switch k {
	case String:
		b.(*array.StringBuilder).Append(v.Str)
	case Timestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.Int))
	case Int:
		b.(*array.Int64Builder).Append(v.Int)
	case Float:
		b.(*array.Float64Builder).Append(v.Float)
	case Bool:
		b.(*array.BooleanBuilder).Append(v.Bool)
	}
}

// ValueAt reads cell i of an array of kind k.
func ValueAt(a arrow.Array, k Kind, i int) Value {
	if a.IsNull(i) {
		return Value{Null: true}
	}
	switch k {
	case String:
		return Value{Str: a.(*array.String).Value(i)}
	case Timestamp:
		return Value{Int: int64(a.(*array.Timestamp).Value(i))}
	case Int:
		return Value{Int: a.(*array.Int64).Value(i)}
	case Float:
		return Value{Float: a.(*array.Float64).Value(i)}
	case Bool:
		return Value{Bool: a.(*array.Boolean).Value(i)}
	}
	return Value{Null: true}
}

// Kinds returns the kinds of t's columns, in order.
func (t *Table) Kinds() []Kind {
	k := make([]Kind, len(t.Columns))
	for i, c := range t.Columns {
		k[i] = c.Kind
	}
	return k
}

// Time returns a timestamp value's time, UTC.
func (v Value) Time() time.Time { return time.UnixMilli(v.Int).UTC() }
