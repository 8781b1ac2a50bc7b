package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

func status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status")
	cfg := config.FromEnv(fs)
	asJSON := fs.Bool("json", false, "print the progress as JSON (with --watch, one JSON line per change)")
	watch := fs.Bool("watch", false, "follow the run until it is done: on a terminal the status is redrawn in place, otherwise a progress line is printed per change")
	every := fs.Duration("every", time.Second, "refresh interval of --watch")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("usage: starter status RUN_ID")
	}
	if *every <= 0 {
		return fmt.Errorf("--every %v: want a positive interval", *every)
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if *watch {
		return watchProgress(ctx, c, id, *every, statusWatcher(stdout, isTerminal(stdout), *asJSON))
	}
	p, err := queryProgress(ctx, c, id)
	if err != nil {
		return fmt.Errorf("run %s: %w", id, err)
	}
	if *asJSON {
		return printJSON(stdout, p)
	}
	_, err = io.WriteString(stdout, statusText(p))
	return err
}

// statusText is the progress of a run as `status` prints it: the running
// stage, then a line per stage.
func statusText(p workflows.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %s\n", p.RunID, p.Stage)
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "  %-9s %-8s", s.Name, s.State)
		if s.Total > 0 {
			fmt.Fprintf(&b, " %d/%d", s.Done, s.Total)
		}
		if s.State == workflows.Done {
			fmt.Fprintf(&b, " %.1fs", s.Seconds)
		}
		if s.Detail != "" {
			fmt.Fprintf(&b, "  %s", s.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// watchProgress shows the run's progress whenever it changes, until the
// run is done or ctx ends.
func watchProgress(ctx context.Context, c client.Client, id string, every time.Duration, w *watcher) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		p, err := queryProgress(ctx, c, id)
		if err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		if err := w.show(p); err != nil {
			return err
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

// watcher shows a run's progress each time it changes, as the block of
// text that render makes of it (ending in a newline). On a terminal (tty)
// the block is redrawn in place: the cursor goes back up over the previous
// block, which is cleared (ANSI CSI n A, CSI J). Elsewhere (a pipe or a
// file) each change is appended.
type watcher struct {
	w      io.Writer
	tty    bool
	render func(workflows.Progress) string
	last   string // the last block, not repeated
	drawn  int    // lines of the block on the terminal
}

// statusWatcher is the watcher of `status --watch`: on a terminal the
// status and a progress bar; elsewhere a progress bar line per change; a
// JSON line per change with asJSON.
func statusWatcher(w io.Writer, tty, asJSON bool) *watcher {
	switch {
	case asJSON:
		return &watcher{w: w, render: func(p workflows.Progress) string {
			b, err := json.Marshal(p)
			if err != nil {
				return fmt.Sprintf("{\"error\":%q}\n", err.Error())
			}
			return string(b) + "\n"
		}}
	case tty:
		return &watcher{w: w, tty: true, render: func(p workflows.Progress) string { return statusText(p) + progressBar(p, 30) + "\n" }}
	}
	return &watcher{w: w, render: func(p workflows.Progress) string { return progressBar(p, 30) + "\n" }}
}

// show writes p if it differs from what was shown last.
func (w *watcher) show(p workflows.Progress) error {
	out := w.render(p)
	if out == w.last {
		return nil
	}
	w.last = out
	if w.tty {
		if w.drawn > 0 {
			out = fmt.Sprintf("\x1b[%dA\x1b[J", w.drawn) + out
		}
		w.drawn = strings.Count(w.last, "\n")
	}
	_, err := io.WriteString(w.w, out)
	return err
}

// clear erases the block drawn last from the terminal; elsewhere it does
// nothing.
func (w *watcher) clear() {
	if w.tty && w.drawn > 0 {
		fmt.Fprintf(w.w, "\x1b[%dA\x1b[J", w.drawn)
	}
	w.drawn, w.last = 0, ""
}

// keep leaves the block drawn last on the terminal: the next one is drawn
// below it (after other lines were written under it).
func (w *watcher) keep() { w.drawn = 0 }

// isTerminal reports whether w is a character device such as a terminal
// (and TERM does not say it cannot move the cursor).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
