package ingest

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
)

// TestTextColumn: a textColumn's array holds the values and nulls Arrow's
// StringBuilder would, batch after batch.
func TestTextColumn(t *testing.T) {
	type val struct {
		s    string
		null bool
	}
	vals := func(n int, null func(i int) bool) []val {
		out := make([]val, n)
		for i := range out {
			out[i] = val{fmt.Sprint("v", i*7), null(i)}
		}
		return out
	}
	tests := []struct {
		name    string
		batches [][]val
	}{
		{"no nulls", [][]val{vals(20, func(int) bool { return false })}},
		{"first null", [][]val{vals(20, func(i int) bool { return i == 0 })}},
		{"null after nine", [][]val{vals(20, func(i int) bool { return i == 9 })}},
		{"every third null", [][]val{vals(50, func(i int) bool { return i%3 == 0 })}},
		{"all null", [][]val{vals(17, func(int) bool { return true })}},
		{"empty strings", [][]val{{{"", false}, {"", true}, {"x", false}}}},
		{"empty batch", [][]val{{}}},
		{"two batches", [][]val{vals(10, func(i int) bool { return i == 3 }), vals(12, func(int) bool { return false })}},
		{"sizes around the bitmap's padding", [][]val{vals(511, func(i int) bool { return i == 500 }), vals(513, func(i int) bool { return i == 0 }),
			vals(600, func(i int) bool { return i%7 == 0 }), vals(1025, func(i int) bool { return i == 1024 })}},
		{"a full batch", [][]val{vals(batchRows, func(i int) bool { return i%1000 == 5 }), vals(batchRows-1, func(i int) bool { return i == 9 })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c textColumn
			for bi, batch := range tt.batches {
				want := array.NewStringBuilder(memory.DefaultAllocator)
				for _, v := range batch {
					c.append(v.s, v.null)
					if v.null {
						want.AppendNull()
					} else {
						want.Append(v.s)
					}
				}
				got, w := c.array().(*array.String), want.NewStringArray()
				if got.Len() != w.Len() || got.NullN() != w.NullN() {
					t.Fatalf("batch %d: %d values, %d null; want %d, %d", bi, got.Len(), got.NullN(), w.Len(), w.NullN())
				}
				for i := range w.Len() {
					if got.IsNull(i) != w.IsNull(i) || got.Value(i) != w.Value(i) {
						t.Errorf("batch %d, value %d: %q null %v; want %q null %v", bi, i, got.Value(i), got.IsNull(i), w.Value(i), w.IsNull(i))
					}
				}
				if !array.Equal(got, w) {
					t.Errorf("batch %d: arrays differ: %v and %v", bi, got, w)
				}
				if !bytes.Equal(encodeText(t, got), encodeText(t, w)) {
					t.Errorf("batch %d: encoded bytes differ", bi)
				}
				got.Release()
				w.Release()
				want.Release()
			}
		})
	}
}

// TestTextColumnRows: appendRows copies the rows appendRows copies into
// Arrow's StringBuilder, to the same bytes once encoded, with and without
// nulls, gaps and null replacement.
func TestTextColumnRows(t *testing.T) {
	mem := memory.DefaultAllocator
	src := func(n int, null func(i int) bool) *array.String {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for i := range n {
			if null(i) {
				b.AppendNull()
			} else {
				b.Append(fmt.Sprint("s", i*i))
			}
		}
		return b.NewStringArray()
	}
	all := func(n int) []int {
		r := make([]int, n)
		for i := range r {
			r[i] = i
		}
		return r
	}
	noNull := src(40, func(int) bool { return false })
	someNull := src(40, func(i int) bool { return i%7 == 3 })
	empty := src(40, func(int) bool { return false })
	// Arrow lets a null slot hold bytes: "a", null over "zz", "b".
	dirtyData := array.NewData(arrow.BinaryTypes.String, 3, []*memory.Buffer{memory.NewBufferBytes([]byte{0b101}),
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 1, 3, 4})), memory.NewBufferBytes([]byte("azzb"))}, nil, 1, 0)
	dirty := array.NewStringData(dirtyData)
	dirtyData.Release()
	tests := []struct {
		name     string
		batches  [][]int // rows of each append, into one batch
		a        *array.String
		nullable bool
	}{
		{"all rows", [][]int{all(40)}, noNull, true},
		{"gaps", [][]int{{0, 1, 2, 5, 6, 9, 39}}, noNull, true},
		{"two appends", [][]int{{0, 1, 2}, {3, 4, 20}}, noNull, false},
		{"nulls nullable", [][]int{all(40)}, someNull, true},
		{"nulls not nullable", [][]int{all(40)}, someNull, false},
		{"nulls then plain", [][]int{{2, 3, 4}, {5, 6, 7}}, someNull, true},
		{"no rows", [][]int{{}}, noNull, true},
		{"empty strings", [][]int{{1, 2}}, empty, true},
		{"null slot with bytes", [][]int{{0, 1, 2}, {1}}, dirty, true},
		{"plain then nulls", [][]int{{0, 1}, {2, 3, 4}}, someNull, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c textColumn
			b := array.NewStringBuilder(mem)
			defer b.Release()
			n := 0
			for _, rows := range tt.batches {
				c.appendRows(tt.a, rows, tt.nullable)
				appendRows(b, tt.a, rows, tt.nullable)
				n += len(rows)
			}
			got, want := c.array(), b.NewArray()
			defer got.Release()
			defer want.Release()
			if got.Len() != n || !array.Equal(got, want) {
				t.Fatalf("%d rows: %v, want %v", n, got, want)
			}
			if !bytes.Equal(encodeText(t, got), encodeText(t, want)) {
				t.Errorf("encoded bytes differ")
			}
		})
	}
	noNull.Release()
	someNull.Release()
	empty.Release()
	dirty.Release()
}

// encodeText encodes a text array as a one-column Arrow IPC stream.
func encodeText(t *testing.T, a arrow.Array) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{a}, int64(a.Len()))
	defer rec.Release()
	data, err := arrowio.Encode(schema, memory.DefaultAllocator, rec)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFixedColumn: a fixedColumn's arrays equal those of Arrow's
// builders for the staged fixed-width types, with and without nulls,
// batch after batch.
func TestFixedColumn(t *testing.T) {
	mem := memory.DefaultAllocator
	for _, n := range []int{0, 1, 9, 600} {
		for _, nulls := range []bool{false, true} {
			null := func(i int) bool { return nulls && i%5 == 2 }
			i64, ts, f64 := &fixedColumn{width: 8}, &fixedColumn{width: 8}, &fixedColumn{width: 8}
			u32, fsb := &fixedColumn{width: 4}, &fixedColumn{width: 16}
			tsType := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
			bi, bt, bf := array.NewInt64Builder(mem), array.NewTimestampBuilder(mem, tsType), array.NewFloat64Builder(mem)
			bu, bb := array.NewUint32Builder(mem), array.NewFixedSizeBinaryBuilder(mem, fpType)
			for batch := range 2 {
				for i := range n {
					v := int64(i*i - 7*batch)
					var fp [16]byte
					fp[0], fp[15] = byte(i), byte(batch)
					if null(i) {
						i64.appendNull()
						ts.appendNull()
						f64.appendNull()
						bi.AppendNull()
						bt.AppendNull()
						bf.AppendNull()
					} else {
						i64.append64(uint64(v))
						ts.append64(uint64(v))
						f64.append64(math.Float64bits(float64(v) / 3))
						bi.Append(v)
						bt.Append(arrow.Timestamp(v))
						bf.Append(float64(v) / 3)
					}
					u32.append32(uint32(i))
					bu.Append(uint32(i))
					fsb.appendBytes(fp[:])
					bb.Append(fp[:])
				}
				for _, c := range []struct {
					got  *fixedColumn
					t    arrow.DataType
					want array.Builder
				}{{i64, arrow.PrimitiveTypes.Int64, bi}, {ts, tsType, bt}, {f64, arrow.PrimitiveTypes.Float64, bf},
					{u32, arrow.PrimitiveTypes.Uint32, bu}, {fsb, fpType, bb}} {
					got, want := c.got.array(c.t), c.want.NewArray()
					if !array.Equal(got, want) {
						t.Errorf("%d values, nulls %v, batch %d, %v: %v, want %v", n, nulls, batch, c.t, got, want)
					}
					got.Release()
					want.Release()
				}
			}
		}
	}
}
