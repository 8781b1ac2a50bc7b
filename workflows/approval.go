package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/layout"
)

// Update names of the approval; both take an ApprovalInput and return an
// ApprovalRecord.
const (
	ApproveUpdate = "approve"
	RejectUpdate  = "reject"
)

// AwaitingApproval is Progress.Stage while a run waits for a reviewer.
const AwaitingApproval = "awaiting approval"

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
)

// ApprovalPolicy says whether a run waits for a reviewer before publishing,
// and for how long (campaign templates' `approval:`).
type ApprovalPolicy struct {
	Required bool
	Deadline time.Duration // 0: wait forever
}

// ApprovalInput is a reviewer's approve or reject update. Comment is the
// reason of a rejection, and required for one.
type ApprovalInput struct {
	By      string `json:"by"`
	Comment string `json:"comment,omitempty"`
}

// ApprovalRecord is the approval as the summary and the update's result
// record it.
type ApprovalRecord struct {
	Status   string    `json:"status"` // pending, approved, rejected, expired
	By       string    `json:"by,omitempty"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at,omitzero"`              // when decided (workflow time)
	Deadline time.Time `json:"deadline,omitzero"`        // when it expires, if it does
	Review   string    `json:"review_report,omitempty"`  // the report to review before deciding
	RunID    string    `json:"run_id,omitempty"`         // the run decided on
	Campaign string    `json:"campaign,omitempty"`       // where an approved plan is published
	Waited   float64   `json:"waited_seconds,omitempty"` // from asking to deciding
	// Reason, when set, is why the reviewer is asked beyond the template's
	// approval: the campaign is not measurable (strategy.Measurability).
	Reason string `json:"reason,omitempty"`
}

// validateApproval checks an update before it is accepted into history: a reviewer
// must be named, a rejection must say why, and the run must be waiting.
// Rejected updates leave no trace in the history.
func (r *run) validateApproval(kind string, in ApprovalInput) error {
	var errs []error
	if strings.TrimSpace(in.By) == "" {
		errs = append(errs, errors.New("reviewer name (by) is required"))
	}
	if kind == RejectUpdate && strings.TrimSpace(in.Comment) == "" {
		errs = append(errs, errors.New("a rejection needs a reason"))
	}
	switch {
	case !r.in.Approval.Required:
		errs = append(errs, fmt.Errorf("run %s does not require approval", r.in.RunID))
	case r.approval == nil:
		errs = append(errs, fmt.Errorf("run %s is not awaiting approval yet: the plan is not decided", r.in.RunID))
	case r.approval.Status != ApprovalPending:
		errs = append(errs, fmt.Errorf("run %s is already %s", r.in.RunID, r.approval.Status))
	}
	return errors.Join(errs...)
}

// setApprovalHandlers registers the approve and reject updates. Handlers
// exist for the whole run so an early or late update gets a clear
// rejection from the validator rather than "unknown update".
func (r *run) setApprovalHandlers(ctx workflow.Context) error {
	for _, kind := range []string{ApproveUpdate, RejectUpdate} {
		status := ApprovalApproved
		if kind == RejectUpdate {
			status = ApprovalRejected
		}
		err := workflow.SetUpdateHandlerWithOptions(ctx, kind,
			func(ctx workflow.Context, in ApprovalInput) (ApprovalRecord, error) {
				now := workflow.Now(ctx)
				r.approval.Status = status
				r.approval.By = strings.TrimSpace(in.By)
				r.approval.Comment = in.Comment
				r.approval.At = now
				r.approval.Waited = now.Sub(r.approvalAsked).Seconds()
				return *r.approval, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in ApprovalInput) error {
				return r.validateApproval(kind, in)
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// awaitApproval writes a review copy of the report and waits for a
// reviewer's update or the deadline. It reports whether to publish; a
// rejection or an expired deadline ends the run normally, with the outcome
// in the summary and nothing published.
func (r *run) awaitApproval(ctx workflow.Context) (publish bool, err error) {
	if !r.in.Approval.Required {
		return true, nil
	}
	r.approvalAsked = workflow.Now(ctx)
	r.approval = &ApprovalRecord{Status: ApprovalPending, RunID: r.in.RunID, Campaign: r.in.Campaign}
	if s := r.sum.Strategy; s != nil && s.Measurability != nil && !s.Measurability.Measurable {
		r.approval.Reason = s.Measurability.Detail
	}
	if d := r.in.Approval.Deadline; d > 0 {
		r.approval.Deadline = r.approvalAsked.Add(d)
	}
	review, err := r.writeReport(ctx, layout.Run(r.in.RunID)+"review/report.html")
	if err != nil {
		return false, fmt.Errorf("review report: %w", err)
	}
	r.approval.Review = review
	r.sum.Approval = r.approval
	r.track.p.Stage = AwaitingApproval
	r.track.detail(StagePublish, AwaitingApproval+"; review "+review)
	decided := func() bool { return r.approval.Status != ApprovalPending }
	if d := r.in.Approval.Deadline; d > 0 {
		ok, err := workflow.AwaitWithTimeout(ctx, d, decided)
		if err != nil {
			return false, err
		}
		if !ok {
			now := workflow.Now(ctx)
			r.approval.Status, r.approval.At = ApprovalExpired, now
			r.approval.Waited = now.Sub(r.approvalAsked).Seconds()
		}
	} else if err := workflow.Await(ctx, decided); err != nil {
		return false, err
	}
	r.track.detail(StagePublish, "")
	workflow.GetLogger(ctx).Info("approval", "status", r.approval.Status, "by", r.approval.By)
	return r.approval.Status == ApprovalApproved, nil
}
