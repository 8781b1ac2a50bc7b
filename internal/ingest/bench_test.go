package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/internal/synth"
)

// Reader benchmarks: the same synthetic events (internal/synth, 3,000
// users, about 110,000 events) as CSV, JSON Lines and Parquet.
//
//	go test -run XXX -bench . -benchmem ./internal/ingest
//
// `make bench-ingest` measures the whole ingest at 5 million events.

const benchUsers = 3000

var benchFiles struct {
	once                sync.Once
	csv, jsonl, parquet []byte
	events              int
	err                 error
}

// benchInputs returns the benchmark's events in the three formats.
func benchInputs(b *testing.B) (csvData, jsonlData, parquetData []byte, events int) {
	f := &benchFiles
	f.once.Do(func() {
		var buf bytes.Buffer
		if _, f.err = synth.Write(&buf, synth.Config{Users: benchUsers, Seed: 1}); f.err != nil {
			return
		}
		f.csv = buf.Bytes()
		f.jsonl, f.parquet, f.events, f.err = convertEvents(f.csv, 16384)
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.csv, f.jsonl, f.parquet, f.events
}

// convertEvents turns canonical events CSV into JSON Lines and into a
// typed Parquet file (timestamps, integers, floats) of groupRows-row groups.
func convertEvents(data []byte, groupRows int) (jsonl, pq []byte, n int, err error) {
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if err != nil {
		return nil, nil, 0, err
	}
	t := canon.EventsTable
	kinds := t.Kinds()
	var jb, pb bytes.Buffer
	w, err := pqarrow.NewFileWriter(t.Schema, &pb, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(groupRows))), pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, nil, 0, err
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, t.Schema)
	defer rb.Release()
	flush := func() error {
		rec := rb.NewRecord()
		defer rec.Release()
		return w.WriteBuffered(rec)
	}
	obj := map[string]any{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, err
		}
		n++
		for i, h := range header {
			obj[h] = rec[i]
			v := canon.Value{Str: rec[i]}
			switch kinds[i] {
			case canon.Timestamp:
				tm, err := time.Parse(time.RFC3339, rec[i])
				if err != nil {
					return nil, nil, 0, err
				}
				v = canon.Value{Int: tm.UnixMilli()}
			case canon.Int:
				v.Int, _ = strconv.ParseInt(rec[i], 10, 64)
				obj[h] = v.Int
			case canon.Float:
				v.Float, _ = strconv.ParseFloat(rec[i], 64)
				obj[h] = v.Float
			}
			canon.AppendValue(rb.Field(i), kinds[i], v)
		}
		line, err := json.Marshal(obj)
		if err != nil {
			return nil, nil, 0, err
		}
		jb.Write(line)
		jb.WriteByte('\n')
		if n%groupRows == 0 {
			if err := flush(); err != nil {
				return nil, nil, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, nil, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, 0, err
	}
	return jb.Bytes(), pb.Bytes(), n, nil
}

// memFile is an in-memory File.
func memFile(name string, data []byte) *File {
	format, gz := mapping.FormatOf(name)
	return &File{Name: name, Format: format, Gzip: gz, Delimiter: ',', Size: int64(len(data)), Mem: memory.DefaultAllocator,
		Open: func(_ context.Context, off, n int64) (io.ReadCloser, error) {
			end := int64(len(data))
			if n >= 0 && off+n < end {
				end = off + n
			}
			return io.NopCloser(bytes.NewReader(data[off:end])), nil
		}}
}

// BenchmarkReader reads every record of the whole file with the format's
// reader (framing, fields, fingerprints), through the canonical mapping's
// columns.
func BenchmarkReader(b *testing.B) {
	csvData, jsonlData, pqData, events := benchInputs(b)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"events.csv", csvData}, {"events.jsonl", jsonlData}, {"events.parquet", pqData}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			f := memFile(tc.name, tc.data)
			src := mapping.Canonical().Sources[0]
			prog, err := f.Compile(ctx, src)
			if err != nil {
				b.Fatal(err)
			}
			splits, err := f.Plan(ctx, 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(tc.data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rd, closeFn, err := f.Reader(ctx, splits[0], Position{}, prog)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := rd.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				closeFn()
				if n != events {
					b.Fatalf("%d records, want %d", n, events)
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLocal runs the whole ingest (plan, stage, finalize, rejects;
// the activities' code path, in one process) per format, 4 shards.
func BenchmarkLocal(b *testing.B) {
	csvData, jsonlData, pqData, events := benchInputs(b)
	dir := b.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{{"events.csv", csvData}, {"events.jsonl", jsonlData}, {"events.parquet", pqData}} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			for i := 0; i < b.N; i++ {
				res, err := Local(context.Background(), []string{path}, LocalOptions{Shards: 4, SplitBytes: 4 << 20, ChunkRows: 1 << 15, Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if res[0].RowsRead != int64(events) || res[0].Accepted+res[0].Duplicates != int64(events) {
					b.Fatalf("%+v, want %d events accepted or duplicates", res[0], events)
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkChunk measures the serial part of a gzip input's ingest: one
// pass that decompresses the file, finds the split boundaries and writes
// each split's text to a local file (File.Chunk, splits of 1 MiB; the
// upload is not counted). Compare its rows/s with BenchmarkStageGzip, the
// parallel part per core.
func BenchmarkChunk(b *testing.B) {
	csvData, _, _, events := benchInputs(b)
	var gz bytes.Buffer
	if err := gzipTo(&gz, csvData); err != nil {
		b.Fatal(err)
	}
	f := memFile("events.csv.gz", gz.Bytes())
	b.SetBytes(int64(len(csvData)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		splits, err := f.Chunk(context.Background(), 1<<20, dir, func(_ context.Context, sp Split, path string) (string, error) {
			return path, nil
		})
		if err != nil || len(splits) < 2 {
			b.Fatalf("%d splits, %v", len(splits), err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStageGzip stages the same gzip file read as one split (mapping,
// fingerprints, Arrow staging, 4 shards): the work the chunks share out.
func BenchmarkStageGzip(b *testing.B) {
	csvData, _, _, events := benchInputs(b)
	var gz bytes.Buffer
	if err := gzipTo(&gz, csvData); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	f := memFile("events.csv.gz", gz.Bytes())
	prog, err := f.Compile(ctx, mapping.Canonical().Sources[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(csvData)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd, closeFn, err := f.Reader(ctx, Whole()[0], Position{}, prog)
		if err != nil {
			b.Fatal(err)
		}
		st, err := Stage(ctx, rd, StageConfig{Program: prog, Shards: 4, ChunkRows: 1 << 15, Dir: b.TempDir(), Mem: memory.DefaultAllocator, Source: f.Name},
			StageState{}, func(Chunk, StageState) error { return nil })
		closeFn()
		if err != nil || st.Counts.RowsRead != int64(events) {
			b.Fatalf("%+v, %v", st.Counts, err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
