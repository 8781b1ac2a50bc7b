package ingest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSplitPlain: the one-pass split of a record without quotes gives the
// fields splitFields gives and, when it says so, the bytes
// fingerprinter.fields hashes.
func TestSplitPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	hashed := 0
	for i := range 5000 {
		delim := []byte{',', ';', '\t', '|'}[i%4]
		var fields []string
		for range 1 + r.IntN(12) {
			n := r.IntN(24)
			if r.IntN(20) == 0 {
				n = 120 + r.IntN(20) // around the one-byte uvarint's limit
			}
			b := make([]byte, n)
			for j := range b {
				b[j] = "abc xyz019-:.é"[r.IntN(15)]
			}
			fields = append(fields, string(b))
		}
		s := strings.Join(fields, string(delim))
		c := &CSVReader{delim: delim, fp: newFingerprinter()}
		got, ok := c.splitPlain(s)
		want, msg, _ := splitFields(s, delim, nil)
		if msg != "" || !slices.Equal(got, want) {
			t.Fatalf("%q: splitPlain %q, splitFields %q %q", s, got, want, msg)
		}
		if !ok {
			continue
		}
		hashed++
		buf := slices.Clone(c.fp.buf)
		wantFP := newFingerprinter().fields(want, nil)
		if c.fp.bytes(buf) != wantFP {
			t.Fatalf("%q: fingerprint input %q differs", s, buf)
		}
	}
	if hashed < 1000 {
		t.Fatalf("only %d records took the one-pass fingerprint", hashed)
	}
}

// TestCSVBorrowSame: a reader lending its buffer returns the records,
// fingerprints and errors a copying one returns.
func TestCSVBorrowSame(t *testing.T) {
	for _, name := range []string{"events.csv", "semi.csv"} {
		data, err := os.ReadFile(filepath.Join("testdata/golden", name))
		if err != nil {
			t.Fatal(err)
		}
		read := func(borrow bool) []Record {
			c, err := NewCSVReader(bytes.NewReader(data), CSVOptions{Delimiter: map[string]byte{"semi.csv": ';'}[name]})
			if err != nil {
				t.Fatal(err)
			}
			if borrow {
				c.borrowFields()
			}
			var out []Record
			for {
				rec, err := c.Next()
				if errors.Is(err, io.EOF) {
					return out
				}
				if err != nil {
					t.Fatal(err)
				}
				r := *rec
				r.Fields = nil
				for _, f := range rec.Fields {
					r.Fields = append(r.Fields, strings.Clone(f))
				}
				out = append(out, r)
			}
		}
		copied, lent := read(false), read(true)
		if len(copied) == 0 || len(copied) != len(lent) {
			t.Fatalf("%s: %d records copied, %d lent", name, len(copied), len(lent))
		}
		for i := range copied {
			a, b := copied[i], lent[i]
			if a.Line != b.Line || a.FP != b.FP || a.Err != b.Err || a.ErrValue != b.ErrValue || !slices.Equal(a.Fields, b.Fields) {
				t.Fatalf("%s: record %d: copied %+v, lent %+v", name, i, a, b)
			}
		}
	}
}
