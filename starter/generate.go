package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/promoflow/promoflow/internal/synth"
)

func generate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate")
	users := fs.Int("users", 20000, "users to generate")
	seed := fs.Int64("seed", 42, "random seed; the same seed writes the same bytes")
	out := fs.String("out", "", "output file (.csv.gz for gzip)")
	asJSON := fs.Bool("json", false, "print the statistics as JSON on stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if *users < 1 {
		return fmt.Errorf("--users = %d, want at least 1", *users)
	}
	start := time.Now()
	st, err := synth.WriteFile(*out, synth.Config{Users: *users, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d events of %d users to %s in %.1fs\n", st.Events, st.Users, *out, time.Since(start).Seconds())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return nil
}
