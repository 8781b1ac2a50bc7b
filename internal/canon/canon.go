// Package canon defines promoflow's canonical tables: the column layout every
// input is mapped to before any stage reads it.
package canon

import (
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Event types of the events table.
const (
	View     = "view"
	Search   = "search"
	Cart     = "cart"
	Purchase = "purchase"
	Return   = "return"
)

// ValidType reports whether t is one of the event types.
func ValidType(t string) bool {
	switch t {
	case View, Search, Cart, Purchase, Return:
		return true
	}
	return false
}

// Event is one row of the events table.
type Event struct {
	UserID   string
	TS       time.Time
	Type     string
	ItemID   string
	Category string
	Text     string // search query or item title
	Quantity int64
	Price    float64 // unit price
	OrderID  string
	Channel  string
}

// EventColumns are the events table's columns, in order; also the header of
// canonical event CSV.
var EventColumns = []string{"user_id", "ts", "type", "item_id", "category", "text", "quantity", "price", "order_id", "channel"}

// EventSchema is the Arrow schema of the events table. Timestamps are UTC
// milliseconds.
var EventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "type", Type: arrow.BinaryTypes.String},
	{Name: "item_id", Type: arrow.BinaryTypes.String},
	{Name: "category", Type: arrow.BinaryTypes.String},
	{Name: "text", Type: arrow.BinaryTypes.String},
	{Name: "quantity", Type: arrow.PrimitiveTypes.Int64},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	{Name: "order_id", Type: arrow.BinaryTypes.String},
	{Name: "channel", Type: arrow.BinaryTypes.String},
}, nil)

// EventBuilder accumulates events into Arrow records of EventSchema.
type EventBuilder struct {
	b *array.RecordBuilder
	n int
}

// NewEventBuilder returns a builder that allocates from mem.
func NewEventBuilder(mem memory.Allocator) *EventBuilder {
	return &EventBuilder{b: array.NewRecordBuilder(mem, EventSchema)}
}

// Append adds one event.
func (eb *EventBuilder) Append(e Event) {
	f := eb.b.Fields()
	f[0].(*array.StringBuilder).Append(e.UserID)
	f[1].(*array.TimestampBuilder).Append(arrow.Timestamp(e.TS.UnixMilli()))
	f[2].(*array.StringBuilder).Append(e.Type)
	f[3].(*array.StringBuilder).Append(e.ItemID)
	f[4].(*array.StringBuilder).Append(e.Category)
	f[5].(*array.StringBuilder).Append(e.Text)
	f[6].(*array.Int64Builder).Append(e.Quantity)
	f[7].(*array.Float64Builder).Append(e.Price)
	f[8].(*array.StringBuilder).Append(e.OrderID)
	f[9].(*array.StringBuilder).Append(e.Channel)
	eb.n++
}

// Len is the number of events appended since the last NewRecord.
func (eb *EventBuilder) Len() int { return eb.n }

// NewRecord returns the appended events as a record and resets the builder.
// The caller owns the record and must Release it.
func (eb *EventBuilder) NewRecord() arrow.Record {
	eb.n = 0
	return eb.b.NewRecord()
}

// Release frees the builder's buffers.
func (eb *EventBuilder) Release() { eb.b.Release() }

// Events reads the rows of a record of EventSchema.
type Events struct {
	user, typ, item, cat, text, order, channel *array.String
	ts                                         *array.Timestamp
	qty                                        *array.Int64
	price                                      *array.Float64
	n                                          int
}

// NewEvents checks rec against EventSchema and returns a row reader over it.
func NewEvents(rec arrow.Record) (*Events, error) {
	if !rec.Schema().Equal(EventSchema) {
		return nil, fmt.Errorf("events record: schema %v, want %v", rec.Schema(), EventSchema)
	}
	c := rec.Columns()
	return &Events{
		user: c[0].(*array.String), ts: c[1].(*array.Timestamp), typ: c[2].(*array.String),
		item: c[3].(*array.String), cat: c[4].(*array.String), text: c[5].(*array.String),
		qty: c[6].(*array.Int64), price: c[7].(*array.Float64), order: c[8].(*array.String),
		channel: c[9].(*array.String), n: int(rec.NumRows()),
	}, nil
}

// Len is the number of rows.
func (ev *Events) Len() int { return ev.n }

// UserID returns row i's user id without copying it.
func (ev *Events) UserID(i int) string { return ev.user.Value(i) }

// At returns row i as an Event. Strings are copied, so the event outlives the
// record.
func (ev *Events) At(i int) Event {
	return Event{
		UserID:   clone(ev.user.Value(i)),
		TS:       time.UnixMilli(int64(ev.ts.Value(i))).UTC(),
		Type:     clone(ev.typ.Value(i)),
		ItemID:   clone(ev.item.Value(i)),
		Category: clone(ev.cat.Value(i)),
		Text:     clone(ev.text.Value(i)),
		Quantity: ev.qty.Value(i),
		Price:    ev.price.Value(i),
		OrderID:  clone(ev.order.Value(i)),
		Channel:  clone(ev.channel.Value(i)),
	}
}

func clone(s string) string { return string([]byte(s)) }
