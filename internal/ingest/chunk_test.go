package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/promoflow/promoflow/internal/mapping"
)

// writeGzip writes data gzip-compressed to dir/name and returns the path.
func writeGzip(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := gzipTo(&buf, data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// outputs returns every table piece and rejects file under dir, by path
// relative to dir.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasSuffix(rel, ".arrow") || strings.HasPrefix(rel, "rejects"+string(filepath.Separator)) {
			data, err := os.ReadFile(p)
			out[rel] = data
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// crossing is a CSV file of many small records with a quoted field that
// holds line breaks every few records (so that, at small split sizes, a
// record with line breaks straddles where a naive cut would be), a
// duplicate, and bad rows late in the file.
func crossing(rows int) []byte {
	var b strings.Builder
	b.WriteString("user,when,kind,sku,qty,price,channel\n")
	for i := 0; i < rows; i++ {
		switch {
		case i == rows-3:
			fmt.Fprintf(&b, "u%d,not a time,view,B,1,1,web\n", i%7) // a bad row in the last split
		case i == rows-2:
			b.WriteString("u1,2026-03-01 10:00:00,view,C,1,1,web,extra\n") // and a field count
		case i == rows/2:
			b.WriteString("u1,2026-03-01 10:01:00,purchase,D,1,1,web\nu1,2026-03-01 10:01:00,purchase,D,1,1,web\n")
		case i%5 == 2:
			fmt.Fprintf(&b, "u%d,2026-03-01 10:%02d:00,view,\"A\n\"\"multi\"\"\nline %d\",1,2.5,web\n", i%7, i%60, i)
		default:
			fmt.Fprintf(&b, "u%d,2026-03-01 10:%02d:00,purchase,B%d,%d,%d.25,app\n", i%7, i%60, i, i%3+1, i%11)
		}
	}
	return []byte(b.String())
}

// TestChunkSameAsWhole ingests gzip files whole (one split, the path of
// small files) and cut into chunks at several split sizes, with splits
// staged in parallel: the canonical tables, the rejects (lines included)
// and the accounting must be the same, byte for byte.
func TestChunkSameAsWhole(t *testing.T) {
	m := goldenMapping(t)
	tmp := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"events.csv.gz", goldenFile(t, "events.csv")},
		{"events.jsonl.gz", goldenFile(t, "events.jsonl")},
		{"semi.csv.gz", goldenFile(t, "semi.csv")},
		{"events-crossing.csv.gz", crossing(300)},
	} {
		path := writeGzip(t, tmp, tc.name, tc.data)
		for _, split := range []int64{1, 50, 200, 4096} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, split), func(t *testing.T) {
				whole, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 3, SplitBytes: split, ChunkRows: 7, Dir: t.TempDir(), GzipWhole: true})
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				chunked, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 3, SplitBytes: split, ChunkRows: 7, Dir: dir, Parallel: 3})
				if err != nil {
					t.Fatal(err)
				}
				w, c := whole[0], chunked[0]
				if w.Splits != 1 {
					t.Fatalf("whole: %d splits", w.Splits)
				}
				wantSplits := int64(len(tc.data)) > 2*split // at least two splits' worth of text
				if got := c.Splits > 1; got != wantSplits {
					t.Fatalf("chunked: %d splits of %d bytes for %d bytes of text", c.Splits, split, len(tc.data))
				}
				sameAsWhole(t, "chunked", w, c, dir)
			})
		}
	}
}

// sameAsWhole checks that result c of a file split some way (how, e.g.
// "chunked"), with its tables and rejects under dir, equals w, the same
// file read as one split: the accounting, and every table piece and
// rejects file byte for byte.
func sameAsWhole(t *testing.T, how string, w, c Result, dir string) {
	t.Helper()
	if w.RowsRead != c.RowsRead || w.Accepted != c.Accepted || w.Duplicates != c.Duplicates ||
		w.Rejected != c.Rejected || w.NoUser != c.NoUser || w.AcceptedNoUser != c.AcceptedNoUser ||
		!equalCounts(w.ByReason, c.ByReason) || !equalCounts(w.ByType, c.ByType) || !w.MaxTS.Equal(c.MaxTS) {
		t.Fatalf("whole %+v\n%s %+v", w, how, c)
	}
	if w.RowsRead == 0 || w.Rejected == 0 {
		t.Fatalf("a test file without rows or rejects: %+v", w)
	}
	wo, co := outputs(t, filepath.Dir(w.Rejects)+"/.."), outputs(t, dir)
	if len(wo) != len(co) || len(wo) < 2 {
		t.Fatalf("whole wrote %d files, %s %d", len(wo), how, len(co))
	}
	for k, v := range wo {
		if !bytes.Equal(v, co[k]) {
			t.Errorf("%s differs:\nwhole %q\n%s %q", k, clip(string(v), 400), how, clip(string(co[k]), 400))
		}
	}
}

// TestChunkBoundaries checks the chunks themselves: each holds exactly the
// bytes [Start, End) of the text, starts on a record boundary at its true
// line, and the same file gives the same chunks again. A file of one
// split is not copied.
func TestChunkBoundaries(t *testing.T) {
	data := crossing(400)
	path := writeGzip(t, t.TempDir(), "events-crossing.csv.gz", data)
	src := goldenMapping(t).Match(path)[0]
	chunk := func(split int64) ([]Split, map[string][]byte) {
		f, err := NewFile(path, 0, src, localOpener(path))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]byte{}
		splits, err := f.Chunk(context.Background(), split, t.TempDir(), func(_ context.Context, sp Split, p string) (string, error) {
			b, err := os.ReadFile(p)
			key := fmt.Sprintf("chunk-%d", sp.Index)
			got[key] = b
			return key, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return splits, got
	}
	header := int64(bytes.IndexByte(data, '\n') + 1)
	for _, split := range []int64{1, 100, 1000, 5000} {
		splits, got := chunk(split)
		if len(splits) < 3 {
			t.Fatalf("split %d: %d splits", split, len(splits))
		}
		plain, err := PlanText(bytes.NewReader(data), true, split)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) != len(splits) {
			t.Fatalf("split %d: %d chunks, PlanText %d splits", split, len(splits), len(plain))
		}
		end := header
		for i, sp := range splits {
			if sp.Start != plain[i].Start || sp.End != plain[i].End || sp.Line != plain[i].Line {
				t.Fatalf("split %d: chunk %+v, PlanText %+v", split, sp, plain[i])
			}
			if sp.Start != end || sp.Index != i {
				t.Fatalf("split %d: chunk %d is %+v after %d", split, i, sp, end)
			}
			end = sp.End
			if want := 1 + int64(bytes.Count(data[:sp.Start], []byte{'\n'})); sp.Line != want {
				t.Fatalf("chunk %d: line %d, want %d", i, sp.Line, want)
			}
			if !sp.ChunkS2 {
				t.Fatalf("chunk %d: not marked S2", i)
			}
			text, err := io.ReadAll(s2.NewReader(bytes.NewReader(got[sp.Chunk])))
			if err != nil {
				t.Fatalf("chunk %d (%s): %v", i, sp.Chunk, err)
			}
			if !bytes.Equal(text, data[sp.Start:sp.End]) {
				t.Fatalf("chunk %d (%s): %d bytes, not the text's [%d, %d)", i, sp.Chunk, len(text), sp.Start, sp.End)
			}
			if n := bytes.Count(data[header:sp.Start], []byte{'"'}); n%2 != 0 {
				t.Fatalf("chunk %d starts inside quotes", i)
			}
		}
		if end != int64(len(data)) {
			t.Fatalf("chunks end at %d of %d", end, len(data))
		}
		again, got2 := chunk(split)
		if fmt.Sprint(again) != fmt.Sprint(splits) || fmt.Sprint(got2) != fmt.Sprint(got) {
			t.Fatalf("split %d: a second run gave other chunks", split)
		}
	}
	splits, got := chunk(int64(len(data)))
	if len(splits) != 1 || splits[0] != Whole()[0] || len(got) != 0 {
		t.Fatalf("one split: %+v, %d chunks put", splits, len(got))
	}
}

// TestChunkRejectLines: a bad row in a later chunk is rejected with its
// line in the original file.
func TestChunkRejectLines(t *testing.T) {
	data := crossing(400)
	path := writeGzip(t, t.TempDir(), "events-crossing.csv.gz", data)
	res, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: goldenMapping(t), Shards: 2, SplitBytes: 2000, ChunkRows: 50, Dir: t.TempDir(), Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Splits < 4 {
		t.Fatalf("%d splits", res[0].Splits)
	}
	rejects, err := os.ReadFile(res[0].Rejects)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not a time", ",extra"} {
		i := bytes.Index(data, []byte(want))
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		row := fmt.Sprintf("%s,%d,", path, line)
		if !bytes.Contains(rejects, []byte(row)) {
			t.Errorf("no reject at line %d (%q):\n%s", line, want, rejects)
		}
	}
}

// TestChunkCorrupt: corrupt or truncated compressed data anywhere in the
// file fails the chunking with bad input naming the file.
func TestChunkCorrupt(t *testing.T) {
	dir := t.TempDir()
	data := crossing(3000)
	var buf bytes.Buffer
	if err := gzipTo(&buf, data); err != nil {
		t.Fatal(err)
	}
	gz := buf.Bytes()
	flipped := bytes.Clone(gz)
	for i := len(gz) * 3 / 4; i < len(gz)*3/4+16; i++ {
		flipped[i] ^= 0x5a
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"events-truncated.csv.gz", gz[:len(gz)*2/3]},
		{"events-flipped.csv.gz", flipped},
		{"events-checksum.csv.gz", append(bytes.Clone(gz[:len(gz)-8]), 1, 2, 3, 4, 5, 6, 7, 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: goldenMapping(t), Shards: 2, SplitBytes: 4096, ChunkRows: 100, Dir: t.TempDir()})
			var bad *BadInputError
			if !errors.As(err, &bad) || bad.Source != path || !strings.Contains(err.Error(), "corrupt gzip") {
				t.Fatalf("err = %v, want a *BadInputError for %s", err, path)
			}
			if strings.Count(err.Error(), path) != 1 {
				t.Errorf("err = %v names the file more than once", err)
			}
		})
	}
}

// TestChunkParquet: Parquet files are split by row groups, never chunked.
func TestChunkParquet(t *testing.T) {
	f := &File{Name: "x.parquet", Format: mapping.Parquet}
	if _, err := f.Chunk(context.Background(), 1, t.TempDir(), nil); err == nil {
		t.Fatal("chunked a Parquet file")
	}
}

// TestChunkResume: a split of a chunk (an S2 stream) opened at a position
// inside it reads the same records from there as reading it through.
func TestChunkResume(t *testing.T) {
	path := writeGzip(t, t.TempDir(), "events-crossing.csv.gz", crossing(300))
	src := goldenMapping(t).Match(path)[0]
	f, err := NewFile(path, 0, src, localOpener(path))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Compile(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f.OpenChunk = localChunks
	splits, err := f.Chunk(context.Background(), 2000, dir, func(_ context.Context, sp Split, p string) (string, error) {
		key := filepath.Join(dir, fmt.Sprintf("split-%d", sp.Index))
		return key, os.Rename(p, key)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) < 3 {
		t.Fatalf("%d splits", len(splits))
	}
	type rec struct {
		line   int64
		fields string
	}
	read := func(sp Split, pos Position) (recs []rec, mid Position) {
		rd, done, err := f.Reader(context.Background(), sp, pos, prog)
		if err != nil {
			t.Fatal(err)
		}
		defer done()
		for {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return recs, mid
			}
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec{r.Line, strings.Join(r.Fields, "|")})
			if len(recs) == 5 {
				mid, _ = rd.Pos()
			}
		}
	}
	for _, sp := range splits[1:] {
		all, mid := read(sp, Position{})
		if len(all) < 6 {
			t.Fatalf("split %d: %d records", sp.Index, len(all))
		}
		rest, _ := read(sp, mid)
		if fmt.Sprint(rest) != fmt.Sprint(all[5:]) {
			t.Errorf("split %d from %+v:\n%v\nwant\n%v", sp.Index, mid, rest, all[5:])
		}
	}
}
