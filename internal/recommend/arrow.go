package recommend

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Schema is a shard's recommendations, and the columns of
// runs/<run>/recommendations.parquet: one row per user, list and rank.
// List is "" for the user's general list and a category for the list an
// offer restricted to that category features.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "list", Type: arrow.BinaryTypes.String},
	{Name: "rank", Type: arrow.PrimitiveTypes.Int32},
	{Name: "item", Type: arrow.BinaryTypes.String},
	{Name: "category", Type: arrow.BinaryTypes.String},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "source", Type: arrow.BinaryTypes.String},
}, nil)

// List is one user's ranked picks for one list.
type List struct {
	User  string
	List  string // "" or the category the list is restricted to
	Picks []Pick
}

// Record encodes lists (rank counts from 1); the caller must Release it.
func Record(lists []List, mem memory.Allocator) arrow.Record {
	// The columns are laid out in Go slices sized once and handed to Arrow
	// as they are: a builder would zero its buffers and copy every value
	// in (most of the encoding's CPU at 62,500 users a shard). mem is not
	// needed for that; the record is the caller's to Release all the same.
	var rows, users, names, items, cats, srcs int
	for _, l := range lists {
		rows += len(l.Picks)
		users += len(l.Picks) * len(l.User)
		names += len(l.Picks) * len(l.List)
		for _, p := range l.Picks {
			items, cats, srcs = items+len(p.Item), cats+len(p.Category), srcs+len(p.Source)
		}
	}
	user, list, item, cat, src := newStrings(rows, users), newStrings(rows, names), newStrings(rows, items), newStrings(rows, cats), newStrings(rows, srcs)
	rank, score := make([]int32, 0, rows), make([]float64, 0, rows)
	for _, l := range lists {
		for r, p := range l.Picks {
			user.add(l.User)
			list.add(l.List)
			rank = append(rank, int32(r+1))
			item.add(p.Item)
			cat.add(p.Category)
			score = append(score, p.Score)
			src.add(p.Source)
		}
	}
	cols := []arrow.Array{user.array(), list.array(), fixedArray(arrow.PrimitiveTypes.Int32, rank),
		item.array(), cat.array(), fixedArray(arrow.PrimitiveTypes.Float64, score), src.array()}
	rec := array.NewRecord(Schema, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// stringColumn is a string column without nulls laid out as Arrow lays
// it out: offsets and the values' bytes.
type stringColumn struct {
	offsets []int32
	data    []byte
}

// newStrings is a column of rows strings of size bytes in all.
func newStrings(rows, size int) *stringColumn {
	return &stringColumn{offsets: append(make([]int32, 0, rows+1), 0), data: make([]byte, 0, size)}
}

func (c *stringColumn) add(s string) {
	c.data = append(c.data, s...)
	c.offsets = append(c.offsets, int32(len(c.data)))
}

func (c *stringColumn) array() arrow.Array {
	d := array.NewData(arrow.BinaryTypes.String, len(c.offsets)-1,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.GetBytes(c.offsets)), memory.NewBufferBytes(c.data)}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// fixedArray is a column of fixed-width values without nulls over vs.
func fixedArray[T int32 | float64](t arrow.DataType, vs []T) arrow.Array {
	d := array.NewData(t, len(vs), []*memory.Buffer{nil, memory.NewBufferBytes(arrow.GetBytes(vs))}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// EachList calls fn for every (user, list) of rec, picks in rank order.
// Rows of one list must be consecutive, as Record writes them.
func EachList(rec arrow.Record, fn func(List) error) error {
	if !rec.Schema().Equal(Schema) {
		return fmt.Errorf("recommendations record: unexpected schema %v", rec.Schema())
	}
	users := rec.Column(0).(*array.String)
	lists := rec.Column(1).(*array.String)
	items := rec.Column(3).(*array.String)
	cats := rec.Column(4).(*array.String)
	scores := rec.Column(5).(*array.Float64)
	sources := rec.Column(6).(*array.String)
	var cur List
	for r := 0; r < int(rec.NumRows()); r++ {
		u, l := users.Value(r), lists.Value(r)
		if r > 0 && (u != cur.User || l != cur.List) {
			if err := fn(cur); err != nil {
				return err
			}
			cur = List{}
		}
		if len(cur.Picks) == 0 {
			cur.User, cur.List = string([]byte(u)), string([]byte(l))
		}
		cur.Picks = append(cur.Picks, Pick{Item: string([]byte(items.Value(r))), Category: string([]byte(cats.Value(r))), Score: scores.Value(r), Source: string([]byte(sources.Value(r)))})
	}
	if len(cur.Picks) > 0 {
		return fn(cur)
	}
	return nil
}

// Featured is what a plan row takes of one of a user's lists: its items
// as the plan spells them (Joined) and its category (Category).
type Featured struct {
	List     string // "" or the category the list is restricted to
	Items    string
	Category string
}

// FeaturedSchema is a shard's lists as plan rows take them: one row per
// user and list, a tenth of the lists' rows and without the columns only
// the published table has.
var FeaturedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "list", Type: arrow.BinaryTypes.String},
	{Name: "items", Type: arrow.BinaryTypes.String},
	{Name: "category", Type: arrow.BinaryTypes.String},
}, nil)

// FeaturedRecord encodes what plan rows take of lists (FeaturedSchema);
// the caller must Release it.
func FeaturedRecord(lists []List, mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, FeaturedSchema)
	defer b.Release()
	f := b.Fields()
	for _, fb := range f {
		fb.Reserve(len(lists))
	}
	for _, l := range lists {
		f[0].(*array.StringBuilder).Append(l.User)
		f[1].(*array.StringBuilder).Append(l.List)
		f[2].(*array.StringBuilder).Append(Joined(l.Picks))
		f[3].(*array.StringBuilder).Append(Category(l.Picks))
	}
	return b.NewRecord()
}

// EachFeatured calls fn for every (user, list) of rec with what a plan row
// takes of it. rec is FeaturedSchema's, or Schema's (a shard's lists
// written before FeaturedSchema), whose picks are read from the columns
// without building them. user and the Featured strings are copies the
// caller may keep (lists' and categories' names shared between calls).
// Rows of one list must be consecutive, as Record writes them.
func EachFeatured(rec arrow.Record, fn func(user string, f Featured) error) error {
	interned := map[string]string{} // lists' and categories' names: a few
	intern := func(s string) string {
		if s == "" {
			return ""
		}
		v, ok := interned[s]
		if !ok {
			v = strings.Clone(s)
			interned[v] = v
		}
		return v
	}
	n := int(rec.NumRows())
	switch {
	case rec.Schema().Equal(FeaturedSchema):
		users, lists := rec.Column(0).(*array.String), rec.Column(1).(*array.String)
		items, cats := rec.Column(2).(*array.String), rec.Column(3).(*array.String)
		for r := range n {
			f := Featured{List: intern(lists.Value(r)), Items: strings.Clone(items.Value(r)), Category: intern(cats.Value(r))}
			if err := fn(strings.Clone(users.Value(r)), f); err != nil {
				return err
			}
		}
		return nil
	case !rec.Schema().Equal(Schema):
		return fmt.Errorf("recommendations record: unexpected schema %v", rec.Schema())
	}
	users := rec.Column(0).(*array.String)
	lists := rec.Column(1).(*array.String)
	items := rec.Column(3).(*array.String)
	cats := rec.Column(4).(*array.String)
	var joined []byte
	for from := 0; from < n; {
		u, l := users.Value(from), lists.Value(from)
		to := from + 1
		for to < n && users.Value(to) == u && lists.Value(to) == l {
			to++
		}
		joined = joined[:0]
		for r := from; r < to; r++ {
			if r > from {
				joined = append(joined, '|')
			}
			joined = append(joined, items.Value(r)...)
		}
		f := Featured{List: intern(l), Items: string(joined),
			Category: intern(mostFrequent(to-from, func(i int) string { return cats.Value(from + i) }))}
		if err := fn(strings.Clone(u), f); err != nil {
			return err
		}
		from = to
	}
	return nil
}

// Encode serializes the model (encoding/gob).
func (m *Model) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return nil, fmt.Errorf("recommend model: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads a model Encode wrote.
func Decode(data []byte) (*Model, error) {
	m := &Model{}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(m); err != nil {
		return nil, fmt.Errorf("recommend model: %w", err)
	}
	m.buildIndex()
	return m, nil
}

// Joined is the plan's spelling of a list: item ids joined by "|".
func Joined(picks []Pick) string {
	var b bytes.Buffer
	for i, p := range picks {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(p.Item)
	}
	return b.String()
}
