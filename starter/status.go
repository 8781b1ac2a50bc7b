package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

func status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.FromEnv(fs)
	asJSON := fs.Bool("json", false, "print the progress as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: starter status RUN_ID")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := queryProgress(ctx, c, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("run %s: %w", fs.Arg(0), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	fmt.Fprintf(stdout, "run %s: %s\n", p.RunID, p.Stage)
	for _, s := range p.Stages {
		fmt.Fprintf(stdout, "  %-9s %-8s", s.Name, s.State)
		if s.Total > 0 {
			fmt.Fprintf(stdout, " %d/%d", s.Done, s.Total)
		}
		if s.State == workflows.Done {
			fmt.Fprintf(stdout, " %.1fs", s.Seconds)
		}
		if s.Detail != "" {
			fmt.Fprintf(stdout, "  %s", s.Detail)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
