package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/workflows"
)

// fakeResolve resolves references without a bucket: s3://b/k to k, raw/
// keys as they are, local files to raw/up/<name>; it records the calls.
type fakeResolve struct{ calls []string }

func (f *fakeResolve) resolve(ref string, prefixOK bool) (string, error) {
	f.calls = append(f.calls, ref)
	if rest, ok := strings.CutPrefix(ref, "s3://"); ok {
		_, k, _ := strings.Cut(rest, "/")
		return k, nil
	}
	if strings.HasPrefix(ref, "raw/") {
		return ref, nil
	}
	return "raw/up/" + filepath.Base(ref), nil
}

// buildFlags parses args as run's (schedule false) or a schedule's
// campaign flags and builds the input.
func buildFlags(t *testing.T, schedule bool, args ...string) (workflows.RegenerateInput, *fakeResolve, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cf campaignFlags
	cf.register(fs, schedule)
	r := &fakeResolve{}
	if err := fs.Parse(args); err != nil {
		return workflows.RegenerateInput{}, r, err
	}
	in, err := cf.build(r.resolve)
	return in, r, err
}

func TestCampaignFlagsBuild(t *testing.T) {
	dir := t.TempDir()
	mappingPath := filepath.Join(dir, "shop.yaml")
	mappingText := "sources:\n  - table: events\n    columns: {user_id: customer, ts: at, type: kind}\n"
	must(t, os.WriteFile(mappingPath, []byte(mappingText), 0o644))
	optOutPath := filepath.Join(dir, "optout.txt")
	must(t, os.WriteFile(optOutPath, []byte("u1\n"), 0o644))
	for _, tc := range []struct {
		name     string
		schedule bool
		args     []string
		check    func(t *testing.T, in workflows.RegenerateInput, calls []string)
	}{
		{"run defaults", false, nil, func(t *testing.T, in workflows.RegenerateInput, calls []string) {
			if in.Template != "weekly" || in.Shards != 8 || in.K != 6 || in.Seed != 42 || in.HorizonDays != 28 ||
				in.Spec.Budget != 10000 || in.Spec.WindowDays != 7 || in.Evaluate || in.Mapping != "" ||
				in.OptOut != nil || in.History != nil || in.Approval.Required || in.Propensity != workflows.ModelBoost || in.Topics != 0 || len(calls) != 0 {
				t.Errorf("input %+v, calls %v", in, calls)
			}
		}},
		{"forest propensity", false, []string{"--propensity", "forest"}, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.Propensity != workflows.ModelForest {
				t.Errorf("propensity %q, want forest", in.Propensity)
			}
		}},
		{"topics", false, []string{"--topics", "10"}, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.Topics != 10 {
				t.Errorf("topics %d, want 10", in.Topics)
			}
		}},
		{"schedule defaults evaluate", true, nil, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if !in.Evaluate || in.Template != "weekly" {
				t.Errorf("input %+v", in)
			}
		}},
		{"overrides", true, []string{"--template", "member", "--budget", "5000.5", "--control-share", "0.2", "--explore-share", "0.1",
			"--window-days", "14", "--shards", "3", "--k", "4", "--seed", "7", "--horizon-days", "14"},
			func(t *testing.T, in workflows.RegenerateInput, _ []string) {
				s := in.Spec
				if in.Template != "member" || s.Name != "member" || s.Budget != 5000.5 || s.ControlShare != 0.2 || s.ExploreShare != 0.1 ||
					s.WindowDays != 14 || in.Shards != 3 || in.K != 4 || in.Seed != 7 || in.HorizonDays != 14 {
					t.Errorf("input %+v spec %+v", in, s)
				}
			}},
		{"zero budget", false, []string{"--budget", "0"}, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.Spec.Budget != 0 {
				t.Errorf("budget %v", in.Spec.Budget)
			}
		}},
		{"mapping, opt-out and history", true, []string{"--mapping", mappingPath,
			"--opt-out", "raw/optout/, s3://promoflow/raw/lists/extra.csv," + optOutPath, "--history", "raw/history/,raw/h/2026.csv"},
			func(t *testing.T, in workflows.RegenerateInput, calls []string) {
				if in.Mapping != mappingText {
					t.Errorf("mapping %q", in.Mapping)
				}
				if want := []string{"raw/optout/", "raw/lists/extra.csv", "raw/up/optout.txt"}; !reflect.DeepEqual(in.OptOut, want) {
					t.Errorf("opt-out %v, want %v", in.OptOut, want)
				}
				if want := []string{"raw/history/", "raw/h/2026.csv"}; !reflect.DeepEqual(in.History, want) {
					t.Errorf("history %v, want %v", in.History, want)
				}
				if len(calls) != 5 {
					t.Errorf("resolver calls %v", calls)
				}
			}},
		{"approval", true, []string{"--require-approval", "--approval-deadline", "2h"}, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.Approval != (workflows.ApprovalPolicy{Required: true, Deadline: 2 * time.Hour}) {
				t.Errorf("approval %+v", in.Approval)
			}
		}},
		{"future tolerance", true, []string{"--future-tolerance", "6h"}, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.FutureTolerance != 6*time.Hour {
				t.Errorf("future tolerance %v, want 6h", in.FutureTolerance)
			}
		}},
		{"future tolerance default", false, nil, func(t *testing.T, in workflows.RegenerateInput, _ []string) {
			if in.FutureTolerance != workflows.DefaultFutureTolerance {
				t.Errorf("future tolerance %v, want %v", in.FutureTolerance, workflows.DefaultFutureTolerance)
			}
		}},
		{"run window and cutoff", false, []string{"--start", "2026-12-01", "--end", "2026-12-24", "--cutoff", "2026-11-01", "--event", "Christmas 2026"},
			func(t *testing.T, in workflows.RegenerateInput, _ []string) {
				if in.Start != time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) || in.End != time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC) ||
					in.Cutoff != time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) || in.Spec.Event != "Christmas 2026" {
					t.Errorf("input %+v", in)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, r, err := buildFlags(t, tc.schedule, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in, r.calls)
		})
	}
}

func TestCampaignFlagsRejected(t *testing.T) {
	dir := t.TempDir()
	badMapping := filepath.Join(dir, "bad.yaml")
	must(t, os.WriteFile(badMapping, []byte("sources:\n  - table: nope\n"), 0o644))
	misspelt := filepath.Join(dir, "misspelt.yaml")
	must(t, os.WriteFile(misspelt, []byte("sources:\n  - files: ['*.csv']\n    tabel: events\n"), 0o644))
	for _, tc := range []struct {
		name     string
		schedule bool
		args     []string
		msg      string
	}{
		{"budget with letters", false, []string{"--budget", "5000abc"}, `"5000abc" is not a number`},
		{"budget NaN", true, []string{"--budget", "NaN"}, "not a number"},
		{"negative budget", true, []string{"--budget", "-1"}, "--budget -1 is below zero"},
		{"share with letters", true, []string{"--control-share", "0.1x"}, `"0.1x" is not a number`},
		{"share out of range", false, []string{"--control-share", "0.7"}, "control_share 0.7"},
		{"explore out of range", true, []string{"--explore-share", "0.9"}, "explore_share 0.9"},
		{"window days with unit", true, []string{"--window-days", "7d"}, `"7d" is not a whole number`},
		{"window days zero", true, []string{"--window-days", "0"}, "--window-days 0"},
		{"shards with letters", true, []string{"--shards", "8x"}, "invalid value"},
		{"zero shards", true, []string{"--shards", "0"}, "--shards 0"},
		{"seed float", false, []string{"--seed", "4.2"}, "invalid value"},
		{"negative deadline", true, []string{"--approval-deadline", "-1h"}, "--approval-deadline"},
		{"history without mapping", true, []string{"--history", "raw/history/"}, "--history needs a --mapping"},
		{"bad mapping", true, []string{"--mapping", badMapping}, "--mapping " + badMapping},
		{"misspelt mapping key", false, []string{"--mapping", misspelt}, "--mapping " + misspelt + `: mapping line 3, column 5: unknown key "tabel" in source 1 (did you mean "table"?)`},
		{"bad tolerance", false, []string{"--future-tolerance", "1d"}, "invalid value"},
		{"missing mapping", false, []string{"--mapping", filepath.Join(dir, "none.yaml")}, "--mapping"},
		{"missing opt-out file", true, []string{"--opt-out", filepath.Join(dir, "none.txt")}, "not a local file, an s3:// URL or a raw/ key"},
		{"unknown template", true, []string{"--template", "easter"}, `unknown template "easter"`},
		{"empty window", false, []string{"--start", "2026-12-01", "--end", "2026-12-01"}, "not after --start"},
		{"no start for a schedule", true, []string{"--start", "2026-12-01"}, "flag provided but not defined: -start"},
		{"unknown propensity model", false, []string{"--propensity", "svm"}, `--propensity "svm": want gbdt or forest`},
		{"one topic", false, []string{"--topics", "1"}, "--topics 1: want 0 (off) or 2..100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, err := buildFlags(t, tc.schedule, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want one mentioning %q", err, tc.msg)
			}
			if len(r.calls) > 0 {
				t.Errorf("resolver called before the flags were checked: %v", r.calls)
			}
		})
	}
}

// TestScheduleActionTemplateApproval: a template that requires approval
// (holiday: 48h) makes every scheduled run wait for a reviewer, without
// --require-approval; --approval-deadline overrides its deadline.
func TestScheduleActionTemplateApproval(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want workflows.ApprovalPolicy
	}{
		{[]string{"--template", "holiday", "--every", "168h"}, workflows.ApprovalPolicy{Required: true, Deadline: 48 * time.Hour}},
		{[]string{"--template", "holiday", "--every", "168h", "--approval-deadline", "3h"}, workflows.ApprovalPolicy{Required: true, Deadline: 3 * time.Hour}},
		{[]string{"--template", "weekly", "--every", "168h"}, workflows.ApprovalPolicy{}},
	} {
		fs := flag.NewFlagSet("schedule create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s := scheduleFlags(fs, false)
		must(t, fs.Parse(tc.args))
		must(t, s.check())
		r := &fakeResolve{}
		action, err := s.action(r.resolve, "q")
		if err != nil {
			t.Fatal(err)
		}
		in, ok := action.Args[0].(workflows.RegenerateInput)
		if !ok || len(action.Args) != 1 {
			t.Fatalf("action args %#v", action.Args)
		}
		if in.Approval != tc.want || in.RunID != "" || in.Campaign != "" || in.InputPrefix != "raw/"+in.Template+"/" || !in.Evaluate {
			t.Errorf("%v: approval %+v (want %+v), run id %q, campaign %q, prefix %q", tc.args, in.Approval, tc.want, in.RunID, in.Campaign, in.InputPrefix)
		}
		// The workflow applies the same defaults to whatever it is given:
		// an action built by another client without the approval still
		// waits for a reviewer.
		bare := workflows.RegenerateInput{Template: in.Template, Spec: in.Spec, Catalog: in.Catalog}
		bare.Defaults()
		if bare.Approval.Required != tc.want.Required {
			t.Errorf("%v: Defaults gives approval %+v", tc.args, bare.Approval)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
