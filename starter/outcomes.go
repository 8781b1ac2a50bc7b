package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/workflows"
)

// OutcomesOutput is what `starter outcomes --json` prints.
type OutcomesOutput struct {
	Campaign   string   `json:"campaign"`
	Evaluation string   `json:"evaluation"` // the evaluation's workflow ID
	Outcomes   []string `json:"outcomes"`   // bucket keys of the outcome files
	// MappingFile is the --mapping file; Mapping, its text, travels in
	// the signal and is not printed (a page of YAML in every answer).
	MappingFile string `json:"mapping,omitempty"`
	Mapping     string `json:"-"`
	Signalled   bool   `json:"signalled"`
	// Problem says why the evaluation was not signalled (the command
	// then exits non-zero, the files uploaded).
	Problem string `json:"problem,omitempty"`
}

// outcomesCmd uploads a campaign's outcome event files under
// raw/outcomes/<campaign>/ and signals its evaluation that they are in.
func outcomesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("outcomes")
	cfg := config.FromEnv(fs)
	camp := fs.String("campaign", "", "campaign id (its evaluation is <campaign>-evaluation)")
	input := fs.String("input", "", "outcome event files, comma-separated: local files (uploaded to raw/outcomes/<campaign>/<content hash>/), or s3:// or raw/ keys")
	mappingFile := fs.String("mapping", "", "mapping YAML whose events sources read the files (docs/DATA.md); default: canonical event CSV")
	asJSON := fs.Bool("json", false, "print what was uploaded and signalled as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	files := splitList(*input)
	if *camp == "" || len(files) == 0 {
		return errors.New("usage: starter outcomes --campaign C --input FILE[,FILE] [--mapping M] [--json]")
	}
	if strings.ContainsAny(*camp, "/ ") {
		return fmt.Errorf("--campaign %q: not a campaign id", *camp)
	}
	var m *mapping.Mapping
	out := OutcomesOutput{Campaign: *camp, Evaluation: workflows.EvaluationID(*camp)}
	if *mappingFile != "" {
		b, err := os.ReadFile(*mappingFile)
		if err != nil {
			return fmt.Errorf("--mapping: %w", err)
		}
		if m, err = mapping.Parse(b); err != nil {
			return fmt.Errorf("--mapping %s: %w", *mappingFile, err)
		}
		out.Mapping, out.MappingFile = string(b), *mappingFile
	}
	for _, f := range files {
		if !isBucketRef(f) {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("input: %w", err)
			}
		}
		if m != nil && !hasEventsSource(m, f) {
			return fmt.Errorf("%s: no events source of the mapping %s matches this file name", f, *mappingFile)
		}
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	for _, f := range files {
		key, err := resolveRef(ctx, store, f, "outcomes/"+*camp, false, stderr)
		if err != nil {
			return err
		}
		out.Outcomes = append(out.Outcomes, key)
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	out.Problem, err = signalOutcomes(ctx, c, out)
	if err != nil {
		return err
	}
	out.Signalled = out.Problem == ""
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, k := range out.Outcomes {
			fmt.Fprintf(stdout, "uploaded %s\n", store.URL(k))
		}
		if out.Signalled {
			how := "canonical event CSV"
			if out.Mapping != "" {
				how = "read through " + *mappingFile
			}
			fmt.Fprintf(stdout, "signalled %s (%s): %d outcome file(s), %s; it evaluates campaign %s now\n",
				out.Evaluation, workflows.OutcomesReadySignal, len(out.Outcomes), how, *camp)
		}
	}
	if out.Problem != "" {
		return errors.New(out.Problem)
	}
	return nil
}

// hasEventsSource reports whether an events source of m reads file.
func hasEventsSource(m *mapping.Mapping, file string) bool {
	for _, s := range m.Match(file) {
		if s.Table == canon.EventsTable {
			return true
		}
	}
	return false
}

// signalOutcomes signals the campaign's evaluation if it is waiting for
// its outcomes, and otherwise returns why not.
func signalOutcomes(ctx context.Context, c client.Client, out OutcomesOutput) (problem string, err error) {
	id := out.Evaluation
	uploaded := fmt.Sprintf("the files are uploaded (%s) but no evaluation will read them", strings.Join(out.Outcomes, ", "))
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Sprintf("no evaluation %s: no campaign %s, or its run did not start an evaluation; %s", id, out.Campaign, uploaded), nil
	}
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", id, err)
	}
	if st := d.WorkflowExecutionInfo.GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return fmt.Sprintf("evaluation %s is not running (%s): campaign %s was already evaluated or its evaluation ended; %s",
			id, strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"), out.Campaign, uploaded), nil
	}
	if p, err := queryProgress(ctx, c, id); err == nil && p.Stage != workflows.StageWaiting {
		return fmt.Sprintf("evaluation %s is past waiting (stage %s): it measures what it read already; %s", id, p.Stage, uploaded), nil
	}
	err = c.SignalWorkflow(ctx, id, "", workflows.OutcomesReadySignal, workflows.OutcomesReady{Outcomes: out.Outcomes, Mapping: out.Mapping})
	if errors.As(err, &notFound) {
		return fmt.Sprintf("evaluation %s ended before the signal; %s", id, uploaded), nil
	}
	if err != nil {
		return "", fmt.Errorf("signal %s: %w", id, err)
	}
	return "", nil
}
