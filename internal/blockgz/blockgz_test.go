package blockgz

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// records makes n CSV records, some with quoted line breaks.
func records(n int) string {
	var b strings.Builder
	b.WriteString("user_id,text\n")
	for i := range n {
		if i%7 == 3 {
			fmt.Fprintf(&b, "u%d,\"two\nlines, \"\"quoted\"\"\"\n", i)
		} else {
			fmt.Fprintf(&b, "u%d,plain %d\n", i, i*i)
		}
	}
	return b.String()
}

func write(t *testing.T, text string, block int, csv bool, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, flate.BestSpeed, block, csv)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(text); i += chunk {
		if _, err := w.Write([]byte(text[i:min(i+chunk, len(text))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name         string
		text         string
		block, chunk int
		csv          bool
		blocks       int
	}{
		{"csv small blocks", records(2000), 1000, 37, true, 30},
		{"csv one block", records(50), 1 << 20, 4096, true, 1},
		{"csv no final line feed", records(300) + "u-last,end", 700, 1, true, 7},
		{"lines", strings.Repeat("{\"a\":1}\n", 5000), 4096, 999, false, 9},
		{"empty", "", 100, 1, true, 1},
		{"ends on a block boundary", strings.Repeat("abcdefghi\n", 10), 10, 10, true, 10},
		{"record longer than a block", "h\n" + strings.Repeat("x", 5000) + "\nshort\n", 100, 64, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := write(t, tc.text, tc.block, tc.csv, tc.chunk)
			// The standard library reads every member.
			gr, err := gzip.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(gr)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.text {
				t.Fatalf("round trip: %d bytes back, wrote %d", len(got), len(tc.text))
			}
			blocks, err := Blocks(bytes.NewReader(z), int64(len(z)))
			if err != nil {
				t.Fatal(err)
			}
			var off, text, line int64 = 0, 0, 1
			for i, b := range blocks {
				if b.Offset != off || b.Text != text || b.Line != line {
					t.Fatalf("block %d: %+v, want offset %d text %d line %d", i, b, off, text, line)
				}
				// Each member alone inflates to its text, which ends a record.
				mr, err := gzip.NewReader(bytes.NewReader(z[b.Offset : b.Offset+b.Size]))
				if err != nil {
					t.Fatal(err)
				}
				mt, err := io.ReadAll(mr)
				if err != nil {
					t.Fatalf("block %d alone: %v", i, err)
				}
				want := tc.text[b.Text : b.Text+b.Bytes]
				if string(mt) != want {
					t.Fatalf("block %d text differs", i)
				}
				if n := int64(strings.Count(want, "\n")); n != b.Lines {
					t.Fatalf("block %d: %d lines, index says %d", i, n, b.Lines)
				}
				if i < len(blocks)-1 && (!strings.HasSuffix(want, "\n") || strings.Count(tc.text[:b.Text+b.Bytes], "\"")%2 != 0) {
					t.Fatalf("block %d ends inside a record", i)
				}
				off, text, line = off+b.Size, text+b.Bytes, line+b.Lines
			}
			if off != int64(len(z)) || text != int64(len(tc.text)) {
				t.Fatalf("blocks cover %d compressed and %d text bytes, want %d and %d", off, text, len(z), len(tc.text))
			}
			if len(blocks) < tc.blocks {
				t.Fatalf("%d blocks for %d bytes of %d, want at least %d", len(blocks), len(tc.text), tc.block, tc.blocks)
			}
			for i, b := range blocks {
				if b.Bytes == 0 && len(tc.text) > 0 {
					t.Fatalf("block %d of no text", i)
				}
			}
			for i, b := range blocks[:len(blocks)-1] {
				if b.Bytes < int64(tc.block) {
					t.Fatalf("block %d: %d bytes, less than a block of %d", i, b.Bytes, tc.block)
				}
			}
		})
	}
}

func TestBlocksRejects(t *testing.T) {
	var plain bytes.Buffer
	zw := gzip.NewWriter(&plain)
	zw.Write([]byte(records(100)))
	zw.Close()
	if _, err := Blocks(bytes.NewReader(plain.Bytes()), int64(plain.Len())); !errors.Is(err, ErrNotBlocked) {
		t.Fatalf("plain gzip: %v, want ErrNotBlocked", err)
	}
	z := write(t, records(2000), 1000, true, 512)
	// A plain member appended after indexed ones.
	mixed := append(append([]byte{}, z...), plain.Bytes()...)
	if _, err := Blocks(bytes.NewReader(mixed), int64(len(mixed))); err == nil || errors.Is(err, ErrNotBlocked) ||
		!strings.Contains(err.Error(), fmt.Sprintf("member at byte %d", len(z))) {
		t.Fatalf("mixed: %v", err)
	}
	// A truncated file: the last member's size overruns it.
	if _, err := Blocks(bytes.NewReader(z[:len(z)-3]), int64(len(z)-3)); err == nil || errors.Is(err, ErrNotBlocked) {
		t.Fatalf("truncated: %v", err)
	}
}

func BenchmarkWriter(b *testing.B) {
	text := []byte(records(200000))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		w, _ := NewWriter(io.Discard, flate.BestSpeed, DefaultBlockBytes, true)
		w.Write(text)
		w.Close()
	}
}
