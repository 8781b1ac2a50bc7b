package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/live"
	"github.com/promoflow/promoflow/internal/strategy"
)

// Live campaign messages and stages.
const (
	// LiveDecideUpdate asks a budget slice for decisions: a batch of
	// live.Request in (1 to MaxLiveBatch, all of the slice), the
	// live.Decision of each out, in order.
	LiveDecideUpdate = "decide"
	// LiveStopSignal stops a live campaign (and, sent by the campaign, its
	// slices): no decision is taken after it, the log is written whole.
	LiveStopSignal = "stop"
	// LiveStatusQuery returns a live campaign's LiveInfo, or a slice's
	// live.Status.
	LiveStatusQuery = "live-status"

	StageLiveResolve = "resolve"
	StageLive        = "live"
	StageLivePublish = "publish"
	StageLiveDone    = "done"
)

// Live campaign defaults.
const (
	DefaultLiveSlices        = 4
	DefaultLiveFlushEvery    = 200
	DefaultLiveFlushInterval = 2 * time.Second
	// DefaultLiveMaxHistory is the history length (events) at which a
	// slice continues as new: about 1,500 decisions a run.
	DefaultLiveMaxHistory = 10000
	// LiveGrace is how long a live campaign keeps answering after its
	// window ends (with no offer) before it stops by itself.
	LiveGrace = time.Minute
	// MaxLiveBatch bounds the requests of one decide update: a client
	// batches the requests that arrive while its previous update to the
	// slice is in flight (starter's liveClient), so one workflow task, one
	// local activity and one update carry many decisions under load.
	MaxLiveBatch = 64
)

// LiveCampaignID is the workflow ID of a live campaign.
func LiveCampaignID(campaign string) string { return "live-" + campaign }

// LiveSliceID is the workflow ID of a live campaign's budget slice i.
func LiveSliceID(campaign string, i int) string {
	return fmt.Sprintf("live-%s-slice-%03d", campaign, i)
}

// LiveInput configures a live campaign.
type LiveInput struct {
	Campaign string
	Spec     *campaign.Template
	Catalog  *campaign.Catalog
	RunID    string  // pin the run whose models score; "" for the newest published run of the template
	Budget   float64 // overrides Spec.Budget when > 0; a live campaign needs a budget
	// Start and End are the window: zero Start is when the campaign starts,
	// zero End is Start plus the template's window_days.
	Start, End time.Time
	Slices     int     // budget slices (workflows); DefaultLiveSlices when 0
	Burst      float64 // live.Pacing.Burst
	// FlushEvery, FlushInterval: a slice writes its decision log when this
	// many decisions wait, or at this interval.
	FlushEvery    int
	FlushInterval time.Duration
	MaxHistory    int  // a slice continues as new past this many events
	Evaluate      bool // start the campaign's evaluation once it stops
}

// LiveInfo is what the status query of a live campaign returns.
type LiveInfo struct {
	Campaign string    `json:"campaign"`
	Template string    `json:"template"`
	RunID    string    `json:"run_id"` // the run whose models score
	Users    int64     `json:"users"`  // users of that run
	Budget   float64   `json:"budget"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Slices   []string  `json:"slices"` // the slices' workflow IDs; user u goes to live.SliceOf(u, len(Slices))
	Stage    string    `json:"stage"`
}

// LiveResult is a stopped live campaign's result.
type LiveResult struct {
	LiveInfo
	Total      live.Status                  `json:"total"`
	Published  activities.LivePublishOutput `json:"published"`
	Evaluation string                       `json:"evaluation,omitempty"`
}

// LiveCampaign runs a live campaign: it resolves the newest published
// models of the template, starts one LiveSlice child per budget slice
// (each owns Budget/Slices), waits for the stop signal or the window's
// end, stops the slices, publishes the plan from the decision log (so the
// evaluation reads it like a batch plan) and, with Evaluate, starts the
// evaluation.
func LiveCampaign(ctx workflow.Context, in LiveInput) (LiveResult, error) {
	var res LiveResult
	if in.Campaign == "" || in.Spec == nil || in.Catalog == nil {
		return res, temporal.NewNonRetryableApplicationError("live: campaign, template and catalog are required", activities.BadInputType, nil)
	}
	spec := in.Spec
	budget := spec.Budget
	if in.Budget > 0 {
		budget = in.Budget
	}
	if budget <= 0 {
		return res, temporal.NewNonRetryableApplicationError("live: a live campaign needs a budget (template budget or --budget)", activities.BadInputType, nil)
	}
	if in.Slices <= 0 {
		in.Slices = DefaultLiveSlices
	}
	start := in.Start
	if start.IsZero() {
		start = workflow.Now(ctx).UTC()
	}
	end := in.End
	if end.IsZero() {
		end = start.AddDate(0, 0, max(spec.WindowDays, 1))
	}
	if !end.After(start) {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("live: window %v to %v is empty", start, end), activities.BadInputType, nil)
	}
	info := &res.LiveInfo
	*info = LiveInfo{Campaign: in.Campaign, Template: spec.Name, Budget: budget, Start: start, End: end, Stage: StageLiveResolve}
	if err := workflow.SetQueryHandler(ctx, LiveStatusQuery, func() (LiveInfo, error) { return *info, nil }); err != nil {
		return res, err
	}
	stage := func(s string) error {
		info.Stage = s
		return workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(s))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		CampaignTemplateKey.ValueSet(spec.Name), CampaignIDKey.ValueSet(in.Campaign), StageKey.ValueSet(StageLiveResolve)); err != nil {
		return res, err
	}
	var m activities.LiveModel
	actx := withSummary(withActivityOptions(ctx), "newest published models of "+spec.Name)
	if err := workflow.ExecuteActivity(actx, a.LiveResolve, activities.LiveResolveInput{
		Campaign: in.Campaign, Template: spec.Name, RunID: in.RunID, Start: start, SuppressDays: spec.SuppressDays,
	}).Get(ctx, &m); err != nil {
		return res, fmt.Errorf("live %s: %w", in.Campaign, err)
	}
	info.RunID, info.Users = m.RunID, m.Users
	var offers []campaign.Offer
	for _, o := range in.Catalog.Resolve(spec.Offers) {
		if !slices.Contains(m.Retired, o.ID) {
			offers = append(offers, o)
		}
	}
	p := strategy.Params{
		Template: spec.Name, Objective: spec.Objective, Margin: spec.Margin, Offers: offers, Audience: spec.Audience,
		ControlShare: spec.ControlShare, ExploreShare: spec.ExploreShare, ExploreWeights: m.Explore,
		Salt: in.Campaign, DefaultBasket: m.DefaultBasket, Campaign: in.Campaign, Start: start, End: end,
	}
	pace := live.Pacing{Start: start, End: end, Burst: in.Burst}
	futures := make([]workflow.ChildWorkflowFuture, in.Slices)
	for i := range in.Slices {
		id := LiveSliceID(in.Campaign, i)
		info.Slices = append(info.Slices, id)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:    id,
			StaticSummary: fmt.Sprintf("budget slice %d of %d of live campaign %s: %.2f", i, in.Slices, in.Campaign, budget/float64(in.Slices)),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				CampaignTemplateKey.ValueSet(spec.Name), CampaignIDKey.ValueSet(in.Campaign), StageKey.ValueSet(StageLive)),
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, LiveSlice, LiveSliceInput{
			Campaign: in.Campaign, Slice: i, Slices: in.Slices, Params: p, Model: m, Pacing: pace,
			State: live.Slice{Budget: budget / float64(in.Slices)}, FlushEvery: in.FlushEvery,
			FlushInterval: in.FlushInterval, MaxHistory: in.MaxHistory,
		})
	}
	for i, f := range futures {
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return res, fmt.Errorf("live %s: slice %d: %w", in.Campaign, i, err)
		}
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{
		"run_id": m.RunID, "users": m.Users, "budget": budget, "slices": in.Slices,
		"window": start.Format(time.RFC3339) + " to " + end.Format(time.RFC3339),
	}); err != nil {
		return res, err
	}
	if err := stage(StageLive); err != nil {
		return res, err
	}

	// Live until stopped, or LiveGrace after the window ends (requests
	// after the end are answered "outside the campaign window").
	tctx, cancel := workflow.WithCancel(ctx)
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimerWithOptions(tctx, end.Add(LiveGrace).Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: "window ends " + end.Format(time.RFC3339) + ", stop after the grace"}), func(workflow.Future) {})
	sel.AddReceive(workflow.GetSignalChannel(ctx, LiveStopSignal), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	cancel()

	if err := stage(StageLivePublish); err != nil {
		return res, err
	}
	for _, id := range info.Slices {
		// The slice's current run, whichever it is after continue-as-new.
		if err := workflow.SignalExternalWorkflow(ctx, id, "", LiveStopSignal, nil).Get(ctx, nil); err != nil {
			return res, fmt.Errorf("live %s: stop %s: %w", in.Campaign, id, err)
		}
	}
	statuses := make([]live.Status, in.Slices)
	for i, f := range futures {
		var r LiveSliceResult
		if err := f.Get(ctx, &r); err != nil {
			return res, fmt.Errorf("live %s: slice %d: %w", in.Campaign, i, err)
		}
		statuses[i] = r.Status
	}
	res.Total = live.Total(statuses)
	pctx := withSummary(withActivityOptions(ctx), fmt.Sprintf("plan of %s from %d logged decisions", in.Campaign, res.Total.Logged))
	if err := workflow.ExecuteActivity(pctx, a.LivePublish, activities.LivePublishInput{
		Campaign: in.Campaign, Template: spec.Name, RunID: m.RunID, Start: start, End: end, Budget: budget, Slices: in.Slices,
	}).Get(ctx, &res.Published); err != nil {
		return res, fmt.Errorf("live %s: publish: %w", in.Campaign, err)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, BudgetUsedKey.ValueSet(res.Total.Spent)); err != nil {
		return res, err
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{
		"decisions": res.Total.Decisions, "offers": res.Total.Offers, "control": res.Total.Controls,
		"budget_used": res.Total.Spent, "expected_incremental_revenue": res.Total.Revenue, "plan": res.Published.Plan,
	}); err != nil {
		return res, err
	}
	if in.Evaluate {
		id := EvaluationID(in.Campaign)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: id, ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
			StaticSummary: fmt.Sprintf("evaluate live campaign %s when its window ends (%s)", in.Campaign, end.Format(time.DateOnly)),
		})
		f := workflow.ExecuteChildWorkflow(cctx, Evaluate, EvaluateInput{
			Campaign: in.Campaign, Template: spec.Name, Start: start, End: end,
			Catalog: in.Catalog.Resolve(spec.Offers), Margin: spec.Margin,
		})
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return res, err
		}
		res.Evaluation = id
	}
	return res, stage(StageLiveDone)
}

// LiveSliceInput is a budget slice's configuration and, across
// continue-as-new, its state.
type LiveSliceInput struct {
	Campaign      string
	Slice, Slices int
	Params        strategy.Params
	Model         activities.LiveModel
	Pacing        live.Pacing
	State         live.Slice
	Parts         int64 // decision log parts written so far
	Logged        int64 // decisions written so far
	Runs          int   // runs before this one
	FlushEvery    int
	FlushInterval time.Duration
	MaxHistory    int
}

// LiveSliceResult is a stopped slice's accounting.
type LiveSliceResult struct {
	Status live.Status
}

// LiveSlice owns one budget slice of a live campaign. Each decide update
// (a batch of requests) scores its users in one local activity (LiveScore:
// models and users cached in the worker) and decides each with the slice's
// state (live.Slice.Decide), in order;
// handlers run one at a time between their awaits, so the accounting is
// never raced and the budget never exceeded. Decisions are written to the
// bucket in numbered parts (LiveFlush) as they accumulate; before
// continuing as new, the slice waits until every handler has finished and
// every decision is written, so none is lost or written twice across runs.
func LiveSlice(ctx workflow.Context, in LiveSliceInput) (LiveSliceResult, error) {
	if in.FlushEvery <= 0 {
		in.FlushEvery = DefaultLiveFlushEvery
	}
	if in.FlushInterval <= 0 {
		in.FlushInterval = DefaultLiveFlushInterval
	}
	if in.MaxHistory <= 0 {
		in.MaxHistory = DefaultLiveMaxHistory
	}
	in.Runs++
	st := &in.State
	var pending []live.Decision
	stopping := false
	status := func() live.Status {
		s := st.Status(in.Slice, in.Pacing, workflow.Now(ctx))
		s.Logged, s.Runs = in.Logged, in.Runs
		return s
	}
	if err := workflow.SetQueryHandler(ctx, LiveStatusQuery, func() (live.Status, error) { return status(), nil }); err != nil {
		return LiveSliceResult{}, err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, LiveDecideUpdate,
		func(ctx workflow.Context, reqs []live.Request) ([]live.Decision, error) {
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
				StartToCloseTimeout: 10 * time.Second,
				RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.BadInputType}},
			})
			var us []strategy.Scored
			if err := workflow.ExecuteLocalActivity(lctx, a.LiveScore, activities.LiveScoreInput{
				Model: in.Model, Params: in.Params, Requests: reqs, At: workflow.Now(ctx),
			}).Get(ctx, &us); err != nil {
				return nil, err
			}
			if len(us) != len(reqs) {
				return nil, fmt.Errorf("slice %d: %d users scored for %d requests", in.Slice, len(us), len(reqs))
			}
			// No await from here to the return: the batch is decided in
			// order, against the budget as it stands.
			now := workflow.Now(ctx)
			ds := make([]live.Decision, len(reqs))
			for i, req := range reqs {
				ds[i] = st.Decide(&in.Params, in.Pacing, us[i], req, now)
				ds[i].Slice = in.Slice
			}
			pending = append(pending, ds...)
			return ds, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(reqs []live.Request) error {
			if stopping {
				return errors.New("live campaign " + in.Campaign + " is stopped")
			}
			if len(reqs) == 0 || len(reqs) > MaxLiveBatch {
				return fmt.Errorf("a decide update carries 1 to %d requests, not %d", MaxLiveBatch, len(reqs))
			}
			for _, req := range reqs {
				if err := req.Validate(); err != nil {
					return err
				}
				if s := live.SliceOf(req.UserID, in.Slices); s != in.Slice {
					return fmt.Errorf("user %s belongs to slice %d, not %d", req.UserID, s, in.Slice)
				}
			}
			return nil
		}})
	if err != nil {
		return LiveSliceResult{}, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		workflow.GetSignalChannel(ctx, LiveStopSignal).Receive(ctx, nil)
		stopping = true
	})
	actx := withActivityOptions(ctx)
	flush := func() error {
		batch := pending
		pending = nil
		key := layout.LiveDecisionPart(in.Campaign, in.Slice, in.Parts)
		in.Parts++
		var n int
		fctx := withSummary(actx, fmt.Sprintf("log %d decisions of slice %d", len(batch), in.Slice))
		if err := workflow.ExecuteActivity(fctx, a.LiveFlush, activities.LiveFlushInput{Key: key, Decisions: batch}).Get(ctx, &n); err != nil {
			return fmt.Errorf("slice %d: log: %w", in.Slice, err)
		}
		in.Logged += int64(n)
		return nil
	}
	for {
		// Idle, a slice waits without a timer (an idle campaign adds
		// nothing to its history); with decisions waiting, at most
		// FlushInterval before they are written.
		if err := workflow.Await(ctx, func() bool { return stopping || len(pending) > 0 }); err != nil {
			return LiveSliceResult{}, err
		}
		if _, err := workflow.AwaitWithTimeout(ctx, in.FlushInterval, func() bool { return stopping || len(pending) >= in.FlushEvery }); err != nil {
			return LiveSliceResult{}, err
		}
		if len(pending) > 0 {
			if err := flush(); err != nil {
				return LiveSliceResult{}, err
			}
		}
		if !stopping && workflow.GetInfo(ctx).GetCurrentHistoryLength() < in.MaxHistory {
			continue
		}
		// Drain: every accepted decision finished and written.
		for {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return LiveSliceResult{}, err
			}
			if len(pending) == 0 {
				break
			}
			if err := flush(); err != nil {
				return LiveSliceResult{}, err
			}
		}
		if stopping {
			return LiveSliceResult{Status: status()}, nil
		}
		return LiveSliceResult{}, workflow.NewContinueAsNewError(ctx, LiveSlice, in)
	}
}
