package main

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/uplift"
	"github.com/promoflow/promoflow/workflows"
)

// UpliftCLIOutput is what `starter uplift --json` prints.
type UpliftCLIOutput struct {
	workflows.UpliftOutput
	UIURL string `json:"ui_url"`
}

func upliftCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("uplift")
	cfg := config.FromEnv(fs)
	history := fs.String("history", "", "campaign history CSV: a local file (uploaded to raw/) or s3://bucket/key")
	armCol := fs.String("arm-col", "", "column with the arm (offer) each user received")
	control := fs.String("control", "", "value of the arm column that means control (no offer)")
	outcomeCol := fs.String("outcome-col", "", "outcome column: 0/1 or a number such as revenue")
	featureList := fs.String("features", "", "comma-separated feature columns (default: every other column but --exclude)")
	exclude := fs.String("exclude", "", "comma-separated columns never used as features (other outcomes, dates, ids)")
	idCol := fs.String("id-col", "", `user id column (default "user_id" or "id" if present)`)
	propCol := fs.String("propensity-col", "", "logged probability of the arm received (default: randomized, arm shares)")
	mappingFile := fs.String("mapping", "", "mapping YAML (deploy/datasets/*.yaml): without --features, the features are the non-sensitive attributes of its profiles sources that read the history file")
	budgets := fs.String("budgets", "0.1,0.2,0.3,0.5,1", "comma-separated shares of users who may receive an offer")
	learners := fs.String("learners", strings.Join(uplift.Learners, ","), "learners to compare: t, s, x, r, dr, cf (causal forest), sam (sparse additive), avg (the mean of the s, x, cf and sam effects)")
	value := fs.Float64("value", 1, "what one unit of the outcome is worth, in the unit of --costs (only with --costs)")
	costs := fs.String("costs", "", "comma-separated arm=cost, the cost of giving the arm to one user: policies then rank by effect x value - cost")
	folds := fs.Int("folds", 5, "cross-fitting folds")
	trees := fs.Int("trees", 100, "trees per forest")
	base := fs.String("base", "", "base learner of every model: forest, gbdt (gradient-boosted trees) or blend (the mean of both); default gbdt, forest with --propensity-col")
	bootstrap := fs.Int("bootstrap", 400, "bootstrap resamples for intervals")
	seed := fs.Int64("seed", 42, "seed of folds, forests and bootstrap")
	runID := fs.String("run-id", "", "run id (default uplift-<UTC time>-<random>)")
	wait := fs.Bool("wait", false, "wait for the analysis and print its report")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *history == "" || *armCol == "" || *outcomeCol == "" {
		return errors.New("--history, --arm-col and --outcome-col are required")
	}
	if *mappingFile == "" && *featureList == "" {
		fmt.Fprintln(stderr, "note: without --features or --mapping, every column but the id, arm, outcome, propensity and --exclude is a feature; exclude anything measured after the campaign")
	}
	if *mappingFile != "" && *featureList == "" {
		text, err := os.ReadFile(*mappingFile)
		if err != nil {
			return fmt.Errorf("--mapping: %w", err)
		}
		feats, err := mappingFeatures(string(text), *history)
		if err != nil {
			return fmt.Errorf("--mapping %s: %w", *mappingFile, err)
		}
		*featureList = strings.Join(feats, ",")
	}
	in := workflows.UpliftInput{
		Spec: uplift.Spec{
			ArmCol: *armCol, Control: *control, OutcomeCol: *outcomeCol, IDCol: *idCol,
			PropensityCol: *propCol, Features: splitList(*featureList), Exclude: splitList(*exclude),
		},
		Config: uplift.Config{Folds: *folds, Seed: *seed, Trees: *trees, Bootstrap: *bootstrap, Learners: splitList(*learners), BaseName: *base},
	}
	if *costs != "" {
		in.Config.Value = *value
		in.Config.Costs = map[string]float64{}
		for _, kv := range splitList(*costs) {
			arm, c, ok := strings.Cut(kv, "=")
			v, err := strconv.ParseFloat(c, 64)
			if !ok || err != nil {
				return fmt.Errorf("--costs: %q is not arm=cost", kv)
			}
			in.Config.Costs[arm] = v
		}
	}
	for _, b := range splitList(*budgets) {
		v, err := strconv.ParseFloat(b, 64)
		if err != nil {
			return fmt.Errorf("--budgets: %q is not a number", b)
		}
		in.Config.Budgets = append(in.Config.Budgets, v)
	}
	if err := in.Config.WithDefaults().Validate(); err != nil {
		return err
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	if in.HistoryKey, err = resolveInput(ctx, store, *history, "uplift", stderr); err != nil {
		return err
	}
	if *runID == "" {
		*runID = newRunID("uplift", time.Now())
	}
	in.RunID = *runID
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: *runID, TaskQueue: cfg.TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Uplift, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", *runID, err)
	}
	ui := announce(cfg, run, stderr)
	if !*wait {
		return printStarted(stdout, *asJSON, *runID, run, ui)
	}
	var out workflows.UpliftOutput
	if err := follow(ctx, c, run, stderr, &out); err != nil {
		return fmt.Errorf("uplift %s failed: %s\n  ui: %s", run.GetID(), describe(err), ui)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(UpliftCLIOutput{UpliftOutput: out, UIURL: ui})
	}
	printUplift(stdout, &out)
	fmt.Fprintf(stdout, "report: %s\npolicy: %s\nui: %s\n", store.URL(out.ReportKey), store.URL(out.PolicyKey), ui)
	return nil
}

// printUplift writes a short human-readable report.
func printUplift(w io.Writer, out *workflows.UpliftOutput) {
	fmt.Fprintf(w, "uplift %s: %d users, %d folds, propensities %s\n", out.RunID, out.Rows, out.Folds, out.Info.Propensity)
	for _, a := range out.Arms {
		fmt.Fprintf(w, "  arm %-14s n %7d  mean %.4f  ate %+.4f [%+.4f, %+.4f]\n", a.Name, a.N, a.Mean, a.ATE, a.ATECI95[0], a.ATECI95[1])
	}
	for _, l := range out.Learners {
		fmt.Fprintf(w, "  learner %-3s cv policy value %.5f\n", l.Name, l.CVPolicyValue)
	}
	fmt.Fprintf(w, "chosen learner: %s\n", out.Chosen)
	for _, b := range out.Budgets {
		fmt.Fprintf(w, "  budget %.2f: incremental %.5f [%.5f, %.5f], random %.5f", b.Fraction, b.Incremental, b.IncrementalCI95[0], b.IncrementalCI95[1], b.RandomIncremental)
		if b.Net != nil {
			fmt.Fprintf(w, ", net of cost %.5f", *b.Net)
		}
		fmt.Fprintln(w)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// HistoryOutput is what `starter history --json` prints.
type HistoryOutput struct {
	Out      string   `json:"out"`
	Users    int      `json:"users"` // one row each
	Seed     int64    `json:"seed"`
	Targeted bool     `json:"targeted"`
	Arms     []string `json:"arms"` // values of the arm column, control first
}

// historyCmd writes a synthetic campaign history with planted effects.
func historyCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("history")
	users := fs.Int("users", 20000, "users (the same users as `generate` with the same seed)")
	seed := fs.Int64("seed", 42, "random seed")
	targeted := fs.Bool("targeted", false, "non-uniform assignment with logged propensities")
	out := fs.String("out", "", "output CSV file")
	asJSON := fs.Bool("json", false, "print what was written as JSON on stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" || *users < 1 {
		return errors.New("--out and --users >= 1 are required")
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := synth.WriteHistory(f, synth.HistoryConfig{Config: synth.Config{Users: *users, Seed: *seed}, Targeted: *targeted}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote the campaign history of %d users to %s (arms: %s)\n", *users, *out, strings.Join(synth.HistoryArms, ", "))
	if *asJSON {
		return printJSON(stdout, HistoryOutput{Out: *out, Users: *users, Seed: *seed, Targeted: *targeted, Arms: synth.HistoryArms})
	}
	return nil
}

// mappingFeatures returns the feature columns that a mapping gives the
// history file: the attributes of its profiles sources that read the same
// file, which describe users as they were before the campaign. Other
// columns of the file (the outcomes that the history source maps, such as
// revenue after the campaign) are never features: used as covariates they
// would bias the effects. Sensitive attributes are for fairness audits only.
func mappingFeatures(text, history string) ([]string, error) {
	m, err := mapping.Load(text)
	if err != nil {
		return nil, err
	}
	var feats []string
	for _, src := range m.Match(history) {
		if src.Table.Name != canon.ProfilesName {
			continue
		}
		for _, a := range src.Attributes {
			if a.Sensitive {
				continue
			}
			if a.Expr != "`"+a.Target+"`" && a.Expr != a.Target {
				return nil, fmt.Errorf("attribute %q (line %d) is an expression, not a column of %s: pass --features", a.Target, a.Line, filepath.Base(history))
			}
			feats = append(feats, a.Target)
		}
	}
	if len(feats) == 0 {
		return nil, fmt.Errorf("no profiles source with attributes reads %s: pass --features", filepath.Base(history))
	}
	return feats, nil
}
