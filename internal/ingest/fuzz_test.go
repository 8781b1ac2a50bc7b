package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz tests: `go test -fuzz FuzzCSVReader ./internal/ingest` (one at a
// time); their seed corpora run as ordinary tests.

// seedFiles adds the golden files, uncompressed, to a corpus.
func seedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata/golden", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(7))
		f.Add(data, uint16(64))
	}
}

type seen struct {
	line int64
	fp   [16]byte
	err  string
}

// readAll reads every record of rd.
func readAll(t *testing.T, rd Reader) ([]seen, error) {
	var out []seen
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if n := len(out); n > 0 && rec.Line <= out[n-1].line {
			t.Fatalf("record at line %d after one at line %d", rec.Line, out[n-1].line)
		}
		if rec.Err == "" && len(rec.Fields) != len(rd.Columns()) {
			t.Fatalf("line %d: %d fields, %d columns, no error", rec.Line, len(rec.Fields), len(rd.Columns()))
		}
		// A CSV record split into fields is fingerprinted by its fields,
		// whichever way the reader laid them out.
		if _, csv := rd.(*CSVReader); csv && rec.Err != "csv syntax" && rec.FP != newFingerprinter().fields(rec.Fields, nil) {
			t.Fatalf("line %d: fingerprint differs from its fields' %q", rec.Line, rec.Fields)
		}
		out = append(out, seen{rec.Line, rec.FP, rec.Err})
	}
}

// checkSplits reads data whole and split by PlanText, and requires the
// same records, in the same order, with the same lines and fingerprints:
// splits never cut a record or lose one.
func checkSplits(t *testing.T, data []byte, splitBytes int64, csv bool, open func(r io.Reader, sp *Split, cols []string) (Reader, error)) {
	whole, err := open(bytes.NewReader(data), nil, nil)
	if err != nil {
		var bad *BadInputError
		if !errors.As(err, &bad) {
			t.Fatalf("open: %v, want a *BadInputError", err)
		}
		return
	}
	all, err := readAll(t, whole)
	if err != nil {
		var bad *BadInputError
		if !errors.As(err, &bad) {
			t.Fatalf("read: %v, want a *BadInputError", err)
		}
		return // a record over the size limit fails the file
	}
	splits, err := PlanText(bytes.NewReader(data), csv, splitBytes)
	if err != nil {
		t.Fatal(err)
	}
	var parts []seen
	end := int64(0)
	for i, sp := range splits {
		if i > 0 && sp.Start != end {
			t.Fatalf("split %d starts at %d, the one before ends at %d", i, sp.Start, end)
		}
		end = sp.End
		rd, err := open(bytes.NewReader(data[sp.Start:sp.End]), &sp, whole.Columns())
		if err != nil {
			t.Fatalf("split %d: %v", i, err)
		}
		got, err := readAll(t, rd)
		if err != nil {
			t.Fatalf("split %d: %v", i, err)
		}
		parts = append(parts, got...)
	}
	if end != int64(len(data)) {
		t.Fatalf("splits end at %d of %d bytes", end, len(data))
	}
	if len(parts) != len(all) {
		t.Fatalf("%d records in %d splits, %d whole", len(parts), len(splits), len(all))
	}
	for i := range all {
		if parts[i] != all[i] {
			t.Fatalf("record %d: split %+v, whole %+v", i, parts[i], all[i])
		}
	}
}

func FuzzCSVReader(f *testing.F) {
	seedFiles(f, "events.csv", "semi.csv")
	f.Add([]byte("a,b\n\"x\ny\",\"\"\"\"\r\n\n,\n"), uint16(1))
	f.Add([]byte("\ufeffa\n\"\n"), uint16(3))
	f.Add([]byte(""), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		checkSplits(t, data, int64(split)+1, true, func(r io.Reader, sp *Split, cols []string) (Reader, error) {
			opt := CSVOptions{MaxRecordBytes: 1 << 16}
			if sp != nil && sp.Start > 0 {
				opt.Header, opt.Start = cols, Position{Offset: sp.Start, Line: sp.Line}
			}
			return NewCSVReader(r, opt)
		})
	})
}

func FuzzJSONLReader(f *testing.F) {
	seedFiles(f, "events.jsonl")
	f.Add([]byte("{\"user\":\"a\\u00e9\",\"x\":[1,{\"y\":\"}\"}]}\n\n{}\r\n[]\n{\"user\":1e3}"), uint16(5))
	f.Add([]byte("\ufeff{\"user\":null}\n"), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cols := []string{"user", "when", "kind", "x"}
		checkSplits(t, data, int64(split)+1, false, func(r io.Reader, sp *Split, _ []string) (Reader, error) {
			opt := JSONLOptions{Columns: cols, MaxRecordBytes: 1 << 16}
			if sp != nil {
				opt.Start = Position{Offset: sp.Start, Line: sp.Line}
			}
			return NewJSONLReader(r, opt), nil
		})
	})
}

// FuzzIngest runs the whole local ingest (plan, stage, finalize, rejects)
// over a fuzzed CSV or JSON Lines file with the golden mapping, in small
// splits and chunks: it either fails with bad input or accounts for every
// record (Local checks accepted + duplicates + rejected = read, and the
// rejects by reason), and a single split gives the same accounting.
func FuzzIngest(f *testing.F) {
	for _, n := range []string{"events.csv", "semi.csv", "events.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata/golden", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, n == "events.jsonl")
	}
	f.Add([]byte("user,when,kind,sku,qty,price,channel\nu1,2026-03-01 10:00:00,view,,,,\nu1,2026-03-01 10:00:00,view,,,,\n"), false)
	m := goldenMapping(f)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		dir := t.TempDir()
		name := "events.csv"
		if jsonl {
			name = "events.jsonl"
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		run := func(split int64, chunk int) (Result, bool) {
			res, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 2, SplitBytes: split, ChunkRows: chunk, Dir: t.TempDir()})
			if err != nil {
				var bad *BadInputError
				if !errors.As(err, &bad) {
					t.Fatalf("err = %v, want a *BadInputError", err)
				}
				return Result{}, false
			}
			return res[0], true
		}
		one, ok1 := run(1<<20, 1<<20)
		many, ok2 := run(32, 2)
		if !ok1 || !ok2 {
			// A split can look like a wrong file on its own (most of its
			// few rows failing alike) when the whole does not.
			return
		}
		if one.RowsRead != many.RowsRead || one.Accepted != many.Accepted || one.Duplicates != many.Duplicates || one.Rejected != many.Rejected {
			t.Fatalf("one split %+v, many %+v", one, many)
		}
	})
}
