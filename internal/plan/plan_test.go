package plan

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

var rows = []Row{
	{UserID: "u1", Segment: "loyal", Offer: "coupon5", Channel: "email", Propensity: 0.25, ExpectedIncrementalRevenue: 3.5, ExpectedCost: 1.25, Reasons: "low propensity 0.25; basket 50"},
	{UserID: "u2", Segment: "new", Offer: "none", Propensity: 0.9, Control: true, Reasons: "high, \"quoted\""},
	{UserID: "u3", Segment: "new", Offer: "flash20", Channel: "app", Explore: true, Source: "prior", Reasons: "exploration"},
}

func TestParquetRoundTripDeterministic(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	write := func() []byte {
		var buf bytes.Buffer
		w, err := NewParquetWriter(&buf, mem)
		if err != nil {
			t.Fatal(err)
		}
		rec := Record(rows, mem)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := write(), write()
	if !bytes.Equal(a, b) {
		t.Fatal("same rows gave different Parquet bytes")
	}
	pf, err := file.NewParquetReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != int64(len(rows)) || tbl.NumCols() != int64(len(Columns)) {
		t.Fatalf("table %d x %d, want %d x %d", tbl.NumRows(), tbl.NumCols(), len(rows), len(Columns))
	}
	for i, name := range Columns {
		if tbl.Schema().Field(i).Name != name {
			t.Errorf("column %d = %q, want %q", i, tbl.Schema().Field(i).Name, name)
		}
	}
}

func TestRecordAndCSV(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := Record(rows, mem)
	got, err := Rows(rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if got[i] != rows[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], rows[i])
		}
	}
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][0] != "user_id" || recs[2][6] != "true" || recs[2][7] != "false" || recs[3][7] != "true" ||
		recs[2][8] != rows[1].Reasons || recs[1][4] != "3.500000" || recs[3][9] != "prior" {
		t.Errorf("csv = %q", recs)
	}
}
