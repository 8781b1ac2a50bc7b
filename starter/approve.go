package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

// approveCmd is `starter approve RUN_ID --by NAME [--comment TEXT]`.
func approveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return reviewCmd(ctx, workflows.ApproveUpdate, args, stdout, stderr)
}

// rejectCmd is `starter reject RUN_ID --by NAME --reason TEXT`.
func rejectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return reviewCmd(ctx, workflows.RejectUpdate, args, stdout, stderr)
}

// reviewCmd sends an approve or reject update to a run waiting for
// approval, waits until the workflow has recorded it, and prints the
// outcome. The workflow's validator refuses a missing reviewer or reason,
// a run that is not waiting, or one already decided; its reason is printed.
func reviewCmd(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(kind)
	cfg := config.FromEnv(fs)
	by := fs.String("by", "", "reviewer name (required)")
	comment := fs.String("comment", "", "comment recorded with the decision")
	reason := new(string)
	if kind == workflows.RejectUpdate {
		reason = fs.String("reason", "", "why the plan is rejected (required)")
	}
	asJSON := fs.Bool("json", false, "print the recorded approval as JSON")
	usage := "usage: starter approve RUN_ID --by NAME [--comment TEXT]"
	if kind == workflows.RejectUpdate {
		usage = "usage: starter reject RUN_ID --by NAME --reason TEXT"
	}
	runID, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if runID == "" {
		return errors.New(usage)
	}
	in := workflows.ApprovalInput{By: strings.TrimSpace(*by), Comment: *comment}
	if kind == workflows.RejectUpdate {
		in.Comment = strings.TrimSpace(strings.Join(nonEmpty(*reason, *comment), ": "))
		if strings.TrimSpace(*reason) == "" {
			return errors.New("--reason is required\n" + usage)
		}
	}
	if in.By == "" {
		return errors.New("--by is required\n" + usage)
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	rec, err := sendReview(ctx, c, runID, kind, in)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	fmt.Fprintln(stdout, approvalLine(rec))
	return nil
}

// sendReview sends the update and waits for its result.
func sendReview(ctx context.Context, c client.Client, runID, kind string, in workflows.ApprovalInput) (workflows.ApprovalRecord, error) {
	var rec workflows.ApprovalRecord
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: runID, UpdateName: kind, Args: []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return rec, fmt.Errorf("%s %s: %w", kind, runID, err)
	}
	if err := h.Get(ctx, &rec); err != nil {
		return rec, fmt.Errorf("%s %s: %w", kind, runID, err)
	}
	return rec, nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// approvalLine says what became of a run's approval.
func approvalLine(a workflows.ApprovalRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %s", a.RunID, a.Status)
	if a.By != "" {
		fmt.Fprintf(&b, " by %s", a.By)
	}
	if !a.At.IsZero() {
		fmt.Fprintf(&b, " at %s", a.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if a.Comment != "" {
		fmt.Fprintf(&b, " (%s)", a.Comment)
	}
	switch a.Status {
	case workflows.ApprovalApproved:
		fmt.Fprintf(&b, "; publishing campaigns/%s/", a.Campaign)
	case workflows.ApprovalRejected, workflows.ApprovalExpired:
		b.WriteString("; nothing published")
	}
	return b.String()
}

// approvalHint is printed once by `run --wait` when the run starts waiting
// for a reviewer.
func approvalHint(p workflows.Progress, runID string) string {
	if p.Stage != workflows.AwaitingApproval {
		return ""
	}
	h := fmt.Sprintf("awaiting approval: starter approve %s --by NAME [--comment TEXT]  (or: starter reject %s --by NAME --reason TEXT)", runID, runID)
	for _, s := range p.Stages {
		if s.Name == workflows.StagePublish && s.Detail != "" && s.Detail != workflows.AwaitingApproval {
			h += "\n  " + s.Detail
		}
	}
	return h
}
