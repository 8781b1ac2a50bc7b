package features

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/interest"
)

// LabelName is the training table's label column: 1 when the user bought
// within the horizon after the cutoff.
const LabelName = "label"

// TermsType is the type of the top_terms and top_categories columns: a
// list of (term, weight), heaviest first.
var TermsType = arrow.ListOf(arrow.StructOf(
	arrow.Field{Name: "term", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "weight", Type: arrow.PrimitiveTypes.Float64},
))

// Schema is the scoring features table: user_id, the Names (float64), and
// the user's top_terms and top_categories.
var Schema = schema(false)

// TrainSchema is the training table: user_id, the Names and the label.
var TrainSchema = schema(true)

func schema(train bool) *arrow.Schema {
	fields := []arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String}}
	for _, n := range Names {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
	}
	if train {
		fields = append(fields, arrow.Field{Name: LabelName, Type: arrow.PrimitiveTypes.Float64})
	} else {
		fields = append(fields,
			arrow.Field{Name: "top_terms", Type: TermsType, Nullable: true},
			arrow.Field{Name: "top_categories", Type: TermsType, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
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
	cols := make([]*array.Float64Builder, len(Names))
	for j := range Names {
		cols[j] = b.Field(1 + j).(*array.Float64Builder)
		cols[j].Reserve(len(rows))
	}
	ids.Reserve(len(rows))
	for _, r := range rows {
		ids.Append(r.UserID)
		for j, v := range r.Values {
			cols[j].Append(v)
		}
		if withLabel {
			b.Field(1 + len(Names)).(*array.Float64Builder).Append(r.Label)
		} else {
			AppendTerms(b.Field(1+len(Names)).(*array.ListBuilder), r.Terms)
			AppendTerms(b.Field(2+len(Names)).(*array.ListBuilder), r.Categories)
		}
	}
	return b.NewRecord()
}

// AppendTerms appends one list of terms to a builder of TermsType.
func AppendTerms(lb *array.ListBuilder, terms []interest.Term) {
	lb.Append(true)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	tb := sb.FieldBuilder(0).(*array.StringBuilder)
	wb := sb.FieldBuilder(1).(*array.Float64Builder)
	for _, t := range terms {
		sb.Append(true)
		tb.Append(t.Term)
		wb.Append(t.Weight)
	}
}

// Terms reads the lists of a TermsType column.
type Terms struct {
	l       *array.List
	term    *array.String
	weight  *array.Float64
	offsets []int32
}

// NewTerms returns a reader of a TermsType column.
func NewTerms(col arrow.Array) (*Terms, error) {
	l, ok := col.(*array.List)
	if !ok || !arrow.TypeEqual(col.DataType(), TermsType) {
		return nil, fmt.Errorf("terms column: type %v, want %v", col.DataType(), TermsType)
	}
	st := l.ListValues().(*array.Struct)
	return &Terms{l: l, term: st.Field(0).(*array.String), weight: st.Field(1).(*array.Float64), offsets: l.Offsets()}, nil
}

// Len is the number of terms of row i.
func (t *Terms) Len(i int) int {
	if t.l.IsNull(i) {
		return 0
	}
	return int(t.offsets[i+1] - t.offsets[i])
}

// At returns term k of row i without copying its string: valid while the
// record is.
func (t *Terms) At(i, k int) (string, float64) {
	j := int(t.offsets[i]) + k
	return t.term.Value(j), t.weight.Value(j)
}

// Row returns the terms of row i, copied.
func (t *Terms) Row(i int) []interest.Term {
	n := t.Len(i)
	if n == 0 {
		return nil
	}
	out := make([]interest.Term, n)
	for k := range out {
		s, w := t.At(i, k)
		out[k] = interest.Term{Term: string([]byte(s)), Weight: w}
	}
	return out
}

// Rows decodes a record of Schema or TrainSchema.
func Rows(rec arrow.Record) ([]Row, error) {
	withLabel := rec.Schema().Equal(TrainSchema)
	if !withLabel && !rec.Schema().Equal(Schema) {
		return nil, fmt.Errorf("features record: unexpected schema %v", rec.Schema())
	}
	ids := rec.Column(0).(*array.String)
	cols := columns(rec)
	var terms, cats *Terms
	if !withLabel {
		terms, _ = NewTerms(rec.Column(1 + len(Names)))
		cats, _ = NewTerms(rec.Column(2 + len(Names)))
	}
	out := make([]Row, rec.NumRows())
	back := make([]float64, len(out)*len(Names))
	for i := range out {
		v := back[i*len(Names) : (i+1)*len(Names) : (i+1)*len(Names)]
		for j, c := range cols {
			v[j] = c.Value(i)
		}
		out[i] = Row{UserID: string([]byte(ids.Value(i))), Values: v}
		if withLabel {
			out[i].Label = rec.Column(1 + len(Names)).(*array.Float64).Value(i)
		} else {
			out[i].Terms, out[i].Categories = terms.Row(i), cats.Row(i)
		}
	}
	return out, nil
}

// EachValues calls fn with every row's user id and feature values (in
// Names order) of a record of Schema or TrainSchema, without copying: id
// and values are valid only during the call. It is the cheap way to stream
// a shard's features (k-means iterations read every row many times).
func EachValues(rec arrow.Record, fn func(id string, values []float64)) error {
	if !rec.Schema().Equal(TrainSchema) && !rec.Schema().Equal(Schema) {
		return fmt.Errorf("features record: unexpected schema %v", rec.Schema())
	}
	ids := rec.Column(0).(*array.String)
	cols := columns(rec)
	v := make([]float64, len(Names))
	for i := 0; i < int(rec.NumRows()); i++ {
		for j, c := range cols {
			v[j] = c.Value(i)
		}
		fn(ids.Value(i), v)
	}
	return nil
}

func columns(rec arrow.Record) []*array.Float64 {
	cols := make([]*array.Float64, len(Names))
	for j := range Names {
		cols[j] = rec.Column(1 + j).(*array.Float64)
	}
	return cols
}

// PricesSchema is the table of PriceCounts (one row per item and price,
// sorted) and, with count 1, of reference prices.
var PricesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "item_id", Type: arrow.BinaryTypes.String},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// PricesRecord encodes p as a record of PricesSchema sorted by item, then
// price. The caller must Release it.
func PricesRecord(p PriceCounts, mem memory.Allocator) arrow.Record {
	keys := make([]ItemPrice, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sortItemPrices(keys)
	b := array.NewRecordBuilder(mem, PricesSchema)
	defer b.Release()
	for _, k := range keys {
		b.Field(0).(*array.StringBuilder).Append(k.Item)
		b.Field(1).(*array.Float64Builder).Append(k.Price)
		b.Field(2).(*array.Int64Builder).Append(p[k])
	}
	return b.NewRecord()
}

// ReadPrices adds the rows of a record of PricesSchema to p.
func ReadPrices(rec arrow.Record, p PriceCounts) error {
	if !rec.Schema().Equal(PricesSchema) {
		return fmt.Errorf("prices record: schema %v, want %v", rec.Schema(), PricesSchema)
	}
	items := rec.Column(0).(*array.String)
	prices := rec.Column(1).(*array.Float64)
	counts := rec.Column(2).(*array.Int64)
	for i := 0; i < int(rec.NumRows()); i++ {
		p[ItemPrice{Item: string([]byte(items.Value(i))), Price: prices.Value(i)}] += counts.Value(i)
	}
	return nil
}
