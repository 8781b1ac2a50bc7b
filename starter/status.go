package main

import (
	"context"
	"strings"
	"time"

	"encoding/json"
	"errors"
	"fmt"
	"go.temporal.io/sdk/client"
	"io"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

func status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status")
	cfg := config.FromEnv(fs)
	asJSON := fs.Bool("json", false, "print the progress as JSON")
	watch := fs.Bool("watch", false, "redraw a progress bar every --every until the run is done")
	every := fs.Duration("every", time.Second, "refresh interval of --watch")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("usage: starter status RUN_ID")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if *watch {
		return watchProgress(ctx, c, id, *every, stdout)
	}
	p, err := queryProgress(ctx, c, id)
	if err != nil {
		return fmt.Errorf("run %s: %w", id, err)
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

// watchProgress redraws the run's progress bar whenever it changes, until
// the run is done or ctx ends. On a terminal the line is redrawn in place
// (carriage return); piped, each change is a new line.
func watchProgress(ctx context.Context, c client.Client, id string, every time.Duration, stdout io.Writer) error {
	last := ""
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		p, err := queryProgress(ctx, c, id)
		if err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		if line := progressBar(p, 30); line != last {
			fmt.Fprintln(stdout, line)
			last = line
		}
		if p.Stage == workflows.Done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// progressBar is one line: a bar of width cells filled by finished stages
// plus the running stage's share, then the running stage and its units.
func progressBar(p workflows.Progress, width int) string {
	n := len(p.Stages)
	if n == 0 {
		return p.RunID + ": " + p.Stage
	}
	var done float64
	cur := ""
	for _, s := range p.Stages {
		switch s.State {
		case workflows.Done:
			done++
		case workflows.Running:
			cur = s.Name
			if s.Total > 0 {
				done += float64(s.Done) / float64(s.Total)
				cur += fmt.Sprintf(" %d/%d", s.Done, s.Total)
			}
			if s.Detail != "" {
				cur += " (" + s.Detail + ")"
			}
		}
	}
	if p.Stage == workflows.Done {
		done, cur = float64(n), "done"
	}
	fill := int(done / float64(n) * float64(width))
	return fmt.Sprintf("%s [%s%s] %3.0f%% %s", p.RunID, strings.Repeat("#", fill), strings.Repeat(".", width-fill), 100*done/float64(n), cur)
}
