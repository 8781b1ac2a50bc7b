package ingest

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
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
				got.Release()
				w.Release()
				want.Release()
			}
		})
	}
}
