package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// simulateCmd generates users, uploads their events and runs the Simulate
// workflow: the closed loop for --weeks simulated weeks, printing each
// week's incremental profit of the plan, the oracle and the blanket
// baseline.
func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.FromEnv(fs)
	weeks := fs.Int("weeks", 6, "simulated weeks")
	users := fs.Int("users", 8000, "generated users")
	seed := fs.Int64("seed", 5, "generator seed (the world); the runs use --run-seed")
	runSeed := fs.Int64("run-seed", 3, "regeneration seed")
	shards := fs.Int("shards", 4, "user shards")
	k := fs.Int("k", 6, "segments")
	id := fs.String("id", "", "simulation id, also its template (default sim-<users>-<seed>-<UTC time>)")
	history := fs.Bool("history", true, "feed each week's outcomes back as campaign history (the decision's per-user uplift models); false: the adjustment state only")
	explore := fs.String("explore", "0.5,0.5,0.01,0.01,0.01,0.01", "exploration share of the first weeks, comma-separated (the template's 0.05 after them); at most 0.5")
	asJSON := fs.Bool("json", false, "print {weeks: [{week, plan_profit, oracle_profit, baseline_profit}]} as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *weeks < 1 || *users < 1 {
		return errors.New("--weeks and --users must be at least 1")
	}
	var shares []float64
	for f := range strings.SplitSeq(*explore, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v > 0.5 {
			return fmt.Errorf("--explore: %q is not a share in [0, 0.5]", f)
		}
		shares = append(shares, v)
	}
	if *id == "" {
		*id = fmt.Sprintf("sim-%d-%d-%s", *users, *seed, time.Now().UTC().Format("20060102-150405"))
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	world := synth.Config{Users: *users, Seed: *seed}
	dir, err := os.MkdirTemp("", "promoflow-sim")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.csv.gz")
	if _, err := synth.WriteFile(path, world); err != nil {
		return err
	}
	key := fmt.Sprintf("raw/sim/%s/events.csv.gz", *id)
	if err := store.PutFile(ctx, key, path); err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	in := workflows.SimulateInput{ID: *id, Weeks: *weeks, World: world, Inputs: []string{key}, Shards: *shards, K: *k, Seed: *runSeed, FeedHistory: *history, ExploreShares: shares}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: *id, TaskQueue: cfg.TaskQueue, WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Simulate, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", *id, err)
	}
	fmt.Fprintf(stderr, "simulating %d weeks of %d users: %s\n  ui: %s\n", *weeks, *users, run.GetID(), uiURL(cfg, run.GetID(), run.GetRunID()))
	start := time.Now()
	var out workflows.SimulateOutput
	if err := run.Get(ctx, &out); err != nil {
		return fmt.Errorf("simulation %s failed: %w", *id, err)
	}
	fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "%4s %12s %12s %12s %9s %6s\n", "week", "plan", "oracle", "baseline", "plan/orc", "state")
	for _, w := range out.Weeks {
		ratio := 0.0
		if w.OracleProfit != 0 {
			ratio = w.PlanProfit / w.OracleProfit
		}
		fmt.Fprintf(stdout, "%4d %12.2f %12.2f %12.2f %8.0f%% %6d\n", w.Week, w.PlanProfit, w.OracleProfit, w.BaselineProfit, 100*ratio, w.StateVersion)
	}
	return nil
}
