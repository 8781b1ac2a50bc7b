package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/promoflow/promoflow/internal/blockgz"
)

// compressCmd rewrites a CSV or JSON Lines file, plain or gzip, as block
// gzip (package blockgz): the same text, which any gzip reader reads and
// ingest splits by its members' index instead of inflating it once from
// the start.
func compressCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compress")
	in := fs.String("in", "", "input CSV or JSON Lines file, plain or .gz")
	out := fs.String("out", "", "output file (.gz)")
	jsonl := fs.Bool("jsonl", false, "the input is JSON Lines (default: CSV, whose quoted line breaks never end a block); guessed from .jsonl in the name")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--in and --out are required")
	}
	if !strings.HasSuffix(*out, ".gz") {
		return fmt.Errorf("--out %s: want a .gz name", *out)
	}
	csv := !*jsonl && !strings.Contains(filepath.Base(*in), ".jsonl")
	start := time.Now()
	n, err := recompress(ctx, *in, *out, csv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d bytes of text to %s as block gzip in %.1fs\n", n, *out, time.Since(start).Seconds())
	return nil
}

// recompress writes the text of path in (gunzipped when it ends in .gz)
// to out as block gzip, under a temporary name renamed when complete.
func recompress(ctx context.Context, in, out string, csv bool) (n int64, err error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(in, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return 0, fmt.Errorf("%s: not gzip: %w", in, err)
		}
		defer gz.Close()
		r = gz
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w, err := blockgz.NewWriter(bw, flate.DefaultCompression, blockgz.DefaultBlockBytes, csv)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		if _, err := w.Write(buf[:k]); err != nil {
			return n, err
		}
		n += int64(k)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("%s: %w", in, rerr)
		}
	}
	if err := w.Close(); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), out)
}
