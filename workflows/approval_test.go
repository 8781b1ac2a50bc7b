package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
)

// update is one approve or reject update sent at a time after the start.
type update struct {
	at   time.Duration
	name string
	in   ApprovalInput
	// rejected is a substring of the validator's error; empty means the
	// update must be accepted and complete.
	rejected string
}

func TestApproval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   ApprovalPolicy
		updates  []update
		status   string // final approval status
		by       string
		publish  bool
		reports  int // WriteReport calls: the review copy, then the published report
		progress string
	}{
		{
			name:   "approved",
			policy: ApprovalPolicy{Required: true},
			updates: []update{
				{at: time.Hour, name: ApproveUpdate, in: ApprovalInput{By: " ana ", Comment: "looks right"}},
			},
			status: ApprovalApproved, by: "ana", publish: true, reports: 2,
		},
		{
			name:   "rejected",
			policy: ApprovalPolicy{Required: true, Deadline: 48 * time.Hour},
			updates: []update{
				{at: 3 * time.Hour, name: RejectUpdate, in: ApprovalInput{By: "bob", Comment: "budget too high"}},
			},
			status: ApprovalRejected, by: "bob", publish: false, reports: 1,
		},
		{
			name:    "deadline expires",
			policy:  ApprovalPolicy{Required: true, Deadline: 48 * time.Hour},
			updates: []update{{at: 47 * time.Hour, name: ApproveUpdate, in: ApprovalInput{}, rejected: "reviewer name (by) is required"}},
			status:  ApprovalExpired, publish: false, reports: 1,
		},
		{
			name:   "invalid updates rejected by the validator",
			policy: ApprovalPolicy{Required: true, Deadline: 48 * time.Hour},
			updates: []update{
				{at: time.Hour, name: ApproveUpdate, in: ApprovalInput{By: "  "}, rejected: "reviewer name (by) is required"},
				{at: 2 * time.Hour, name: RejectUpdate, in: ApprovalInput{By: "bob"}, rejected: "a rejection needs a reason"},
				{at: 3 * time.Hour, name: ApproveUpdate, in: ApprovalInput{By: "cy"}},
			},
			status: ApprovalApproved, by: "cy", publish: true, reports: 2,
		},
		{
			name:    "not required",
			updates: []update{{at: time.Nanosecond, name: ApproveUpdate, in: ApprovalInput{By: "ana"}, rejected: "does not require approval"}},
			publish: true, reports: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			in := testInput()
			in.Approval = tc.policy
			var progress []string
			answered := 0
			for i, u := range tc.updates {
				env.RegisterDelayedCallback(func() {
					if p, err := env.QueryWorkflow(ProgressQuery); err == nil {
						var pr Progress
						if err := p.Get(&pr); err == nil {
							progress = append(progress, pr.Stage)
						}
					}
					env.UpdateWorkflow(u.name, string(rune('a'+i)), &testsuite.TestUpdateCallback{
						OnAccept: func() {
							answered++
							if u.rejected != "" {
								t.Errorf("update %d accepted, want rejected with %q", i, u.rejected)
							}
						},
						OnReject: func(err error) {
							answered++
							if u.rejected == "" || !strings.Contains(err.Error(), u.rejected) {
								t.Errorf("update %d rejected: %v; want %q", i, err, u.rejected)
							}
						},
						OnComplete: func(v any, err error) {
							if err != nil {
								t.Errorf("update %d: %v", i, err)
							}
							if rec, ok := v.(ApprovalRecord); ok && rec.Status != tc.status {
								t.Errorf("update %d result %+v", i, rec)
							}
						},
					}, u.in)
				}, u.at)
			}
			env.ExecuteWorkflow(Regenerate, in)
			if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
				t.Fatalf("workflow: completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
			}
			if answered != len(tc.updates) {
				t.Errorf("%d of %d updates answered", answered, len(tc.updates))
			}
			var sum Summary
			if err := env.GetWorkflowResult(&sum); err != nil {
				t.Fatal(err)
			}
			publishes := 0
			if tc.publish {
				publishes = 1
			}
			env.AssertNumberOfCalls(t, "Publish", publishes)
			env.AssertNumberOfCalls(t, "WriteSummary", publishes)
			env.AssertNumberOfCalls(t, "WriteReport", tc.reports)
			if !tc.policy.Required {
				if sum.Approval != nil {
					t.Errorf("approval %+v without a policy", sum.Approval)
				}
				return
			}
			a := sum.Approval
			if a == nil || a.Status != tc.status || a.By != tc.by || a.At.IsZero() || a.Review != "s3://b/runs/t-1/review/report.html" {
				t.Fatalf("approval = %+v, want %s by %q", a, tc.status, tc.by)
			}
			if tc.policy.Deadline > 0 && !a.Deadline.Equal(a.At.Add(-time.Duration(a.Waited*float64(time.Second))).Add(tc.policy.Deadline)) {
				t.Errorf("deadline %v, asked %v before %v", a.Deadline, a.Waited, a.At)
			}
			if tc.status == ApprovalExpired && a.Waited != tc.policy.Deadline.Seconds() {
				t.Errorf("expired after %vs, want %v", a.Waited, tc.policy.Deadline.Seconds())
			}
			if len(progress) == 0 || progress[0] != AwaitingApproval {
				t.Errorf("progress stage while waiting = %q, want %q", progress[0], AwaitingApproval)
			}
			if tc.publish != (sum.Plan.Parquet != "") {
				t.Errorf("published = %v, want %v", sum.Plan.Parquet != "", tc.publish)
			}
			if tc.publish && sum.Plan.Report != "s3://b/campaigns/t-1/report.html" {
				t.Errorf("report = %q", sum.Plan.Report)
			}
		})
	}
}
