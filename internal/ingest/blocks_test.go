package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"

	"github.com/promoflow/promoflow/internal/blockgz"
)

// writeBlockGzip writes data as block gzip of about block bytes a member
// to dir/name and returns the path.
func writeBlockGzip(t *testing.T, dir, name string, data []byte, block int, csv bool) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := blockgz.NewWriter(&buf, flate.BestSpeed, block, csv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBlocksSameAsWhole ingests block gzip files whole and split by their
// members at several member and split sizes, splits staged in parallel:
// the tables, the rejects (lines included) and the accounting must be the
// same, byte for byte, and no text is copied out.
func TestBlocksSameAsWhole(t *testing.T) {
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
		for _, block := range []int{1, 300, 2000} {
			sub := filepath.Join(tmp, fmt.Sprint(block))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			path := writeBlockGzip(t, sub, tc.name, tc.data, block, !strings.Contains(tc.name, "jsonl"))
			name := fmt.Sprintf("%s/members-%d", tc.name, block)
			for _, split := range []int64{1, 700, 1 << 20} {
				t.Run(fmt.Sprintf("%s/%d", name, split), func(t *testing.T) {
					whole, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 3, SplitBytes: split, ChunkRows: 7, Dir: t.TempDir(), GzipWhole: true})
					if err != nil {
						t.Fatal(err)
					}
					dir := t.TempDir()
					blocked, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 3, SplitBytes: split, ChunkRows: 7, Dir: dir, Parallel: 3})
					if err != nil {
						t.Fatal(err)
					}
					w, c := whole[0], blocked[0]
					if n := int64(len(tc.data)); split >= n && c.Splits != 1 || 2*split < n && 2*int64(block) < n && c.Splits < 2 {
						t.Fatalf("%d splits of %d bytes, members of %d, for %d bytes of text", c.Splits, split, block, len(tc.data))
					}
					if _, err := os.Stat(filepath.Join(dir, "chunks")); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a block gzip file was copied out: %v", err)
					}
					sameAsWhole(t, "blocks", w, c, dir)
				})
			}
		}
	}
}

// TestPlanBlocks checks the splits of a block gzip file: record
// boundaries at their true lines and text offsets, covering the text
// after the header, and ok false for plain gzip.
func TestPlanBlocks(t *testing.T) {
	data := crossing(400)
	dir := t.TempDir()
	src := goldenMapping(t).Match("events.csv.gz")[0]
	open := func(path string) *File {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFile(path, st.Size(), src, localOpener(path))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, ok, err := open(writeGzip(t, dir, "plain.csv.gz", data)).PlanBlocks(context.Background(), 100); ok || err != nil {
		t.Fatalf("plain gzip: ok %v, err %v", ok, err)
	}
	header := int64(bytes.IndexByte(data, '\n') + 1)
	f := open(writeBlockGzip(t, dir, "blocks.csv.gz", data, 500, true))
	splits, ok, err := f.PlanBlocks(context.Background(), 1500)
	if !ok || err != nil || len(splits) < 5 {
		t.Fatalf("ok %v, err %v, %d splits", ok, err, len(splits))
	}
	end := header
	for i, sp := range splits {
		if sp.Index != i || sp.Start != end || sp.End <= sp.Start || sp.ZEnd <= sp.ZStart || sp.ZText > sp.Start {
			t.Fatalf("split %d: %+v after %d", i, sp, end)
		}
		if want := 1 + int64(bytes.Count(data[:sp.Start], []byte{'\n'})); sp.Line != want {
			t.Fatalf("split %d: line %d, want %d", i, sp.Line, want)
		}
		if i < len(splits)-1 && sp.End-sp.Start < 1500 {
			t.Fatalf("split %d: %d bytes, less than the split size", i, sp.End-sp.Start)
		}
		end = sp.End
	}
	if end != int64(len(data)) {
		t.Fatalf("splits end at %d of %d", end, len(data))
	}
	// A split opened inside reads on from there, as a resumed split does.
	prog, err := f.Compile(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	sp := splits[2]
	rd, closeFn, err := f.Reader(context.Background(), sp, Position{}, prog)
	if err != nil {
		t.Fatal(err)
	}
	first, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	firstLine := first.Line // the record is reused by Next
	pos, _ := rd.Pos()
	second, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(second.Line, second.Fields)
	closeFn()
	rd, closeFn, err = f.Reader(context.Background(), sp, pos, prog)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	again, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(again.Line, again.Fields); got != want || firstLine != sp.Line {
		t.Fatalf("resumed at %+v: %s, want %s (first line %d of split at %d)", pos, got, want, firstLine, sp.Line)
	}
}

// TestBlocksCorrupt: a corrupt member, or an index that does not match
// its member, fails the split with bad input naming the file.
func TestBlocksCorrupt(t *testing.T) {
	dir := t.TempDir()
	data := crossing(3000)
	good, err := os.ReadFile(writeBlockGzip(t, dir, "good.csv.gz", data, 4000, true))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := blockgz.Blocks(bytes.NewReader(good), int64(len(good)))
	if err != nil || len(blocks) < 6 {
		t.Fatalf("%d blocks, %v", len(blocks), err)
	}
	mid := blocks[len(blocks)/2]
	flipped := bytes.Clone(good)
	for i := mid.Offset + mid.Size/2; i < mid.Offset+mid.Size/2+16; i++ {
		flipped[i] ^= 0x5a
	}
	lying := bytes.Clone(good) // the member's text size off by one
	binary.LittleEndian.PutUint64(lying[mid.Offset+24:], uint64(mid.Bytes+1))
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"events-flipped.csv.gz", "corrupt gzip", flipped},
		{"events-lying.csv.gz", "block index", lying},
		{"events-truncated.csv.gz", "block gzip", good[:mid.Offset+mid.Size/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: goldenMapping(t), Shards: 2, SplitBytes: 8000, ChunkRows: 100, Dir: t.TempDir()})
			var bad *BadInputError
			if !errors.As(err, &bad) || bad.Source != path || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a *BadInputError for %s saying %q", err, path, tc.want)
			}
		})
	}
}
