package ingest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/shard"
)

const header = "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n"

func TestReadCSVAccounting(t *testing.T) {
	in := header +
		"u1,2026-11-01T10:00:00Z,view,i1,shoes,red shoe,,,,web\n" + // line 2 ok
		"u1,2026-11-01 11:00:00,purchase,i1,shoes,red shoe,2,59.5,o1,web\n" + // 3 ok
		"u2,yesterday,view,i2,bags,tote,,,,app\n" + // 4 bad ts
		",2026-11-01T10:00:00Z,view,i2,bags,tote,,,,app\n" + // 5 missing user
		"u3,2026-11-01T10:00:00Z,click,i2,bags,tote,,,,app\n" + // 6 unknown type
		"u3,2026-11-01T10:00:00Z,view\n" + // 7 field count
		"u4,2026-11-02T10:00:00Z,search,,,\"trail\nshoes\",,,,web\n" + // 8-9 ok, embedded newline
		"u4,2026-11-02T10:00:00Z,purchase,i3,bags,x,two,1,o2,web\n" + // 10 bad quantity
		"u5,2026-11-03T10:00:00Z,purchase,i3,bags,x,1,abc,o3,web\n" // 11 bad price
	var got []canon.Event
	var rejects []Reject
	res, err := ReadCSV(strings.NewReader(in), "raw/x.csv",
		func(e canon.Event) error { got = append(got, e); return nil },
		func(r Reject) error { rejects = append(rejects, r); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsRead != 9 || res.Accepted != 3 || res.Rejected != 6 {
		t.Fatalf("read %d accepted %d rejected %d, want 9/3/6", res.RowsRead, res.Accepted, res.Rejected)
	}
	if res.RowsRead != res.Accepted+res.Duplicates+res.Rejected {
		t.Error("rows not accounted for")
	}
	wantRejects := []struct {
		line   int
		column string
		reason string
	}{
		{4, "ts", "bad ts"}, {5, "user_id", "missing user_id"}, {6, "type", "unknown type"},
		{7, "", "field count"}, {10, "quantity", "bad quantity"}, {11, "price", "bad price"},
	}
	if len(rejects) != len(wantRejects) {
		t.Fatalf("rejects = %+v", rejects)
	}
	for i, w := range wantRejects {
		r := rejects[i]
		if r.Line != w.line || r.Column != w.column || r.Reason != w.reason {
			t.Errorf("reject %d = %+v, want line %d column %q reason %q", i, r, w.line, w.column, w.reason)
		}
	}
	if got[1].Quantity != 2 || got[1].Price != 59.5 || got[1].OrderID != "o1" {
		t.Errorf("purchase parsed as %+v", got[1])
	}
	if got[2].Text != "trail\nshoes" {
		t.Errorf("embedded newline text = %q", got[2].Text)
	}
	if res.ByReason["bad ts"] != 1 || len(res.ByReason) != 6 {
		t.Errorf("by reason = %v", res.ByReason)
	}
	if !res.MinTS.Equal(got[0].TS) || res.MaxTS.Format("2006-01-02") != "2026-11-02" {
		t.Errorf("ts range %v..%v", res.MinTS, res.MaxTS)
	}
}

func TestReadCSVBadInput(t *testing.T) {
	manyBadTS := &strings.Builder{}
	manyBadTS.WriteString(header)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(manyBadTS, "u%d,01/11/2026 10:00,view,i1,shoes,x,,,,web\n", i)
	}
	for _, tc := range []struct {
		name, in, column string
	}{
		{"missing column", "user_id,type\nu1,view\n", "ts"},
		{"empty", "", ""},
		{"unparseable timestamps", manyBadTS.String(), "ts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), "raw/bad.csv",
				func(canon.Event) error { return nil }, func(Reject) error { return nil }, nil)
			var bad *BadInputError
			if !errors.As(err, &bad) {
				t.Fatalf("err = %v, want BadInputError", err)
			}
			if bad.Column != tc.column || bad.Source != "raw/bad.csv" {
				t.Errorf("error %q names column %q, want %q", err, bad.Column, tc.column)
			}
			if !strings.Contains(err.Error(), "raw/bad.csv") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestSharderRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n, users, perUser = 4, 500, 40 // 20,000 rows: more than one batch per shard
	s, err := NewSharder(t.TempDir(), n, mem)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < perUser; i++ {
		for u := 0; u < users; u++ {
			if err := s.Add(canon.Event{UserID: fmt.Sprintf("u%d", u), Type: canon.View}); err != nil {
				t.Fatal(err)
			}
		}
	}
	paths, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var rows int64
		err = arrowio.Each(data, canon.EventSchema, mem, func(rec arrow.Record) error {
			ev, err := canon.NewEvents(rec)
			if err != nil {
				return err
			}
			for r := 0; r < ev.Len(); r++ {
				if got := shard.Of(ev.UserID(r), n); got != i {
					return fmt.Errorf("user %s in shard %d, routes to %d", ev.UserID(r), i, got)
				}
			}
			rows += rec.NumRows()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rows != s.Rows()[i] {
			t.Errorf("shard %d file has %d rows, sharder counted %d", i, rows, s.Rows()[i])
		}
		total += rows
	}
	if total != users*perUser {
		t.Errorf("total rows %d, want %d", total, users*perUser)
	}
}

func TestSharderEmptyShard(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, err := NewSharder(t.TempDir(), 3, mem)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := arrowio.Each(data, canon.EventSchema, mem, func(arrow.Record) error { return errors.New("unexpected record") }); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
