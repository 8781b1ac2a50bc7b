package ingest

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
)

// -update rewrites the golden rejects files from the current output;
// review the diff before committing it.
var update = flag.Bool("update", false, "rewrite testdata/golden/*.rejects.csv")

// goldenFile reads testdata/golden/name.
func goldenFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func goldenMapping(t testing.TB) *mapping.Mapping {
	t.Helper()
	data, err := os.ReadFile("testdata/golden/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGolden ingests small hand-made files with every kind of bad row and
// compares each source's rejects CSV (source, line, column, reason,
// value) with testdata/golden/<file>.rejects.csv, byte for byte.
func TestGolden(t *testing.T) {
	m := goldenMapping(t)
	for _, tc := range []struct {
		file string
		want Result // counts only
		// types of the accepted events
		byType map[string]int64
	}{
		// BOM, CRLF, bad timestamp, unknown type, missing user,
		// unparseable and fractional numbers, wrong column count, two
		// quoting errors, an embedded newline, a duplicate, invalid
		// UTF-8, a blank line, a negative price, a duplicate of a rejected
		// row, a quote never closed.
		{"events.csv", Result{RowsRead: 18, Accepted: 4, Duplicates: 2, Rejected: 12, NoUser: 1}, map[string]int64{"purchase": 3, "view": 1}},
		// gzip-compressed.
		{"events-small.csv.gz", Result{RowsRead: 4, Accepted: 2, Duplicates: 1, Rejected: 1}, map[string]int64{"purchase": 1, "return": 1}},
		// Another delimiter.
		{"semi.csv", Result{RowsRead: 3, Accepted: 1, Rejected: 2}, map[string]int64{"purchase": 1}},
		// JSON Lines: nulls, numbers as user ids, nested values, lines
		// that are not JSON objects, a last line cut short.
		{"events.jsonl", Result{RowsRead: 12, Accepted: 3, Duplicates: 1, Rejected: 8, NoUser: 1}, map[string]int64{"purchase": 1, "view": 2}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join("testdata/golden", tc.file)
			// Splits of 64 bytes: several per text file, so records are
			// framed across split boundaries too.
			res, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 2, SplitBytes: 64, ChunkRows: 3, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.RowsRead != tc.want.RowsRead || r.Accepted != tc.want.Accepted || r.Duplicates != tc.want.Duplicates ||
				r.Rejected != tc.want.Rejected || r.NoUser != tc.want.NoUser {
				t.Errorf("read %d accepted %d duplicates %d rejected %d no user %d; want %+v",
					r.RowsRead, r.Accepted, r.Duplicates, r.Rejected, r.NoUser, tc.want)
			}
			if !equalCounts(r.ByType, tc.byType) {
				t.Errorf("by type %v, want %v", r.ByType, tc.byType)
			}
			got, err := os.ReadFile(r.Rejects)
			if err != nil {
				t.Fatal(err)
			}
			golden := path + ".rejects.csv"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("rejects differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// The same file in one split and one chunk: the same counts
			// and the same rejects.
			res1, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 3, SplitBytes: 1 << 20, ChunkRows: 1000, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			one, _ := os.ReadFile(res1[0].Rejects)
			if string(one) != string(got) || res1[0].Accepted != r.Accepted || res1[0].Duplicates != r.Duplicates {
				t.Errorf("one split: %+v\n%s\nmany splits: %+v\n%s", res1[0], one, r, got)
			}
		})
	}
}

// TestGoldenEvents checks the accepted rows of events.csv: fill values,
// carry forward within a user, time zone conversion, an embedded newline
// and doubled quotes.
func TestGoldenEvents(t *testing.T) {
	dir := t.TempDir()
	if _, err := Local(context.Background(), []string{"testdata/golden/events.csv"}, LocalOptions{Mapping: goldenMapping(t), Shards: 1, SplitBytes: 1 << 20, ChunkRows: 1000, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	rows := readTable(t, filepath.Join(dir, "events", "shard=0000", "000.arrow"))
	london := func(s string) int64 {
		loc, _ := time.LoadLocation("Europe/London")
		tm, _ := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		return tm.UnixMilli()
	}
	want := [][]string{
		// user, ts (Unix ms), type, item, quantity, price, channel
		{"u1", fmtInt(london("2026-03-01 10:00:00")), "purchase", "A", "2", "9.99", "web"},
		{"u1", fmtInt(london("2026-06-01 10:05:00")), "view", "B", "1", "0", "web"}, // quantity filled, channel carried
		{"u4", fmtInt(london("2026-03-01 10:00:00")), "purchase", "multi\nline, \"quoted\"", "1", "1", "app"},
		{"u6", fmtInt(london("2026-03-01 10:00:00")), "purchase", "E", "1", "3", "web"}, // channel filled
	}
	if london("2026-06-01 10:05:00") != time.Date(2026, 6, 1, 9, 5, 0, 0, time.UTC).UnixMilli() {
		t.Fatal("summer time: 10:05 in London is 09:05 UTC")
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		got := []string{r[0].Str, fmtInt(r[1].Int), r[2].Str, r[3].Str, fmtInt(r[6].Int), fmtFloat(r[7].Float), r[9].Str}
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}
}

// TestGoldenBadFiles: files that cannot be read as configured fail as a
// whole, with a *BadInputError naming file, line or column.
func TestGoldenBadFiles(t *testing.T) {
	m := goldenMapping(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var many strings.Builder
	many.WriteString("user,when,kind,sku,qty,price,channel\n")
	for i := 0; i < 40; i++ {
		many.WriteString("u1,01/03/2026 10:00,view,A,1,1,web\n")
	}
	var latin strings.Builder
	latin.WriteString("user,when,kind,sku,qty,price,channel\n")
	for i := 0; i < 40; i++ {
		latin.WriteString("u1,2026-03-01 10:00:00,view,caf\xe9,1,1,web\n")
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"truncated gzip", "testdata/golden/truncated.csv.gz", "truncated.csv.gz: corrupt gzip"},
		{"missing column", write("events-nochannel.csv", "user,when,kind,sku,qty,price\nu1,2026-03-01 10:00:00,view,A,1,1\n"),
			`events-nochannel.csv:1: column "channel": not in the file`},
		{"wrong delimiter", write("events-tabs.csv", "user\twhen\tkind\tsku\tqty\tprice\tchannel\n"),
			`events-tabs.csv:1: column "user": not in the file`},
		{"timestamps in another layout", write("events-us.csv", many.String()),
			`events-us.csv:2: column "when": bad ts in 40 of 40 rows: wrong file or mapping (example value "01/03/2026 10:00")`},
		{"not UTF-8", write("events-latin1.csv", latin.String()),
			`events-latin1.csv:2: column "sku": invalid utf-8 in 40 of 40 rows`},
		{"empty", write("events-empty.csv", ""), "events-empty.csv:1: empty file, no header"},
		{"unclosed quote", write("events-quote.csv", "user,when,kind,sku,qty,price,channel\n\"u1,"+strings.Repeat("x\n", 100)),
			""}, // one long bad record, not a bad file: see TestGolden
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Local(context.Background(), []string{tc.path}, LocalOptions{Mapping: m, Shards: 2, SplitBytes: 1 << 20, ChunkRows: 100, Dir: t.TempDir()})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var bad *BadInputError
			if !errors.As(err, &bad) {
				t.Fatalf("err = %v, want a *BadInputError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// readTable returns every row of an Arrow file of the events table.
func readTable(t *testing.T, path string) [][]canon.Value {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kinds := canon.EventsTable.Kinds()
	var rows [][]canon.Value
	err = arrowio.Each(data, canon.EventsTable.Schema, memory.DefaultAllocator, func(rec arrow.Record) error {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]canon.Value, len(kinds))
			for j, k := range kinds {
				row[j] = canon.ValueAt(rec.Column(j), k, i)
				row[j].Str = strings.Clone(row[j].Str)
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func fmtInt(v int64) string     { return strconv.FormatInt(v, 10) }
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
