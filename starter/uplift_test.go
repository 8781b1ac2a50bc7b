package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUpliftBadRequests(t *testing.T) {
	// Point at closed ports: every case must fail before needing a server.
	t.Setenv("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no history", []string{"uplift", "--arm-col", "a", "--outcome-col", "y"}, "--history, --arm-col and --outcome-col are required"},
		{"no arm", []string{"uplift", "--history", "h.csv", "--outcome-col", "y"}, "are required"},
		{"missing mapping", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--mapping", "no-such.yaml"}, "--mapping"},
		{"mapping without profiles", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--mapping", "../deploy/datasets/artea.yaml"}, "no profiles source with attributes reads h.csv"},
		{"bad budget", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--budgets", "0.1,x"}, `--budgets: "x"`},
		{"budget above 1", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--budgets", "1.5"}, "budget 1.5"},
		{"unknown learner", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--learners", "t,q"}, `unknown learner "q"`},
		{"unknown base", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--base", "lightgbm"}, `base learner "lightgbm"`},
		{"bad costs", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--costs", "a=x"}, `--costs: "a=x" is not arm=cost`},
		{"negative cost", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--costs", "a=-1"}, `cost -1 of arm "a"`},
		{"bad value", []string{"uplift", "--history", "h.csv", "--arm-col", "a", "--outcome-col", "y", "--costs", "a=1", "--value", "-2"}, "value -2"},
		{"history without out", []string{"history"}, "--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit 1 mentioning %q", code, stderr.String(), tc.msg)
			}
		})
	}
}

func TestHistoryCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "h", "history.csv")
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"history", "--users", "20", "--seed", "3", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 21 || rows[0][2] != "arm" {
		t.Errorf("%d rows, header %q, err %v", len(rows), rows[0], err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout without --json: %q", stdout.String())
	}
	stdout.Reset()
	if code := dispatch(context.Background(), []string{"history", "--users", "20", "--seed", "3", "--out", out, "--targeted", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr.String())
	}
	var got HistoryOutput
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("--json printed %q: %v", stdout.String(), err)
	}
	if got.Out != out || got.Users != 20 || got.Seed != 3 || !got.Targeted || len(got.Arms) < 2 || got.Arms[0] != "control" {
		t.Errorf("--json: %+v", got)
	}
}

// TestMappingFeatures: the Artea mapping gives the experiment file its six
// pre-campaign covariates, never the outcomes (trans_after, revenue_after)
// nor the sensitive attributes of the demographics file.
func TestMappingFeatures(t *testing.T) {
	text, err := os.ReadFile("../deploy/datasets/artea.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := mappingFeatures(string(text), "../../shared/data/artea/artea-a_b-experiment.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"channel_acq", "num_past_purch", "spent_last_purchase", "weeks_since_visit", "browsing_minutes", "shopping_cart"}
	if !slices.Equal(got, want) {
		t.Errorf("features %q, want %q", got, want)
	}
	if _, err := mappingFeatures(string(text), "artea-demographics.csv"); err == nil {
		t.Error("the demographics file (sensitive attributes only) gave features")
	}
}
