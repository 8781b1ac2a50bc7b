package features

import (
	"bytes"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"

	"github.com/promoflow/promoflow/internal/interest"
)

// TestTableDictionaryColumns checks that the columns meant to be
// dictionary encoded exist under those paths and are, and that the
// features are not.
func TestTableDictionaryColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rows := make([]Row, 100)
	for i := range rows {
		v := make([]float64, len(Names))
		for j := range v {
			v[j] = float64(i*len(v) + j)
		}
		rows[i] = Row{UserID: string(rune('a'+i%26)) + string(rune('a'+i/26)), Values: v,
			Terms:      []interest.Term{{Term: "tea", Weight: 1}},
			Categories: []interest.Term{{Term: "kitchen", Weight: 1}}}
	}
	rec := Record(rows, false, mem)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := NewTableWriter(&buf, mem)
	if err != nil {
		t.Fatal(err)
	}
	segs := map[string]int32{rows[0].UserID: 1}
	if _, err := w.Write(rec, segs, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	schema := pf.MetaData().Schema
	rg := pf.MetaData().RowGroup(0)
	dict := map[string]bool{}
	for _, path := range dictionaryColumns {
		dict[path] = true
	}
	for _, path := range append([]string{"user_id", "recency_days", "interest_15", "top_terms.list.element.weight"}, dictionaryColumns...) {
		i := schema.ColumnIndexByName(path)
		if i < 0 {
			t.Fatalf("no column %q in the table's Parquet schema", path)
		}
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if got := cc.HasDictionaryPage(); got != dict[path] {
			t.Errorf("column %s: dictionary page %v, want %v", path, got, dict[path])
		}
	}
}
