package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/promoflow/promoflow/internal/synth"
)

// TestFormatsAgree ingests the same events as CSV, gzip-compressed CSV,
// JSON Lines and Parquet (several row groups), each in several splits,
// and requires the same accounting, types, time range and events per
// shard.
func TestFormatsAgree(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Users: 60, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	csvData := buf.Bytes()
	jsonl, pq, n, err := convertEvents(csvData, 500)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{"events.csv": csvData, "events.jsonl": jsonl, "events.parquet": pq}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	if err := gzipTo(&gz, csvData); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "events.csv.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var ref *Result
	var refRows [][]string
	for _, name := range []string{"events.csv", "events.csv.gz", "events.jsonl", "events.parquet"} {
		out := t.TempDir()
		res, err := Local(context.Background(), []string{filepath.Join(dir, name)}, LocalOptions{Shards: 3, SplitBytes: 16 << 10, ChunkRows: 700, Dir: out})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := res[0]
		if r.RowsRead != int64(n) || r.Accepted+r.Duplicates != int64(n) {
			t.Errorf("%s: %+v, want %d rows read, all accepted or duplicates", name, r, n)
		}
		if name != "events.csv.gz" && r.Splits < 2 {
			t.Errorf("%s: %d splits, want several", name, r.Splits)
		}
		var rows [][]string
		for s := 0; s < 3; s++ {
			for _, row := range readTable(t, filepath.Join(out, "events", shardDir(s), "000.arrow")) {
				var cells []string
				for _, v := range row {
					cells = append(cells, v.Str+"|"+fmtInt(v.Int)+"|"+fmtFloat(v.Float))
				}
				rows = append(rows, cells)
			}
		}
		if ref == nil {
			ref, refRows = &r, rows
			continue
		}
		if r.Accepted != ref.Accepted || r.Duplicates != ref.Duplicates || !equalCounts(r.ByType, ref.ByType) ||
			!r.MinTS.Equal(ref.MinTS) || !r.MaxTS.Equal(ref.MaxTS) {
			t.Errorf("%s: %+v\nevents.csv: %+v", name, r, *ref)
		}
		if len(rows) != len(refRows) {
			t.Fatalf("%s: %d events, csv %d", name, len(rows), len(refRows))
		}
		for i := range rows {
			for j := range rows[i] {
				if rows[i][j] != refRows[i][j] {
					t.Fatalf("%s: event %d column %d = %q, csv %q", name, i, j, rows[i][j], refRows[i][j])
				}
			}
		}
	}
}

func shardDir(s int) string { return "shard=" + pad4(s) }

func pad4(i int) string {
	s := fmtInt(int64(i))
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

func gzipTo(w *bytes.Buffer, data []byte) error {
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}
