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
	b := array.NewRecordBuilder(mem, Schema)
	defer b.Release()
	f := b.Fields()
	// Sized once: growing a shard's columns by doubling copied them
	// several times (most of the encoding's CPU at 62,500 users a shard).
	var rows, user, list, item, cat, src int
	for _, l := range lists {
		rows += len(l.Picks)
		user += len(l.Picks) * len(l.User)
		list += len(l.Picks) * len(l.List)
		for _, p := range l.Picks {
			item, cat, src = item+len(p.Item), cat+len(p.Category), src+len(p.Source)
		}
	}
	for k, n := range []int{0: user, 1: list, 3: item, 4: cat, 6: src} {
		if sb, ok := f[k].(*array.StringBuilder); ok {
			sb.ReserveData(n)
		}
	}
	for _, fb := range f {
		fb.Reserve(rows)
	}
	for _, l := range lists {
		for r, p := range l.Picks {
			f[0].(*array.StringBuilder).Append(l.User)
			f[1].(*array.StringBuilder).Append(l.List)
			f[2].(*array.Int32Builder).Append(int32(r + 1))
			f[3].(*array.StringBuilder).Append(p.Item)
			f[4].(*array.StringBuilder).Append(p.Category)
			f[5].(*array.Float64Builder).Append(p.Score)
			f[6].(*array.StringBuilder).Append(p.Source)
		}
	}
	return b.NewRecord()
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
