package features

import (
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// SegmentSchema is a shard's segment assignment: every user's segment and
// squared distance to its centroid in standardized space, sorted by user.
var SegmentSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "segment", Type: arrow.PrimitiveTypes.Int32},
	{Name: "distance", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// SegmentRecord encodes a shard's assignment. The caller must Release it.
func SegmentRecord(ids []string, segs []int32, dist []float64, mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, SegmentSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(ids, nil)
	b.Field(1).(*array.Int32Builder).AppendValues(segs, nil)
	b.Field(2).(*array.Float64Builder).AppendValues(dist, nil)
	return b.NewRecord()
}

// TableSchema is the published per-user table, runs/<run>/features.parquet:
// user_id, segment (id, -1 if unassigned), segment_name, every feature of
// Names, top_terms and top_categories.
var TableSchema = func() *arrow.Schema {
	fields := []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "segment", Type: arrow.PrimitiveTypes.Int32},
		{Name: "segment_name", Type: arrow.BinaryTypes.String},
	}
	fields = append(fields, Schema.Fields()[1:]...)
	return arrow.NewSchema(fields, nil)
}()

// dictionaryColumns are the Parquet columns (dotted paths) of TableSchema
// written with dictionary encoding: their values repeat.
var dictionaryColumns = []string{
	"segment", "segment_name",
	"top_terms.list.element.term", "top_categories.list.element.term",
}

// TableWriter writes the published table as Parquet, one row group per
// Write. The bytes depend only on the rows.
type TableWriter struct {
	w   *pqarrow.FileWriter
	mem memory.Allocator
}

// NewTableWriter starts a Parquet file of TableSchema on w.
func NewTableWriter(w io.Writer, mem memory.Allocator) (*TableWriter, error) {
	// Dictionary encoding only where values repeat: segments and terms.
	// The features are mostly distinct floats and user ids are unique, so
	// hashing every value into a dictionary (that Parquet then abandons
	// once it grows too big) was most of the encoding's CPU and saved no
	// bytes.
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("promoflow"),
		parquet.WithDictionaryDefault(false),
	}
	for _, path := range dictionaryColumns {
		opts = append(opts, parquet.WithDictionaryFor(path, true))
	}
	props := parquet.NewWriterProperties(opts...)
	fw, err := pqarrow.NewFileWriter(TableSchema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, fmt.Errorf("features parquet: %w", err)
	}
	return &TableWriter{w: fw, mem: mem}, nil
}

// Write appends the rows of rec (Schema) with each user's segment from
// segs and its name from names, and returns the number of rows.
func (t *TableWriter) Write(rec arrow.Record, segs map[string]int32, names []string) (int64, error) {
	if !rec.Schema().Equal(Schema) {
		return 0, fmt.Errorf("features table: schema %v, want %v", rec.Schema(), Schema)
	}
	ids := rec.Column(0).(*array.String)
	sb := array.NewInt32Builder(t.mem)
	defer sb.Release()
	nb := array.NewStringBuilder(t.mem)
	defer nb.Release()
	for i := 0; i < int(rec.NumRows()); i++ {
		s, ok := segs[ids.Value(i)]
		if !ok {
			s = -1
		}
		sb.Append(s)
		if s >= 0 && int(s) < len(names) {
			nb.Append(names[s])
		} else {
			nb.Append("")
		}
	}
	segCol, nameCol := sb.NewArray(), nb.NewArray()
	defer segCol.Release()
	defer nameCol.Release()
	cols := append([]arrow.Array{rec.Column(0), segCol, nameCol}, rec.Columns()[1:]...)
	out := array.NewRecord(TableSchema, cols, rec.NumRows())
	defer out.Release()
	return out.NumRows(), t.w.Write(out)
}

// Close writes the footer.
func (t *TableWriter) Close() error { return t.w.Close() }
