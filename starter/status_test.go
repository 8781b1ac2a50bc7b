package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/workflows"
)

// TestWatcher: --watch redraws its block in place on a terminal, prints a
// plain line per change elsewhere, a JSON line per change with --json, and
// nothing when the progress did not change.
func TestWatcher(t *testing.T) {
	stage := func(state string, done int) workflows.Progress {
		return workflows.Progress{RunID: "r1", Stage: "segment", Stages: []workflows.StageProgress{
			{Name: "ingest", State: workflows.Done, Seconds: 1.5},
			{Name: "segment", State: state, Done: done, Total: 4},
		}}
	}
	seq := []workflows.Progress{stage(workflows.Running, 1), stage(workflows.Running, 1), stage(workflows.Running, 3)}
	final := stage(workflows.Done, 4)
	final.Stage = workflows.Done
	seq = append(seq, final)

	t.Run("terminal", func(t *testing.T) {
		var b bytes.Buffer
		w := statusWatcher(&b, true, false)
		for _, p := range seq {
			if err := w.show(p); err != nil {
				t.Fatal(err)
			}
		}
		out := b.String()
		// 3 distinct states: the first drawn, the other two drawn over the
		// 4-line block (run line, 2 stages, bar).
		if n := strings.Count(out, "\x1b[4A\x1b[J"); n != 2 || strings.Count(out, "\x1b[") != 4 {
			t.Errorf("%d redraws of the 4-line block, want 2:\n%q", n, out)
		}
		blocks := strings.Split(out, "\x1b[4A\x1b[J")
		if want := "run r1: segment\n  ingest    done     1.5s\n  segment   running  1/4\nr1 [##################............]  62% segment 1/4\n"; blocks[0] != want {
			t.Errorf("first block %q, want %q", blocks[0], want)
		}
		if last := blocks[len(blocks)-1]; !strings.HasPrefix(last, "run r1: done\n") || !strings.HasSuffix(last, "100% done\n") {
			t.Errorf("last block %q", last)
		}
		b.Reset()
		w.clear()
		if b.String() != "\x1b[4A\x1b[J" {
			t.Errorf("clear wrote %q, want the 4-line block erased", b.String())
		}
		w.show(seq[0])
		if strings.Contains(b.String(), "\x1b[4A\x1b[J\x1b[") {
			t.Errorf("after clear, the next block is drawn over nothing: %q", b.String())
		}
	})
	t.Run("pipe", func(t *testing.T) {
		var b bytes.Buffer
		w := statusWatcher(&b, false, false)
		for _, p := range seq {
			w.show(p)
		}
		w.clear() // nothing to erase in a log
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if strings.Contains(b.String(), "\x1b") || len(lines) != 3 || !strings.HasSuffix(lines[1], "88% segment 3/4") || !strings.HasSuffix(lines[2], "100% done") {
			t.Errorf("plain output:\n%s", b.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		w := statusWatcher(&b, true, true)
		for _, p := range seq {
			w.show(p)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if strings.Contains(b.String(), "\x1b") || len(lines) != 3 {
			t.Fatalf("json output:\n%s", b.String())
		}
		var p workflows.Progress
		if err := json.Unmarshal([]byte(lines[2]), &p); err != nil || p.Stage != workflows.Done || p.Stages[1].Done != 4 {
			t.Errorf("last line %q: %+v, %v", lines[2], p, err)
		}
	})
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}

// TestProgressLine: run --wait's progress line on stderr shows the
// running stage's units only on a terminal, where it is redrawn in place;
// in a log it changes (and so is printed) only when a stage starts.
func TestProgressLine(t *testing.T) {
	p := workflows.Progress{RunID: "r", Stage: "features", Stages: []workflows.StageProgress{
		{Name: "ingest", State: workflows.Done}, {Name: "features", State: workflows.Running, Done: 3, Total: 8}, {Name: "segment", State: workflows.Pending},
	}}
	if got, want := progressLine(p, true), "[x] ingest  [>] features 3/8  [ ] segment"; got != want {
		t.Errorf("terminal line %q, want %q", got, want)
	}
	if got, want := progressLine(p, false), "[x] ingest  [>] features  [ ] segment"; got != want {
		t.Errorf("log line %q, want %q", got, want)
	}
}
