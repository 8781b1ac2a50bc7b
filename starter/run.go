package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/workflows"
)

// RunOutput is what `starter run --json` prints: the run's summary plus the
// address of the run in the Temporal UI.
type RunOutput struct {
	workflows.Summary
	UIURL string `json:"ui_url"`
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.FromEnv(fs)
	template := fs.String("template", "weekly", "campaign template")
	input := fs.String("input", "", "events: a local file (uploaded to raw/) or s3://bucket/key; comma-separated for several")
	dataset := fs.String("dataset", "local", "dataset name under raw/ for uploaded files")
	mappingFile := fs.String("mapping", "", "mapping YAML turning the inputs into canonical events (docs/DATA.md); default: inputs are canonical events")
	seed := fs.Int64("seed", 42, "run seed: same inputs and seed, same plan")
	shards := fs.Int("shards", 8, "user shards")
	k := fs.Int("k", 6, "segments")
	horizon := fs.Int("horizon-days", 28, "propensity label window after the cutoff, in days")
	cutoff := fs.String("cutoff", "", "training cutoff date (2006-01-02); default horizon-days before the last event")
	runID := fs.String("run-id", "", "run id (default <template>-<UTC time>)")
	campaign := fs.String("campaign", "", "campaign id (default the run id)")
	wait := fs.Bool("wait", false, "wait for the run to finish and print its summary")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout")
	approval := fs.Bool("require-approval", false, "wait for `starter approve` (or reject) before publishing")
	approvalDeadline := fs.Duration("approval-deadline", 0, "with --require-approval: give up (status expired, nothing published) after this long; 0 waits forever")
	var sf specFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec, catalog, start, end, err := sf.load(*template)
	if err != nil {
		return err
	}
	if *input == "" {
		return errors.New("--input is required")
	}
	localFiles := strings.Split(*input, ",")
	if sf.history != "" {
		localFiles = append(localFiles, strings.Split(sf.history, ",")...)
	}
	var optOut []string
	if sf.optOut != "" {
		optOut = strings.Split(sf.optOut, ",")
	}
	var mappingText string
	if *mappingFile != "" {
		b, err := os.ReadFile(*mappingFile)
		if err != nil {
			return fmt.Errorf("--mapping: %w", err)
		}
		mappingText = string(b)
	}
	var cutoffTime time.Time
	if *cutoff != "" {
		t, err := time.Parse("2006-01-02", *cutoff)
		if err != nil {
			return fmt.Errorf("--cutoff %q: want a date like 2011-09-10", *cutoff)
		}
		cutoffTime = t
	}
	// Local files must exist before anything is started.
	for _, f := range append(slices.Clone(localFiles), optOut...) {
		if f = strings.TrimSpace(f); !strings.HasPrefix(f, "s3://") {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("input: %w", err)
			}
		}
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	var keys, optOutKeys []string
	for _, in := range localFiles {
		key, err := resolveInput(ctx, store, strings.TrimSpace(in), *dataset, stderr)
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	for _, in := range optOut {
		key, err := resolveInput(ctx, store, strings.TrimSpace(in), *dataset, stderr)
		if err != nil {
			return err
		}
		optOutKeys = append(optOutKeys, key)
	}
	switch {
	case *runID != "":
	case sf.event != "":
		// One run per event: a second start of the same event is refused
		// (the reuse policy below), rather than sending twice.
		*runID = fmt.Sprintf("%s-%s", *template, Slug(sf.event))
	default:
		*runID = fmt.Sprintf("%s-%s", *template, time.Now().UTC().Format("20060102-150405"))
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if spec.Approval.Required && !*approval {
		// The template asks for a reviewer (holiday); --approval-deadline
		// still overrides its deadline.
		*approval = true
		if *approvalDeadline == 0 {
			*approvalDeadline = spec.Approval.Deadline
		}
	}
	in := workflows.RegenerateInput{
		RunID: *runID, Template: *template, Campaign: *campaign, Inputs: keys, Mapping: mappingText,
		Shards: *shards, Seed: *seed, K: *k, HorizonDays: *horizon, Cutoff: cutoffTime,
		Spec: spec, Catalog: catalog, Start: start, End: end, OptOut: optOutKeys,
		Approval: workflows.ApprovalPolicy{Required: *approval, Deadline: *approvalDeadline},
	}
	in.Defaults()
	if err := in.Validate(); err != nil {
		return err
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: *runID, TaskQueue: cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Regenerate, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("run %s was already started (workflow IDs are never reused: one run per event); pass --run-id to start another", *runID)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", *runID, err)
	}
	ui := announce(cfg, run, stderr)
	if !*wait {
		return printStarted(stdout, *asJSON, *runID, run, ui)
	}
	var sum workflows.Summary
	if err := follow(ctx, c, run, stderr, &sum); err != nil {
		return fmt.Errorf("run %s failed: %w\n  ui: %s", run.GetID(), err, ui)
	}
	out := RunOutput{Summary: sum, UIURL: ui}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if sum.Approval != nil {
		fmt.Fprintln(stdout, approvalLine(*sum.Approval))
		if sum.Approval.Status != workflows.ApprovalApproved {
			fmt.Fprintf(stdout, "review: %s\nui: %s\n", sum.Approval.Review, ui)
			return nil
		}
	}
	fmt.Fprintf(stdout, "run %s: %d input rows, %d users, %d plan rows (%d control)\nplan: %s\nui: %s\n",
		sum.RunID, sum.InputRows, sum.Users, sum.Plan.Rows, sum.Plan.ControlRows, sum.Plan.CSV, ui)
	return nil
}

// resolveInput returns the raw/ key of an input: an s3:// URL is used as
// it is; a local file is uploaded under raw/<dataset>/<content hash>/, so a
// changed file never overwrites an earlier input and an unchanged one is
// not uploaded twice.
func resolveInput(ctx context.Context, store *blob.S3, in, dataset string, stderr io.Writer) (string, error) {
	if rest, ok := strings.CutPrefix(in, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket != store.Bucket() {
			return "", fmt.Errorf("input %s: bucket %q, but the configured bucket is %q", in, bucket, store.Bucket())
		}
		ok, err := store.Exists(ctx, key)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("input %s does not exist", in)
		}
		return key, nil
	}
	f, err := os.Open(in)
	if err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("input %s: %w", in, err)
	}
	key := layout.Raw(dataset, hex.EncodeToString(h.Sum(nil))[:16]+"/"+filepath.Base(in))
	exists, err := store.Exists(ctx, key)
	if err != nil {
		return "", err
	}
	if !exists {
		fmt.Fprintf(stderr, "uploading %s to %s\n", in, store.URL(key))
		if err := store.PutFile(ctx, key, in); err != nil {
			return "", err
		}
	}
	return key, nil
}

func dial(ctx context.Context, cfg *config.Config) (client.Client, error) {
	opts, err := cfg.ClientOptions(quietLogger{})
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal %s: %w (is the stack up? `make up`)", cfg.TemporalAddress, err)
	}
	return c, nil
}

// announce prints a started workflow's ID and UI link on stderr and
// returns the link.
func announce(cfg *config.Config, run client.WorkflowRun, stderr io.Writer) string {
	ui := uiURL(cfg, run.GetID(), run.GetRunID())
	fmt.Fprintf(stderr, "started %s\n  ui: %s\n", run.GetID(), ui)
	return ui
}

// printStarted is the output of a start without --wait: the IDs as JSON
// with --json, nothing otherwise (announce said it on stderr).
func printStarted(stdout io.Writer, asJSON bool, runID string, run client.WorkflowRun, ui string) error {
	if !asJSON {
		return nil
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"run_id": runID, "workflow_id": run.GetID(), "ui_url": ui})
}

// follow waits for run to end, reporting its progress on stderr, and
// decodes its result into out.
func follow(ctx context.Context, c client.Client, run client.WorkflowRun, stderr io.Writer, out any) error {
	done := make(chan struct{})
	defer close(done)
	go reportProgress(ctx, c, run.GetID(), stderr, done)
	return run.Get(ctx, out)
}

func uiURL(cfg *config.Config, workflowID, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(cfg.UI, "/"), cfg.Namespace, workflowID, runID)
}

// reportProgress prints the running stage to stderr whenever it changes.
func reportProgress(ctx context.Context, c client.Client, workflowID string, stderr io.Writer, done <-chan struct{}) {
	last, hinted := "", false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p, err := queryProgress(ctx, c, workflowID)
		if err != nil {
			continue
		}
		line := progressLine(p)
		if line != last {
			fmt.Fprintln(stderr, line)
			last = line
		}
		if hint := approvalHint(p, workflowID); hint != "" && !hinted {
			fmt.Fprintln(stderr, hint)
			hinted = true
		}
	}
}

func queryProgress(ctx context.Context, c client.Client, workflowID string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

func progressLine(p workflows.Progress) string {
	var parts []string
	for _, s := range p.Stages {
		mark := map[string]string{workflows.Pending: " ", workflows.Running: ">", workflows.Done: "x"}[s.State]
		part := fmt.Sprintf("[%s] %s", mark, s.Name)
		if s.State == workflows.Running && s.Total > 0 {
			part += fmt.Sprintf(" %d/%d", s.Done, s.Total)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "  ")
}
