// Package features turns a shard's events into one row of behaviour
// features per user (RFM and activity), as of a cutoff time.
package features

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/promoflow/promoflow/internal/canon"
)

// Names are the behaviour features, in column order. docs/ARCHITECTURE.md
// describes each.
var Names = []string{
	"recency_days",    // days since the last purchase (MaxRecency without one)
	"frequency",       // distinct orders
	"monetary",        // purchase value net of returns
	"avg_order_value", // monetary / frequency
	"tenure_days",     // days since the first event
	"views",           // view events
	"searches",        // search events
	"carts",           // cart events
	"return_rate",     // returned lines / purchased lines
	"categories",      // distinct categories touched
}

// MaxRecency is the recency of users who never bought: far, but finite so
// that distances stay defined.
const MaxRecency = 365.0

// LabelName is the training table's label column: 1 when the user bought
// within the horizon after the cutoff.
const LabelName = "label"

// Schema is the features table: user_id and the Names, float64.
var Schema = schema(false)

// TrainSchema is Schema plus the label.
var TrainSchema = schema(true)

func schema(label bool) *arrow.Schema {
	fields := []arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String}}
	for _, n := range Names {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
	}
	if label {
		fields = append(fields, arrow.Field{Name: LabelName, Type: arrow.PrimitiveTypes.Float64})
	}
	return arrow.NewSchema(fields, nil)
}

// Row is one user's features.
type Row struct {
	UserID string
	Values []float64 // len(Names)
	Label  float64   // training rows only
}

// user accumulates one user's events up to a cutoff.
type user struct {
	first, lastPurchase time.Time
	orders              map[string]struct{}
	categories          map[string]struct{}
	bought, returned    float64 // value
	boughtLines         int64
	returnedLines       int64
	views, searches     int64
	carts               int64
}

func (u *user) add(e *canon.Event) {
	if u.first.IsZero() || e.TS.Before(u.first) {
		u.first = e.TS
	}
	if e.Category != "" {
		if u.categories == nil {
			u.categories = map[string]struct{}{}
		}
		u.categories[e.Category] = struct{}{}
	}
	q := e.Quantity
	if q <= 0 {
		q = 1
	}
	switch e.Type {
	case canon.View:
		u.views++
	case canon.Search:
		u.searches++
	case canon.Cart:
		u.carts++
	case canon.Purchase:
		if e.TS.After(u.lastPurchase) {
			u.lastPurchase = e.TS
		}
		if u.orders == nil {
			u.orders = map[string]struct{}{}
		}
		order := e.OrderID
		if order == "" { // an order per purchase line when orders are not given
			order = fmt.Sprintf("%d/%s", e.TS.UnixMilli(), e.ItemID)
		}
		u.orders[order] = struct{}{}
		u.bought += float64(q) * e.Price
		u.boughtLines++
	case canon.Return:
		u.returned += float64(q) * e.Price
		u.returnedLines++
	}
}

func (u *user) values(asOf time.Time) []float64 {
	days := func(d time.Duration) float64 { return d.Hours() / 24 }
	v := make([]float64, len(Names))
	v[0] = MaxRecency
	if !u.lastPurchase.IsZero() {
		v[0] = math.Min(MaxRecency, days(asOf.Sub(u.lastPurchase)))
	}
	freq := float64(len(u.orders))
	v[1] = freq
	v[2] = math.Max(0, u.bought-u.returned)
	if freq > 0 {
		v[3] = v[2] / freq
	}
	v[4] = days(asOf.Sub(u.first))
	v[5], v[6], v[7] = float64(u.views), float64(u.searches), float64(u.carts)
	if u.boughtLines > 0 {
		v[8] = math.Min(1, float64(u.returnedLines)/float64(u.boughtLines))
	}
	v[9] = float64(len(u.categories))
	return v
}

// Builder computes, from a shard's events in any order, the scoring rows (all
// events up to End) and the training rows (events before Cutoff, labelled by
// a purchase in [Cutoff, LabelEnd]).
type Builder struct {
	Cutoff, LabelEnd, End time.Time
	score                 map[string]*user
	train                 map[string]*user
	label                 map[string]bool
}

// NewBuilder returns a Builder for the given cutoff, label window end and
// end of history.
func NewBuilder(cutoff, labelEnd, end time.Time) *Builder {
	return &Builder{Cutoff: cutoff, LabelEnd: labelEnd, End: end,
		score: map[string]*user{}, train: map[string]*user{}, label: map[string]bool{}}
}

// Add takes one event. Events after End are ignored.
func (b *Builder) Add(e canon.Event) {
	if e.TS.After(b.End) {
		return
	}
	get(b.score, e.UserID).add(&e)
	if e.TS.Before(b.Cutoff) {
		get(b.train, e.UserID).add(&e)
	} else if e.Type == canon.Purchase && !e.TS.After(b.LabelEnd) {
		b.label[e.UserID] = true
	}
}

func get(m map[string]*user, id string) *user {
	u, ok := m[id]
	if !ok {
		u = &user{}
		m[id] = u
	}
	return u
}

// Score returns one row per user with events up to End, sorted by user id.
func (b *Builder) Score() []Row { return rows(b.score, b.End, nil) }

// Train returns one labelled row per user with events before Cutoff, sorted
// by user id. Users first seen after the cutoff have no training row.
func (b *Builder) Train() []Row { return rows(b.train, b.Cutoff, b.label) }

func rows(m map[string]*user, asOf time.Time, label map[string]bool) []Row {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Row, len(ids))
	for i, id := range ids {
		out[i] = Row{UserID: id, Values: m[id].values(asOf)}
		if label != nil && label[id] {
			out[i].Label = 1
		}
	}
	return out
}

// Record encodes rows as a record of Schema, or TrainSchema when withLabel.
// The caller must Release it.
func Record(rows []Row, withLabel bool, mem memory.Allocator) arrow.Record {
	s := Schema
	if withLabel {
		s = TrainSchema
	}
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	ids := b.Field(0).(*array.StringBuilder)
	for _, r := range rows {
		ids.Append(r.UserID)
		for j, v := range r.Values {
			b.Field(1 + j).(*array.Float64Builder).Append(v)
		}
		if withLabel {
			b.Field(1 + len(Names)).(*array.Float64Builder).Append(r.Label)
		}
	}
	return b.NewRecord()
}

// Rows decodes a record of Schema or TrainSchema.
func Rows(rec arrow.Record) ([]Row, error) {
	withLabel := rec.Schema().Equal(TrainSchema)
	if !withLabel && !rec.Schema().Equal(Schema) {
		return nil, fmt.Errorf("features record: unexpected schema %v", rec.Schema())
	}
	ids := rec.Column(0).(*array.String)
	cols := make([]*array.Float64, len(Names))
	for j := range Names {
		cols[j] = rec.Column(1 + j).(*array.Float64)
	}
	out := make([]Row, rec.NumRows())
	for i := range out {
		v := make([]float64, len(Names))
		for j, c := range cols {
			v[j] = c.Value(i)
		}
		out[i] = Row{UserID: string([]byte(ids.Value(i))), Values: v}
		if withLabel {
			out[i].Label = rec.Column(1 + len(Names)).(*array.Float64).Value(i)
		}
	}
	return out, nil
}
