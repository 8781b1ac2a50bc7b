package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/live"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

// liveUsage is `starter live`'s usage: its subcommands.
const liveUsage = `usage: starter live <start|decide|stop|status|bench> [flags]

Live campaigns answer event-triggered decide requests within a paced budget
(docs/ARCHITECTURE.md, "Live decisions"):
  start  --template T [--budget B] [--window 24h] [--slices N] [--campaign C]   start a live campaign on the template's newest published models
  decide --campaign C --user U --event E                                       one decision (events: cart_abandoned, search_no_purchase, lapsed)
  stop   --campaign C                                                          stop it: the plan is published from the decision log
  status --campaign C                                                          decisions, spend, pacing, per slice
  bench  --rate R --duration D --clients C [--campaign C]                     drive a live campaign (one is started if none is given)
"starter live <subcommand> -h" lists a subcommand's flags.
`

// liveCmd is `starter live <subcommand>`.
func liveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(liveUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		return &helpRequest{fs: newFlagSet("live")}
	case "start":
		return liveStartCmd(ctx, rest, stdout, stderr)
	case "decide":
		return liveDecideCmd(ctx, rest, stdout)
	case "stop":
		return liveStopCmd(ctx, rest, stdout)
	case "status":
		return liveStatusCmd(ctx, rest, stdout)
	case "bench":
		return liveBenchCmd(ctx, rest, stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", sub, liveUsage)
}

// liveStartFlags are the flags that define a live campaign (start, and
// bench when it starts one).
type liveStartFlags struct {
	cf       campaignFlags
	campaign string
	runID    string
	window   time.Duration
	slices   int
	burst    float64
	evaluate bool
	maxHist  int
}

func (l *liveStartFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.cf.template, "template", workflows.DefaultTemplate, "campaign template (deploy/templates/NAME.yaml)")
	fs.StringVar(&l.cf.templatesDir, "templates-dir", "", "read templates from this directory instead of the embedded ones")
	fs.StringVar(&l.cf.offers, "offers", "", "offer catalog file instead of the embedded deploy/offers.yaml")
	fs.Var(&l.cf.budget, "budget", "the live budget (default: the template's)")
	fs.Var(&l.cf.controlShare, "control-share", "share of users held out (default: the template's)")
	fs.Var(&l.cf.explore, "explore-share", "share of treatable users given a random offer (default: the template's)")
	fs.StringVar(&l.campaign, "campaign", "", "campaign id (default <template>-live-<time>)")
	fs.StringVar(&l.runID, "run", "", "score with this run's models (default: the template's newest published run)")
	fs.DurationVar(&l.window, "window", 0, "campaign window from now; the budget is paced over it (default: the template's window_days)")
	fs.IntVar(&l.slices, "slices", workflows.DefaultLiveSlices, "budget slices: workflows deciding in parallel, each with budget/slices")
	fs.Float64Var(&l.burst, "burst", live.DefaultBurst, "share of the budget available at once; the rest accrues over the window")
	fs.BoolVar(&l.evaluate, "evaluate", false, "start the campaign's evaluation when it stops")
	fs.IntVar(&l.maxHist, "max-history", workflows.DefaultLiveMaxHistory, "history events after which a slice continues as new")
}

// input builds the campaign's workflow input.
func (l *liveStartFlags) input(now time.Time) (workflows.LiveInput, error) {
	spec, cat, err := l.cf.load()
	if err != nil {
		return workflows.LiveInput{}, err
	}
	if l.slices < 1 {
		return workflows.LiveInput{}, fmt.Errorf("--slices %d: want at least 1", l.slices)
	}
	if l.campaign == "" {
		l.campaign = fmt.Sprintf("%s-live-%s", spec.Name, now.UTC().Format("20060102-150405"))
	}
	in := workflows.LiveInput{
		Campaign: l.campaign, Spec: spec, Catalog: cat, RunID: l.runID, Slices: l.slices, Burst: l.burst, Evaluate: l.evaluate, MaxHistory: l.maxHist,
	}
	if l.window > 0 {
		in.Start = now.UTC()
		in.End = in.Start.Add(l.window)
	}
	return in, nil
}

// startLive starts a live campaign and waits until its slices take
// decisions.
func startLive(ctx context.Context, c client.Client, cfg *config.Config, in workflows.LiveInput, stderr io.Writer) (workflows.LiveInfo, string, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.LiveCampaignID(in.Campaign), TaskQueue: cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            "live campaign " + in.Campaign,
	}, workflows.LiveCampaign, in)
	if err != nil {
		return workflows.LiveInfo{}, "", fmt.Errorf("start live campaign %s: %w", in.Campaign, err)
	}
	ui := announce(cfg, run, stderr)
	for {
		info, err := liveInfo(ctx, c, in.Campaign)
		if err == nil && info.Stage != workflows.StageLiveResolve {
			return info, ui, nil
		}
		// Not live yet; if it has ended (failed), its result says why.
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			var res workflows.LiveResult
			if err := run.Get(ctx, &res); err != nil {
				return workflows.LiveInfo{}, ui, fmt.Errorf("live campaign %s: %s", in.Campaign, describe(err))
			}
			return res.LiveInfo, ui, nil
		}
		select {
		case <-ctx.Done():
			return workflows.LiveInfo{}, ui, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// liveStartCmd is `starter live start`.
func liveStartCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("live start")
	cfg := config.FromEnv(fs)
	var l liveStartFlags
	l.register(fs)
	asJSON := fs.Bool("json", false, "print the campaign as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	in, err := l.input(time.Now())
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	info, ui, err := startLive(ctx, c, cfg, in, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, struct {
			workflows.LiveInfo
			WorkflowID string `json:"workflow_id"`
			UIURL      string `json:"ui_url"`
		}{info, workflows.LiveCampaignID(info.Campaign), ui})
	}
	fmt.Fprintf(stdout, "live campaign %s: template %s, run %s (%d users), budget %.2f over %s to %s, %d slices\nui: %s\n",
		info.Campaign, info.Template, info.RunID, info.Users, info.Budget, info.Start.Format(time.RFC3339), info.End.Format(time.RFC3339), len(info.Slices), ui)
	return nil
}

// liveInfo queries a live campaign's configuration and stage.
func liveInfo(ctx context.Context, c client.Client, campaign string) (workflows.LiveInfo, error) {
	var info workflows.LiveInfo
	v, err := c.QueryWorkflow(ctx, workflows.LiveCampaignID(campaign), "", workflows.LiveStatusQuery)
	if err != nil {
		return info, fmt.Errorf("live campaign %s: %w", campaign, err)
	}
	return info, v.Get(&info)
}

// liveDecide sends one decide update with one request to the user's slice
// and waits for the decision; id, when not empty, makes a repeated request
// the same update (Temporal answers it once).
func liveDecide(ctx context.Context, c client.Client, info workflows.LiveInfo, req live.Request, id string) (live.Decision, error) {
	if len(info.Slices) == 0 {
		return live.Decision{}, fmt.Errorf("live campaign %s has no slices (stage %s)", info.Campaign, info.Stage)
	}
	ds, err := sendDecide(ctx, c, info.Slices[live.SliceOf(req.UserID, len(info.Slices))], []live.Request{req}, id)
	if err != nil {
		return live.Decision{}, err
	}
	return ds[0], nil
}

// sendDecide sends one decide update (a batch of requests of one slice)
// and waits for its decisions.
func sendDecide(ctx context.Context, c client.Client, slice string, reqs []live.Request, id string) ([]live.Decision, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: slice, UpdateName: workflows.LiveDecideUpdate,
		UpdateID: id, Args: []any{reqs}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return nil, err
	}
	var ds []live.Decision
	if err := h.Get(ctx, &ds); err != nil {
		return nil, err
	}
	if len(ds) != len(reqs) {
		return nil, fmt.Errorf("slice %s answered %d of %d requests", slice, len(ds), len(reqs))
	}
	return ds, nil
}

// liveClient is a front door to a live campaign: callers' requests go to
// their user's slice, and each slice has a few senders, each sending one
// decide update at a time with every request that waits for the slice (up
// to workflows.MaxLiveBatch). Under light load an update carries one
// request; under heavy load the requests that arrive while updates are in
// flight travel together, so a slice's workflow task, local activity and
// update serve many decisions (docs/PERFORMANCE.md, "Live decisions").
type liveClient struct {
	queues []chan liveCall
	wg     sync.WaitGroup
}

type liveCall struct {
	req  live.Request
	done chan liveAnswer
}

type liveAnswer struct {
	d   live.Decision
	err error
}

// newLiveClient starts senders senders per slice, spread over the
// connections conns; timeout bounds each update. Close stops them.
func newLiveClient(conns []client.Client, info workflows.LiveInfo, senders int, timeout time.Duration) *liveClient {
	lc := &liveClient{queues: make([]chan liveCall, len(info.Slices))}
	prefix := fmt.Sprintf("%s-%d", info.Campaign, time.Now().UnixNano())
	var n atomic.Int64
	for i, slice := range info.Slices {
		q := make(chan liveCall, 4*workflows.MaxLiveBatch)
		lc.queues[i] = q
		for k := range senders {
			c := conns[(i*senders+k)%len(conns)]
			lc.wg.Add(1)
			go func() {
				defer lc.wg.Done()
				for call := range q {
					batch := []liveCall{call}
				more:
					for len(batch) < workflows.MaxLiveBatch {
						select {
						case next, ok := <-q:
							if !ok {
								break more
							}
							batch = append(batch, next)
						default:
							break more
						}
					}
					reqs := make([]live.Request, len(batch))
					for j, b := range batch {
						reqs[j] = b.req
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					ds, err := sendDecide(ctx, c, slice, reqs, fmt.Sprintf("%s-%d", prefix, n.Add(1)))
					cancel()
					for j, b := range batch {
						if err != nil {
							b.done <- liveAnswer{err: err}
						} else {
							b.done <- liveAnswer{d: ds[j]}
						}
					}
				}
			}()
		}
	}
	return lc
}

// Decide asks for one user's decision and waits for it.
func (lc *liveClient) Decide(ctx context.Context, req live.Request) (live.Decision, error) {
	if err := req.Validate(); err != nil {
		return live.Decision{}, err
	}
	done := make(chan liveAnswer, 1)
	select {
	case lc.queues[live.SliceOf(req.UserID, len(lc.queues))] <- liveCall{req: req, done: done}:
	case <-ctx.Done():
		return live.Decision{}, ctx.Err()
	}
	select {
	case a := <-done:
		return a.d, a.err
	case <-ctx.Done():
		return live.Decision{}, ctx.Err()
	}
}

// Close stops the senders once the queued requests are sent.
func (lc *liveClient) Close() {
	for _, q := range lc.queues {
		close(q)
	}
	lc.wg.Wait()
}

// liveDecideCmd is `starter live decide`.
func liveDecideCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("live decide")
	cfg := config.FromEnv(fs)
	camp := fs.String("campaign", "", "live campaign id (required)")
	user := fs.String("user", "", "user id (required)")
	event := fs.String("event", "", "triggering event: "+strings.Join(live.Events, ", "))
	id := fs.String("request-id", "", "idempotency key: the same id is answered once")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	req := live.Request{UserID: strings.TrimSpace(*user), Event: *event}
	if *camp == "" {
		return errors.New("--campaign is required")
	}
	if err := req.Validate(); err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := liveInfo(ctx, c, *camp)
	if err != nil {
		return err
	}
	d, err := liveDecide(ctx, c, info, req, *id)
	if err != nil {
		return fmt.Errorf("decide %s: %w", req.UserID, err)
	}
	if *asJSON {
		return printJSON(stdout, d)
	}
	if d.Offer == "none" {
		fmt.Fprintf(stdout, "%s: no offer (%s)\n", d.UserID, d.Reason)
		return nil
	}
	fmt.Fprintf(stdout, "%s: %s on %s, expected cost %.2f (%s; assignment probability %.3f)\n", d.UserID, d.Offer, d.Channel, d.Cost, d.Reason, d.Probability)
	return nil
}

// LiveStatus is `starter live status --json`'s output.
type LiveStatus struct {
	workflows.LiveInfo
	Total  live.Status   `json:"total"`
	Slices []live.Status `json:"slice_status"`
}

// liveStatus queries the campaign and each slice.
func liveStatus(ctx context.Context, c client.Client, campaign string) (LiveStatus, error) {
	info, err := liveInfo(ctx, c, campaign)
	if err != nil {
		return LiveStatus{}, err
	}
	out := LiveStatus{LiveInfo: info}
	for _, id := range info.Slices {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.LiveStatusQuery)
		if err != nil {
			return out, fmt.Errorf("slice %s: %w", id, err)
		}
		var s live.Status
		if err := v.Get(&s); err != nil {
			return out, err
		}
		out.Slices = append(out.Slices, s)
	}
	out.Total = live.Total(out.Slices)
	return out, nil
}

// dialLiveCampaign parses the flags of a live subcommand that takes only a
// campaign (required) and --json, and dials Temporal.
func dialLiveCampaign(ctx context.Context, name string, args []string, jsonUsage string) (_ client.Client, campaign string, asJSON bool, _ error) {
	fs := newFlagSet(name)
	cfg := config.FromEnv(fs)
	camp := fs.String("campaign", "", "live campaign id (required)")
	js := fs.Bool("json", false, jsonUsage)
	if err := parseNoArgs(fs, args); err != nil {
		return nil, "", false, err
	}
	if *camp == "" {
		return nil, "", false, errors.New("--campaign is required")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, "", false, err
	}
	return c, *camp, *js, nil
}

// liveStatusCmd is `starter live status`.
func liveStatusCmd(ctx context.Context, args []string, stdout io.Writer) error {
	c, camp, asJSON, err := dialLiveCampaign(ctx, "live status", args, "print the status as JSON")
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := liveStatus(ctx, c, camp)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, st)
	}
	t := st.Total
	fmt.Fprintf(stdout, "live campaign %s (%s): %d decisions, %d offers, %d control, spent %.2f of %.2f (pacing allows %.2f, %.0f%% of the window)\n",
		st.Campaign, st.Stage, t.Decisions, t.Offers, t.Controls, t.Spent, t.Budget, t.Allowed, 100*t.Pace)
	for _, s := range st.Slices {
		fmt.Fprintf(stdout, "  slice %d: %d decisions, spent %.2f of %.2f, lambda %.2f, logged %d, runs %d\n", s.Slice, s.Decisions, s.Spent, s.Budget, s.Lambda, s.Logged, s.Runs)
	}
	return nil
}

// liveStop stops a live campaign and waits for its result.
func liveStop(ctx context.Context, c client.Client, campaign string) (workflows.LiveResult, error) {
	var res workflows.LiveResult
	id := workflows.LiveCampaignID(campaign)
	// A campaign that stopped by itself (its window and grace ended) has
	// its result already.
	var done *serviceerror.NotFound
	if err := c.SignalWorkflow(ctx, id, "", workflows.LiveStopSignal, nil); err != nil && !errors.As(err, &done) {
		return res, fmt.Errorf("stop %s: %w", campaign, err)
	}
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("live campaign %s: %s", campaign, describe(err))
	}
	return res, nil
}

// liveStopCmd is `starter live stop`.
func liveStopCmd(ctx context.Context, args []string, stdout io.Writer) error {
	c, camp, asJSON, err := dialLiveCampaign(ctx, "live stop", args, "print the result as JSON")
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := liveStop(ctx, c, camp)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "live campaign %s stopped: %d decisions, %d offers, spent %.2f of %.2f; plan %s (%d users)\n",
		res.Campaign, res.Total.Decisions, res.Total.Offers, res.Total.Spent, res.Budget, res.Published.Plan, res.Published.Rows)
	if res.Evaluation != "" {
		fmt.Fprintf(stdout, "evaluation: %s\n", res.Evaluation)
	}
	return nil
}

// BenchResult is `starter live bench --json`'s output.
type BenchResult struct {
	Decisions      int64   `json:"decisions"`
	Errors         int64   `json:"errors"`
	P50ms          float64 `json:"p50_ms"`
	P95ms          float64 `json:"p95_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Budget         float64 `json:"budget"`
	BudgetUsed     float64 `json:"budget_used"`
	BudgetExceeded bool    `json:"budget_exceeded"` // in total or in any slice
	Offers         int64   `json:"offers"`
	Rate           float64 `json:"rate"`          // requested per second
	AchievedRate   float64 `json:"achieved_rate"` // answered per second
	DurationS      float64 `json:"duration_s"`
	Clients        int     `json:"clients"`
	Slices         int     `json:"slices"`
	Campaign       string  `json:"campaign"`
	LoadAvg        string  `json:"load_avg,omitempty"` // /proc/loadavg at the end
	Logged         int64   `json:"logged,omitempty"`   // decisions in the published log (campaigns the bench started)
}

// liveBenchCmd is `starter live bench`: an open-loop load at --rate
// requests per second for --duration on users of the campaign's run drawn
// at random. Requests go through one batching front door (liveClient)
// whose senders use --clients Temporal connections in turn; each request
// is sent at its time whatever is in flight, and its latency is measured
// from that time.
func liveBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("live bench")
	cfg := config.FromEnv(fs)
	var l liveStartFlags
	l.register(fs)
	rate := fs.Float64("rate", 100, "requests per second")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	clients := fs.Int("clients", 8, "Temporal client connections the front door's senders use in turn")
	users := fs.Int("users", 0, "draw users among the first N of the run (default: the run's users)")
	seed := fs.Uint64("seed", 1, "seed of the users and events drawn")
	timeout := fs.Duration("timeout", 30*time.Second, "a request's deadline")
	senders := fs.Int("senders", 4, "decide updates in flight per slice; requests arriving meanwhile are batched into the next")
	keep := fs.Bool("keep", false, "leave a campaign the bench started running")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *rate <= 0 || *duration <= 0 || *clients < 1 || *senders < 1 {
		return errors.New("--rate, --duration, --clients and --senders must be positive")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	started := false
	var info workflows.LiveInfo
	if l.campaign != "" {
		if info, err = liveInfo(ctx, c, l.campaign); err != nil {
			return err
		}
	} else {
		if !l.cf.budget.set {
			l.cf.budget = floatFlag{v: 1000, set: true}
		}
		if l.window == 0 {
			l.window = *duration
		}
		in, err := l.input(time.Now())
		if err != nil {
			return err
		}
		in.Campaign += "-bench"
		if info, _, err = startLive(ctx, c, cfg, in, stderr); err != nil {
			return err
		}
		started = true
	}
	n := int(info.Users)
	if *users > 0 {
		n = *users
	}
	if n < 1 {
		return fmt.Errorf("live campaign %s: its run has no users", info.Campaign)
	}
	total := int(math.Round(*rate * duration.Seconds()))
	type job struct {
		i   int
		at  time.Time
		req live.Request
	}
	rng := rand.New(rand.NewPCG(*seed, 17))
	jobs := make([]job, total)
	for i := range jobs {
		jobs[i].i = i
		jobs[i].req = live.Request{UserID: synth.UserID(1 + rng.IntN(n)), Event: live.Events[rng.IntN(len(live.Events))]}
	}
	lat := make([]float64, total)
	var errs, decided, offers int64
	var mu sync.Mutex
	var firstErrs []string
	var wg sync.WaitGroup
	// One batching front door (liveClient) whose senders use the clients
	// (Temporal connections) in turn; each request is sent at its time
	// whatever is still in flight (open loop).
	conns := []client.Client{c}
	for range *clients - 1 {
		ci, err := dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer ci.Close()
		conns = append(conns, ci)
	}
	front := newLiveClient(conns, info, *senders, *timeout)
	send := func(j job) {
		defer wg.Done()
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		d, err := front.Decide(rctx, j.req)
		cancel()
		ms := float64(time.Since(j.at).Microseconds()) / 1000
		mu.Lock()
		defer mu.Unlock()
		lat[j.i] = ms
		if err != nil {
			errs++
			if len(firstErrs) < 5 {
				firstErrs = append(firstErrs, err.Error())
			}
			return
		}
		decided++
		if d.Offer != "none" {
			offers++
		}
	}
	t0 := time.Now()
	for i := range jobs {
		at := t0.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs[i].at = at
		wg.Add(1)
		go send(jobs[i])
	}
	wg.Wait()
	front.Close()
	elapsed := time.Since(t0)
	for _, e := range firstErrs {
		fmt.Fprintln(stderr, "error:", e)
	}
	res := BenchResult{
		Decisions: decided, Errors: errs, Rate: *rate, AchievedRate: float64(decided) / elapsed.Seconds(),
		DurationS: elapsed.Seconds(), Clients: *clients, Slices: len(info.Slices), Campaign: info.Campaign, Offers: offers,
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(math.Ceil(q*float64(len(lat))))-1)]
	}
	res.P50ms, res.P95ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.95), pct(0.99), pct(1)
	st, err := liveStatus(ctx, c, info.Campaign)
	if err != nil {
		return err
	}
	res.Budget, res.BudgetUsed = st.Total.Budget, st.Total.Spent
	res.BudgetExceeded = st.Total.Spent > st.Total.Budget
	for _, s := range st.Slices {
		res.BudgetExceeded = res.BudgetExceeded || s.Spent > s.Budget
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if started && !*keep {
		out, err := liveStop(ctx, c, info.Campaign)
		if err != nil {
			return err
		}
		res.BudgetUsed = out.Total.Spent
		res.Logged = out.Total.Logged
		res.BudgetExceeded = res.BudgetExceeded || out.Total.Spent > out.Budget || out.Published.Cost > out.Budget+1e-6
	}
	if *asJSON {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%d decisions, %d errors in %.1fs (%.1f/s); latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; budget used %.2f of %.2f\n",
		res.Decisions, res.Errors, res.DurationS, res.AchievedRate, res.P50ms, res.P95ms, res.P99ms, res.BudgetUsed, res.Budget)
	return nil
}
