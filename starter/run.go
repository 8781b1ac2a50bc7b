package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	fs := newFlagSet("run")
	cfg := config.FromEnv(fs)
	input := fs.String("input", "", "events: a local file (uploaded to raw/<dataset>/), s3://bucket/key or a raw/ key; comma-separated for several")
	runID := fs.String("run-id", "", "run id; a second start with the same id is refused (default <template>-<UTC time>-<random>)")
	campaign := fs.String("campaign", "", "campaign id (default the run id)")
	wait := fs.Bool("wait", false, "wait for the run to finish and print its summary")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout")
	jsonOut := fs.String("json-out", "", "with --wait: write the whole summary as JSON to this file, and print the short one (as without --json)")
	var cf campaignFlags
	cf.register(fs, false)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	in, err := cf.prepare()
	if err != nil {
		return err
	}
	inputs := splitList(*input)
	if len(inputs) == 0 {
		return errors.New("--input is required")
	}
	if *jsonOut != "" && !*wait {
		return errors.New("--json-out needs --wait (the summary exists when the run is done)")
	}
	for _, f := range inputs {
		if !isBucketRef(f) {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("input: %w", err)
			}
		}
	}
	refs := newRefResolver(ctx, cfg, cf.dataset, stderr)
	if err := cf.resolveRefs(&in, refs.resolve); err != nil {
		return err
	}
	for _, f := range inputs {
		key, err := refs.resolve(f, false)
		if err != nil {
			return err
		}
		in.Inputs = append(in.Inputs, key)
	}
	switch {
	case *runID != "":
	case cf.event != "":
		// One run per event: a second start of the same event is refused
		// (the reuse policy below), rather than sending twice.
		*runID = fmt.Sprintf("%s-%s", cf.template, Slug(cf.event))
	default:
		*runID = newRunID(cf.template, time.Now())
	}
	in.RunID, in.Campaign = *runID, *campaign
	in.Defaults() // a template's approval applies here (workflows.RegenerateInput.Defaults)
	if err := in.Validate(); err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
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
		return fmt.Errorf("run %s failed: %s\n  ui: %s", run.GetID(), describe(err), ui)
	}
	out := RunOutput{Summary: sum, UIURL: ui}
	if *jsonOut != "" {
		if err := writeJSONFile(*jsonOut, out); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if sum.Approval != nil && sum.Approval.Status != workflows.ApprovalApproved {
		fmt.Fprintln(stdout, approvalLine(*sum.Approval))
		fmt.Fprintf(stdout, "review: %s\nui: %s\n", sum.Approval.Review, ui)
		if *jsonOut != "" {
			fmt.Fprintf(stdout, "summary: %s (the whole summary, JSON)\n", *jsonOut)
		}
	} else {
		printRunSummary(stdout, out, *jsonOut)
	}
	return nil
}

// writeJSONFile writes v as indented JSON to path, through a temporary
// file renamed into place: path is whole or absent.
func writeJSONFile(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := printJSON(f, v); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// newRunID returns a generated run id, prefix-<UTC time to the
// second>-<6 random hex digits>: ordered by time, and unique even for runs
// started in the same second (a repeated id is refused as already
// started). A chosen --run-id is for starts that must happen once.
func newRunID(prefix string, now time.Time) string {
	var b [3]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%s-%s-%s", prefix, now.UTC().Format("20060102-150405"), hex.EncodeToString(b[:]))
}

// refResolver resolves file references against the bucket, connecting
// to it on first use.
type refResolver struct {
	ctx     context.Context
	cfg     *config.Config
	dataset string
	stderr  io.Writer
	store   *blob.S3
}

func newRefResolver(ctx context.Context, cfg *config.Config, dataset string, stderr io.Writer) *refResolver {
	return &refResolver{ctx: ctx, cfg: cfg, dataset: dataset, stderr: stderr}
}

func (r *refResolver) resolve(ref string, prefixOK bool) (string, error) {
	if r.store == nil {
		s, err := blob.NewS3(r.ctx, r.cfg.Blob())
		if err != nil {
			return "", err
		}
		r.store = s
	}
	return resolveRef(r.ctx, r.store, ref, r.dataset, prefixOK, r.stderr)
}

// resolveRef returns the bucket key of a file reference: s3://bucket/key
// or a raw/ key is used as it is (an object must exist; a "/"-terminated
// prefix, when prefixOK, is listed later, when a run starts); a local file
// is uploaded under raw/<dataset>/<content hash>/, so a changed file never
// overwrites an earlier one and an unchanged one is not uploaded twice.
func resolveRef(ctx context.Context, store *blob.S3, ref, dataset string, prefixOK bool, stderr io.Writer) (string, error) {
	if isBucketRef(ref) {
		key := ref
		if rest, ok := strings.CutPrefix(ref, "s3://"); ok {
			bucket, k, _ := strings.Cut(rest, "/")
			if bucket != store.Bucket() {
				return "", fmt.Errorf("%s: bucket %q, but the configured bucket is %q", ref, bucket, store.Bucket())
			}
			key = k
		}
		if strings.HasSuffix(key, "/") {
			if !prefixOK {
				return "", fmt.Errorf("%s: want a file, not a prefix", ref)
			}
			return key, nil
		}
		ok, err := store.Exists(ctx, key)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%s does not exist", ref)
		}
		return key, nil
	}
	return uploadFile(ctx, store, ref, layout.Raw(dataset, ""), stderr)
}

// resolveInput is resolveRef for a file: no prefix.
func resolveInput(ctx context.Context, store *blob.S3, in, dataset string, stderr io.Writer) (string, error) {
	return resolveRef(ctx, store, in, dataset, false, stderr)
}

// uploadFile uploads a local file under prefix/<content hash>/<name>
// unless it is there already, and returns its key.
func uploadFile(ctx context.Context, store *blob.S3, path, prefix string, stderr io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("input %s: %w", path, err)
	}
	key := layout.Upload(prefix, hex.EncodeToString(h.Sum(nil)), filepath.Base(path))
	exists, err := store.Exists(ctx, key)
	if err != nil {
		return "", err
	}
	if !exists {
		fmt.Fprintf(stderr, "uploading %s to %s\n", path, store.URL(key))
		if err := store.PutFile(ctx, key, path); err != nil {
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
// decodes its result into out. The reporter has stopped (and erased its
// line from a terminal) when follow returns, so nothing it writes comes
// after what the caller prints.
func follow(ctx context.Context, c client.Client, run client.WorkflowRun, stderr io.Writer, out any) error {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		reportProgress(ctx, c, run.GetID(), stderr, done)
	}()
	err := run.Get(ctx, out)
	close(done)
	<-stopped
	return err
}

func uiURL(cfg *config.Config, workflowID, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(cfg.UI, "/"), cfg.Namespace, workflowID, runID)
}

// reportProgress shows the run's stages on stderr: on a terminal one line
// redrawn in place whenever it changes, units of the running stage
// included; elsewhere (a log) a line each time a stage starts.
func reportProgress(ctx context.Context, c client.Client, workflowID string, stderr io.Writer, done <-chan struct{}) {
	tty := isTerminal(stderr)
	w := &watcher{w: stderr, tty: tty, render: func(p workflows.Progress) string { return progressLine(p, tty) + "\n" }}
	hinted := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			w.clear() // the run's summary follows
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p, err := queryProgress(ctx, c, workflowID)
		if err != nil {
			continue
		}
		w.show(p)
		if hint := approvalHint(p, workflowID); hint != "" && !hinted {
			fmt.Fprintln(stderr, hint)
			w.keep() // the hint stays on screen
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

// progressLine marks each stage done [x], running [>] or pending [ ], with
// the running stage's units when units is set.
func progressLine(p workflows.Progress, units bool) string {
	var parts []string
	for _, s := range p.Stages {
		mark := map[string]string{workflows.Pending: " ", workflows.Running: ">", workflows.Done: "x"}[s.State]
		part := fmt.Sprintf("[%s] %s", mark, s.Name)
		if units && s.State == workflows.Running && s.Total > 0 {
			part += fmt.Sprintf(" %d/%d", s.Done, s.Total)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "  ")
}
