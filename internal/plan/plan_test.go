package plan

import (
	"bytes"
	"context"
	"encoding/csv"
	"github.com/promoflow/promoflow/internal/campaign"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

var (
	start = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	end   = start.AddDate(0, 0, 7)
	rows  = []Row{
		{UserID: "u1", Segment: "loyal", Offer: "coupon5", Channel: "email", Propensity: 0.25, ExpectedIncrementalRevenue: 3.5, ExpectedCost: 1.25,
			HoldoutOffer: campaign.None, Source: "uplift", Reasons: "low propensity 0.25; basket 50", AssignmentProbability: 0.7625, CampaignID: "weekly-2026-W49", WindowStart: start, WindowEnd: end,
			RecommendedItems: "85123A|71053", RecommendedCategory: "home"},
		{UserID: "u2", Segment: "new", Offer: campaign.None, Channel: campaign.None, Source: campaign.None, Propensity: 0.9, Control: true, HoldoutOffer: "coupon5", HoldoutExpectedIncrementalRevenue: 2.25,
			Reasons: "high, \"quoted\"", AssignmentProbability: 0.2, CampaignID: "weekly-2026-W49", WindowStart: start, WindowEnd: end},
		{UserID: "u3", Segment: "new", Offer: "flash20", Channel: "app", Explore: true, HoldoutOffer: campaign.None, Source: "prior", Reasons: "exploration",
			AssignmentProbability: 0.01, CampaignID: "weekly-2026-W49", WindowStart: start, WindowEnd: end},
	}
)

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
	want := [][]string{
		Columns,
		{"u1", "loyal", "coupon5", "email", "3.500000", "1.250000", "false", "none", "0.000000", "false", rows[0].Reasons, "uplift", "0.250000", "0.762500", "weekly-2026-W49", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "85123A|71053", "home"},
		{"u2", "new", "none", "none", "0.000000", "0.000000", "true", "coupon5", "2.250000", "false", rows[1].Reasons, "none", "0.900000", "0.200000", "weekly-2026-W49", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "", ""},
		{"u3", "new", "flash20", "app", "0.000000", "0.000000", "false", "none", "0.000000", "true", "exploration", "prior", "0.000000", "0.010000", "weekly-2026-W49", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "", ""},
	}
	if !slices.EqualFunc(recs, want, slices.Equal) {
		t.Errorf("csv =\n%q\nwant\n%q", recs, want)
	}
}

// TestColumnsDocumented: docs/DATA.md describes every plan column.
func TestColumnsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/DATA.md")
	if err != nil {
		t.Fatal(err)
	}
	// Only the plan's section counts: other tables share column names.
	_, section, _ := strings.Cut(string(doc), "## The plan:")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, c := range Columns {
		if !strings.Contains(section, "| `"+c+"` |") {
			t.Errorf("docs/DATA.md: no row for plan column %s", c)
		}
	}
}
