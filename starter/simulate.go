package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// simulateCmd runs the Simulate workflow: the production loop for --weeks
// simulated weeks on generated users, printing each week's incremental
// profit of the plan, the oracle, the blanket baseline and the best
// one-offer-per-segment policy (the ceiling of the adjustment state alone).
func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate")
	cfg := config.FromEnv(fs)
	weeks := fs.Int("weeks", 6, "simulated weeks")
	users := fs.Int("users", 8000, "generated users")
	seed := fs.Int64("seed", 5, "generator seed (the world); the runs use --run-seed")
	runSeed := fs.Int64("run-seed", 3, "regeneration seed")
	shards := fs.Int("shards", workflows.DefaultSimulateShards, "user shards")
	k := fs.Int("k", 6, "segments")
	id := fs.String("id", "", "simulation id, also its template (default sim-<users>-<seed>-<UTC time>-<random>)")
	explore := fs.String("explore", "0.5,0.5,0.01", "exploration share by week, comma-separated, the last one for the weeks after; at most 0.5")
	asJSON := fs.Bool("json", false, "print {weeks: [{week, plan_profit, oracle_profit, baseline_profit}]} as JSON")
	if err := parseNoArgs(fs, args); err != nil {
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
		*id = newRunID(fmt.Sprintf("sim-%d-%d", *users, *seed), time.Now())
	}
	world := synth.Config{Users: *users, Seed: *seed}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	in := workflows.SimulateInput{ID: *id, Weeks: *weeks, World: world, Shards: *shards, K: *k, Seed: *runSeed, ExploreShares: shares}
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
		return fmt.Errorf("simulation %s failed: %s", *id, describe(err))
	}
	fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	// segment/orc is the ceiling of learning by segment alone (the
	// adjustment state): the best one-offer-per-segment policy.
	fmt.Fprintf(stdout, "%4s %12s %12s %12s %9s %12s %8s %6s %8s %7s\n", "week", "plan", "oracle", "baseline", "plan/orc", "segment", "seg/orc", "state", "history", "learner")
	for _, w := range out.Weeks {
		ratio := func(x float64) float64 {
			if w.OracleProfit == 0 {
				return 0
			}
			return 100 * x / w.OracleProfit
		}
		learner := w.Learner
		if learner == "" {
			learner = "-"
		}
		fmt.Fprintf(stdout, "%4d %12.2f %12.2f %12.2f %8.0f%% %12.2f %7.0f%% %6d %8d %7s\n", w.Week, w.PlanProfit, w.OracleProfit, w.BaselineProfit,
			ratio(w.PlanProfit), w.SegmentProfit, ratio(w.SegmentProfit), w.StateVersion, w.UpliftRows, learner)
	}
	return nil
}
