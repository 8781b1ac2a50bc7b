package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestHelp: every command's -h and --help print its usage line and its
// own flags on stdout and exit 0, with nothing on stderr.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := dispatch(context.Background(), args, &stdout, &stderr)
				out := stdout.String()
				if code != 0 || stderr.Len() != 0 {
					t.Fatalf("exit %d, stderr %q; want exit 0 and no stderr", code, stderr.String())
				}
				want := "usage: starter " + c.synopsis
				if c.name == "schedule" {
					want = scheduleUsage
				}
				if !strings.HasPrefix(out, want) || strings.Contains(out, "help requested") {
					t.Errorf("stdout %q, want it to start with %q", out, want)
				}
			})
		}
	}
	for _, tc := range []struct {
		args []string
		want []string // in stdout, in this order
	}{
		{[]string{"status", "-h"}, []string{"flags:", "-json", "-watch", "connection flags", "-temporal-address"}},
		{[]string{"run", "RUN", "--json", "-h"}, []string{"flags:", "-budget", "-json\n", "connection flags", "-namespace"}},
		{[]string{"generate", "-h"}, []string{"flags:", "-out", "-users"}},
		{[]string{"schedule", "create", "-h"}, []string{scheduleUsage, "flags:", "-cron", "-every", "connection flags", "-task-queue"}},
		{[]string{"schedule", "--help"}, []string{scheduleUsage}},
		{[]string{"live", "bench", "-h"}, []string{liveUsage, "flags:", "-budget", "-clients", "-duration", "-rate", "connection flags", "-task-queue"}},
		{[]string{"live", "decide", "--help"}, []string{liveUsage, "flags:", "-campaign", "-event", "-user"}},
		{[]string{"-h"}, []string{"usage: starter <command>", "  status ", "  version "}},
	} {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), tc.args, &stdout, &stderr)
		out, at := stdout.String(), 0
		for _, w := range tc.want {
			i := strings.Index(out[at:], w)
			if i < 0 {
				t.Errorf("starter %s: %q missing (in order) from:\n%s", strings.Join(tc.args, " "), w, out)
				break
			}
			at += i + len(w)
		}
		if code != 0 {
			t.Errorf("starter %s: exit %d", strings.Join(tc.args, " "), code)
		}
	}
}

// TestFlagsAfterPositional: every command parses flags wherever they
// stand, so these get past parsing: to the dial of the closed Temporal
// port, or to a check made after parsing.
func TestFlagsAfterPositional(t *testing.T) {
	t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
	const dialed = "temporal 127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"status", "RUN", "--json"}, dialed},
		{[]string{"status", "RUN", "--watch", "--every", "2s"}, dialed},
		{[]string{"status", "--json", "RUN"}, dialed},
		{[]string{"status", "RUN", "--every", "soon"}, `invalid value "soon" for flag -every`},
		{[]string{"status", "RUN", "--bogus"}, "flag provided but not defined: -bogus\n(starter status -h lists its flags)"},
		{[]string{"status", "RUN", "OTHER"}, `unexpected arguments ["OTHER"]`},
		{[]string{"approve", "RUN", "--comment", "ok"}, "--by is required"},
		{[]string{"approve", "RUN", "--by", "ana", "--json"}, dialed},
		{[]string{"reject", "RUN", "--by", "ana", "--reason", "late"}, dialed},
		{[]string{"schedule", "backfill", "weekly", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-03T00:00:00Z"}, dialed},
		{[]string{"schedule", "describe", "weekly", "--json"}, dialed},
		{[]string{"schedule", "list", "--json"}, dialed},
		{[]string{"status", "RUN", "--watch", "--every", "0s"}, "--every 0s: want a positive interval"},
		{[]string{"schedule", "describe", "weekly", "--nope"}, "flag provided but not defined: -nope\n(starter schedule describe -h lists its flags)"},
		{[]string{"schedule", "pause", "weekly", "--note", "stock count"}, dialed},
		{[]string{"schedule", "delete", "weekly", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"run", "--template", "weekly", "stray", "--input", "x.csv"}, `unexpected arguments ["stray"]`},
		{[]string{"generate", "stray"}, `unexpected arguments ["stray"]`},
		{[]string{"simulate", "--weeks", "1", "stray"}, `unexpected arguments ["stray"]`},
		{[]string{"setup", "--bucket", "b", "stray"}, `unexpected arguments ["stray"]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit 1 mentioning %q", code, stderr.String(), tc.msg)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		json    bool
		comment string
	}{
		{nil, nil, false, ""},
		{[]string{"a"}, []string{"a"}, false, ""},
		{[]string{"a", "--json"}, []string{"a"}, true, ""},
		{[]string{"--json", "a", "--comment", "x y", "b"}, []string{"a", "b"}, true, "x y"},
		{[]string{"a", "--", "--json", "b"}, []string{"a", "--json", "b"}, false, ""},
		{[]string{"-comment=-x", "a"}, []string{"a"}, false, "-x"},
	} {
		fs := newFlagSet("t")
		asJSON := fs.Bool("json", false, "")
		comment := fs.String("comment", "", "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *asJSON != tc.json || *comment != tc.comment {
			t.Errorf("parseArgs(%q) = %q, json %v, comment %q, err %v; want %q, %v, %q", tc.args, pos, *asJSON, *comment, err, tc.pos, tc.json, tc.comment)
		}
	}
	fs := newFlagSet("t")
	if _, err := parseArgs(fs, []string{"a", "-h"}); err == nil || !isHelp(err) {
		t.Errorf("-h: err %v, want a help request", err)
	}
	if _, err := parseArgs(fs, []string{"a", "--nope"}); flagHint(err) != "(starter t -h lists its flags)" {
		t.Errorf("--nope: err %v, want a flag error", err)
	}
}

func isHelp(err error) bool {
	var h *helpRequest
	return errors.As(err, &h) && h.fs != nil && errors.Is(err, flag.ErrHelp)
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), []string{arg}, &stdout, &stderr)
		out := stdout.String()
		if code != 0 || !strings.HasPrefix(out, "starter ") || !strings.HasSuffix(out, runtime.Version()+"\n") || strings.Count(out, "\n") != 1 {
			t.Errorf("starter %s: exit %d, stdout %q, stderr %q", arg, code, out, stderr.String())
		}
	}
}

// TestTemporalEnvironment: the starter connects where the Temporal tools'
// TEMPORAL_ADDRESS points unless PROMOFLOW_TEMPORAL_ADDRESS says otherwise
// (internal/config has the whole order).
func TestTemporalEnvironment(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/none.toml")
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:2")
	for _, tc := range []struct{ promoflow, want string }{{"", "temporal 127.0.0.1:2:"}, {"127.0.0.1:1", "temporal 127.0.0.1:1:"}} {
		t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", tc.promoflow)
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{"status", "RUN"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("PROMOFLOW_TEMPORAL_ADDRESS=%q: exit %d, stderr %q; want %q", tc.promoflow, code, stderr.String(), tc.want)
		}
	}
}
