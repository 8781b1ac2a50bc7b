package interest

import (
	"fmt"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// CountsSchema is the table of document frequencies: one row per term,
// sorted by term. A shard's counts and a vocabulary are stored this way.
var CountsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "term", Type: arrow.BinaryTypes.String},
	{Name: "df", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// CountsRecord encodes c as a record of CountsSchema, sorted by term. The
// caller must Release it.
func CountsRecord(c Counts, mem memory.Allocator) arrow.Record {
	terms := make([]string, 0, len(c))
	for t := range c {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	df := make([]int64, len(terms))
	for i, t := range terms {
		df[i] = c[t]
	}
	return termsRecord(terms, df, mem)
}

// Record encodes the vocabulary's terms and document frequencies as a
// record of CountsSchema; FromCounts with the same document count restores
// it. The caller must Release it.
func (v *Vocabulary) Record(mem memory.Allocator) arrow.Record {
	return termsRecord(v.Terms, v.DF, mem)
}

func termsRecord(terms []string, df []int64, mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, CountsSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(terms, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(df, nil)
	return b.NewRecord()
}

// ReadCounts adds the rows of a record of CountsSchema to c.
func ReadCounts(rec arrow.Record, c Counts) error {
	if !rec.Schema().Equal(CountsSchema) {
		return fmt.Errorf("counts record: schema %v, want %v", rec.Schema(), CountsSchema)
	}
	terms := rec.Column(0).(*array.String)
	df := rec.Column(1).(*array.Int64)
	for i := 0; i < int(rec.NumRows()); i++ {
		c[string([]byte(terms.Value(i)))] += df.Value(i)
	}
	return nil
}

// FromCounts builds a vocabulary of every term of c, without pruning: the
// inverse of Vocabulary.Record.
func FromCounts(c Counts, docs int64) *Vocabulary {
	terms := make([]string, 0, len(c))
	for t := range c {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	df := make([]int64, len(terms))
	for i, t := range terms {
		df[i] = c[t]
	}
	return FromTerms(terms, df, docs)
}
