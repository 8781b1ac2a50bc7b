package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/workflows"
)

const scheduleUsage = `usage: starter schedule <create|update|list|describe|pause|resume|trigger|backfill|delete> [flags] [ID]

  create --template weekly (--every 168h | --cron "0 3 * * MON") [--timezone Europe/Paris]
         [--input-prefix raw/shop/] [--id ID] [--evaluate=false]
         [the campaign flags of run: --mapping FILE --opt-out KEYS --history KEYS --budget N
          --control-share S --explore-share S --window-days N --require-approval
          --approval-deadline D --templates-dir DIR --offers FILE --shards N --k N --seed N ...]
  update ID [the flags of create]: the action is rebuilt from the flags given (flags not
         given take their defaults, not the old values); the spec is replaced when --every
         or --cron is given, else kept (--timezone alone changes its time zone)
  list [--json]
  describe ID [--json]
  pause ID [--note TEXT]
  resume ID [--note TEXT]
  trigger ID
  backfill ID --start 2026-11-01T00:00:00Z --end 2026-11-23T00:00:00Z
  delete ID
`

// scheduleCmd manages the Temporal Schedules that start regenerations.
func scheduleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, scheduleUsage)
		return errors.New("missing subcommand")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, scheduleUsage)
		return nil
	}
	fs := newFlagSet("schedule " + sub)
	cfg := config.FromEnv(fs)
	var create *scheduleSpec
	note := ""
	var bfStart, bfEnd string
	asJSON := false
	switch sub {
	case "create", "update":
		create = scheduleFlags(fs, sub == "update")
	case "pause", "resume":
		fs.StringVar(&note, "note", "", "why (shown in the UI)")
	case "backfill":
		fs.StringVar(&bfStart, "start", "", "first scheduled time to run (RFC 3339)")
		fs.StringVar(&bfEnd, "end", "", "last scheduled time to run (RFC 3339)")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print the schedules as a JSON array (ScheduleInfo)")
	case "describe":
		fs.BoolVar(&asJSON, "json", false, "print the schedule as JSON (ScheduleInfo)")
	case "trigger", "delete":
	default:
		fmt.Fprint(stderr, scheduleUsage)
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	id, err := parseWithID(fs, args) // flags may follow the ID
	if err != nil {
		return err
	}
	if sub != "create" && sub != "list" && id == "" {
		return fmt.Errorf("usage: starter schedule %s ID", sub)
	}
	var action *client.ScheduleWorkflowAction
	if create != nil {
		if sub == "update" {
			*create.id = id
		}
		if err := create.check(); err != nil {
			return err
		}
		var err error
		if action, err = create.action(newRefResolver(ctx, cfg, create.campaign.dataset, stderr).resolve, cfg.TaskQueue); err != nil {
			return err
		}
	}
	var bf client.ScheduleBackfill
	if sub == "backfill" {
		start, err1 := time.Parse(time.RFC3339, bfStart)
		end, err2 := time.Parse(time.RFC3339, bfEnd)
		if err1 != nil || err2 != nil || !end.After(start) {
			return fmt.Errorf("backfill: want --start and --end as RFC 3339 times, end after start (got %q, %q)", bfStart, bfEnd)
		}
		// Backfilled weeks run one after the other, none skipped.
		bf = client.ScheduleBackfill{Start: start, End: end, Overlap: enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL}
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	sc := c.ScheduleClient()
	switch sub {
	case "create":
		return createSchedule(ctx, sc, create, action, stdout)
	case "update":
		return updateSchedule(ctx, sc.GetHandle(ctx, id), create, action, stdout)
	case "list":
		return listSchedules(ctx, sc, stdout, asJSON)
	case "describe":
		return describeSchedule(ctx, sc.GetHandle(ctx, id), stdout, asJSON)
	case "pause":
		if err := sc.GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
			return fmt.Errorf("pause %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "schedule %s paused\n", id)
	case "resume":
		if err := sc.GetHandle(ctx, id).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
			return fmt.Errorf("resume %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "schedule %s resumed\n", id)
	case "trigger":
		if err := sc.GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			return fmt.Errorf("trigger %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "schedule %s triggered: a run starts now (skipped if one is running)\n", id)
	case "backfill":
		err := sc.GetHandle(ctx, id).Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{bf}})
		if err != nil {
			return fmt.Errorf("backfill %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "schedule %s: backfilling the times from %s to %s\n", id, bf.Start.Format(time.RFC3339), bf.End.Format(time.RFC3339))
	case "delete":
		if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "schedule %s deleted\n", id)
	}
	return nil
}

// scheduleSpec is what `schedule create` or `update` was asked for: when
// and how often, and the campaign of every run (campaignFlags, the flags
// of `starter run`).
type scheduleSpec struct {
	update                          bool
	id, cron, timezone, inputPrefix *string
	every                           *time.Duration
	campaign                        campaignFlags
}

func scheduleFlags(fs *flag.FlagSet, update bool) *scheduleSpec {
	s := &scheduleSpec{
		update:      update,
		every:       fs.Duration("every", 0, "interval between runs, e.g. 168h"),
		cron:        fs.String("cron", "", `cron expression, e.g. "0 3 * * MON"`),
		timezone:    fs.String("timezone", "", "IANA time zone of the cron expression (default UTC)"),
		inputPrefix: fs.String("input-prefix", "", "raw/ prefix whose newest drop each run reads (default raw/<template>/)"),
	}
	if update {
		s.id = new(string) // the ID argument
	} else {
		s.id = fs.String("id", "", "schedule id (default the template)")
	}
	s.campaign.register(fs, true)
	return s
}

func (s *scheduleSpec) check() error {
	if *s.every > 0 && *s.cron != "" || !s.update && *s.every == 0 && *s.cron == "" {
		if s.update {
			return errors.New("want at most one of --every and --cron")
		}
		return errors.New("want exactly one of --every and --cron")
	}
	if *s.every < 0 || (*s.every > 0 && *s.every < time.Minute) {
		return fmt.Errorf("--every %v: want at least 1m", *s.every)
	}
	if *s.timezone != "" {
		if _, err := time.LoadLocation(*s.timezone); err != nil {
			return fmt.Errorf("--timezone %q: %w", *s.timezone, err)
		}
	}
	if *s.id == "" {
		*s.id = s.campaign.template
	}
	if *s.inputPrefix == "" {
		*s.inputPrefix = layout.RawDir(s.campaign.template)
	}
	if !strings.HasPrefix(*s.inputPrefix, layout.RawRoot) {
		return fmt.Errorf("--input-prefix %q: want a raw/ prefix", *s.inputPrefix)
	}
	return nil
}

// spec is the schedule's spec; nil when an update gives none (the old
// one is kept).
func (s *scheduleSpec) spec() *client.ScheduleSpec {
	spec := &client.ScheduleSpec{TimeZoneName: *s.timezone}
	switch {
	case *s.every > 0:
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: *s.every}}
	case *s.cron != "":
		spec.CronExpressions = []string{*s.cron}
	default:
		return nil
	}
	return spec
}

// action is what each scheduled run starts: a Regenerate with the input
// the campaign flags build (the template, catalog and mapping frozen into
// the schedule, so its runs are reproducible from their histories), an
// empty run id (the workflow derives the campaign from the scheduled
// time), the newest drop under the input prefix, and opt-out and history
// prefixes listed when the run starts.
func (s *scheduleSpec) action(resolve resolver, queue string) (*client.ScheduleWorkflowAction, error) {
	in, err := s.campaign.build(resolve)
	if err != nil {
		return nil, err
	}
	in.InputPrefix = *s.inputPrefix
	in.CampaignEvery = *s.every
	in.Defaults() // the template's approval applies (workflows.RegenerateInput.Defaults)
	check := in
	check.RunID = "scheduled" // each run's: its workflow ID
	if err := check.Validate(); err != nil {
		return nil, err
	}
	return &client.ScheduleWorkflowAction{
		ID: in.Template, Workflow: workflows.Regenerate, Args: []any{in}, TaskQueue: queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.CampaignTemplateKey.ValueSet(in.Template)),
	}, nil
}

// scheduleOptions is the schedule of s running action; overlapping runs
// are skipped.
func scheduleOptions(s *scheduleSpec, action *client.ScheduleWorkflowAction) client.ScheduleOptions {
	return client.ScheduleOptions{ID: *s.id, Spec: *s.spec(), Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP, Action: action}
}

func createSchedule(ctx context.Context, sc client.ScheduleClient, s *scheduleSpec, action *client.ScheduleWorkflowAction, stdout io.Writer) error {
	h, err := sc.Create(ctx, scheduleOptions(s, action))
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		fmt.Fprintf(stdout, "schedule %s already exists (unchanged; `starter schedule update %s ...` changes it):\n", *s.id, *s.id)
		return describeSchedule(ctx, sc.GetHandle(ctx, *s.id), stdout, false)
	}
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", *s.id, err)
	}
	fmt.Fprintf(stdout, "schedule %s created:\n", h.GetID())
	return describeSchedule(ctx, h, stdout, false)
}

// updateSchedule replaces the schedule's action by action and, when s
// gives one, its spec (else --timezone alone changes the old spec's time
// zone); state, policies and counts are kept.
func updateSchedule(ctx context.Context, h client.ScheduleHandle, s *scheduleSpec, action *client.ScheduleWorkflowAction, stdout io.Writer) error {
	err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sch := u.Description.Schedule
		sch.Action = action
		if spec := s.spec(); spec != nil {
			sch.Spec = spec
		} else if *s.timezone != "" && sch.Spec != nil {
			sch.Spec.TimeZoneName = *s.timezone
		}
		return &client.ScheduleUpdate{Schedule: &sch}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", h.GetID(), err)
	}
	fmt.Fprintf(stdout, "schedule %s updated:\n", h.GetID())
	return describeSchedule(ctx, h, stdout, false)
}

// ScheduleInfo is a schedule as `schedule list` and `schedule describe`
// (and create and update) show it; --json prints it as it is. A listed
// schedule has no action details, policy nor counts: describe has them.
type ScheduleInfo struct {
	ID    string `json:"id"`
	State string `json:"state"` // "active" or "paused"
	Note  string `json:"note,omitempty"`
	Spec  string `json:"spec"` // when it runs, as specString shows it
	// Workflow, WorkflowID (the prefix of each run's ID) and TaskQueue are
	// what each run starts.
	Workflow   string            `json:"workflow,omitempty"`
	WorkflowID string            `json:"workflow_id,omitempty"`
	TaskQueue  string            `json:"task_queue,omitempty"`
	Campaign   *ScheduleCampaign `json:"campaign,omitempty"`
	Overlap    string            `json:"overlap,omitempty"` // the overlap policy, e.g. "Skip"
	// Taken and Skipped count the actions taken and skipped for overlap
	// (describe only).
	Taken   int `json:"actions_taken"`
	Skipped int `json:"actions_skipped_overlap"`
	// Recent are the latest runs started, oldest first; Next, the next
	// scheduled times (at most 3 in describe, 1 in list).
	Recent []ScheduledRun `json:"recent"`
	Next   []NextRun      `json:"next"`
}

// ScheduledRun is a run a schedule started.
type ScheduledRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	WorkflowID  string    `json:"workflow_id"`
}

// NextRun is a time a schedule will start a run, and the campaign that run
// will be (known from a description, not from a list).
type NextRun struct {
	At       time.Time `json:"at"`
	Campaign string    `json:"campaign,omitempty"`
}

// ScheduleCampaign is what every run of a schedule does: the parts of its
// workflows.RegenerateInput an operator checks.
type ScheduleCampaign struct {
	Template    string `json:"template"`
	InputPrefix string `json:"input_prefix"`
	// Budget, ControlShare, ExploreShare and WindowDays are the frozen
	// template's; Budget is nil without one (then the others are 0).
	Budget       *float64 `json:"budget,omitempty"`
	ControlShare float64  `json:"control_share"`
	ExploreShare float64  `json:"explore_share"`
	WindowDays   int      `json:"window_days"`
	Mapping      bool     `json:"mapping"` // a mapping is frozen in
	OptOut       []string `json:"opt_out,omitempty"`
	History      []string `json:"history,omitempty"`
	Approval     bool     `json:"approval_required"`
	Deadline     string   `json:"approval_deadline,omitempty"`
	Shards       int      `json:"shards"`
	K            int      `json:"k"`
	Seed         int64    `json:"seed"`
	Evaluate     bool     `json:"evaluate"`
}

func newScheduleCampaign(in workflows.RegenerateInput) *ScheduleCampaign {
	c := &ScheduleCampaign{
		Template: in.Template, InputPrefix: in.InputPrefix, Mapping: in.Mapping != "",
		OptOut: in.OptOut, History: in.History, Approval: in.Approval.Required,
		Shards: in.Shards, K: in.K, Seed: in.Seed, Evaluate: in.Evaluate,
	}
	if in.Approval.Deadline > 0 {
		c.Deadline = in.Approval.Deadline.String()
	}
	if in.Spec != nil {
		b := in.Spec.Budget
		c.Budget, c.ControlShare, c.ExploreShare, c.WindowDays = &b, in.Spec.ControlShare, in.Spec.ExploreShare, in.Spec.WindowDays
	}
	return c
}

// describeSchedule prints the schedule behind h, as text or JSON.
func describeSchedule(ctx context.Context, h client.ScheduleHandle, stdout io.Writer, asJSON bool) error {
	d, err := h.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe %s: %w", h.GetID(), err)
	}
	info := scheduleInfo(h.GetID(), d)
	if asJSON {
		return printJSON(stdout, info)
	}
	printScheduleInfo(stdout, info)
	return nil
}

// scheduleInfo is the ScheduleInfo of a description.
func scheduleInfo(id string, d *client.ScheduleDescription) ScheduleInfo {
	info := ScheduleInfo{ID: id, State: "active", Spec: specString(d.Schedule.Spec),
		Taken: d.Info.NumActions, Skipped: d.Info.NumActionsSkippedOverlap, Recent: []ScheduledRun{}, Next: []NextRun{}}
	if st := d.Schedule.State; st != nil && st.Paused {
		info.State, info.Note = "paused", st.Note
	}
	if wa, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		info.Workflow, info.WorkflowID, info.TaskQueue = fmt.Sprint(wa.Workflow), wa.ID, wa.TaskQueue
		if in, ok := actionInput(wa); ok {
			info.Campaign = newScheduleCampaign(in)
		}
	}
	if d.Schedule.Policy != nil {
		info.Overlap = strings.TrimPrefix(d.Schedule.Policy.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_")
	}
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			info.Recent = append(info.Recent, ScheduledRun{ScheduledAt: a.ScheduleTime.UTC(), WorkflowID: a.StartWorkflowResult.WorkflowID})
		}
	}
	for i, t := range d.Info.NextActionTimes {
		if i == 3 {
			break
		}
		info.Next = append(info.Next, NextRun{At: t.UTC(), Campaign: workflows.ScheduledCampaignID(actionTemplate(d.Schedule.Action), t, actionEvery(d.Schedule.Action))})
	}
	return info
}

// printScheduleInfo prints a described schedule, a field a line.
func printScheduleInfo(w io.Writer, info ScheduleInfo) {
	state := info.State
	if info.Note != "" {
		state += " (" + info.Note + ")"
	}
	fmt.Fprintf(w, "  id:       %s\n  state:    %s\n  spec:     %s\n", info.ID, state, info.Spec)
	if info.Workflow != "" {
		fmt.Fprintf(w, "  action:   %s id %s on queue %s\n", info.Workflow, info.WorkflowID, info.TaskQueue)
	}
	if info.Campaign != nil {
		fmt.Fprintf(w, "  campaign: %s\n", info.Campaign.line())
	}
	if info.Overlap != "" {
		fmt.Fprintf(w, "  overlap:  %s\n", info.Overlap)
	}
	fmt.Fprintf(w, "  actions:  %d taken, %d skipped (overlap)\n", info.Taken, info.Skipped)
	for _, r := range info.Recent {
		fmt.Fprintf(w, "  ran:      %s  %s\n", r.ScheduledAt.Format(time.RFC3339), r.WorkflowID)
	}
	for _, n := range info.Next {
		fmt.Fprintf(w, "  next:     %s  campaign %s\n", n.At.Format(time.RFC3339), n.Campaign)
	}
}

// actionInput decodes the RegenerateInput of a described action; false
// when it cannot (a payload codec the default converter does not know).
func actionInput(wa *client.ScheduleWorkflowAction) (workflows.RegenerateInput, bool) {
	var in workflows.RegenerateInput
	if len(wa.Args) != 1 {
		return in, false
	}
	p, ok := wa.Args[0].(*commonpb.Payload)
	if !ok {
		return in, false
	}
	return in, converter.GetDefaultDataConverter().FromPayload(p, &in) == nil
}

// line sums up what a scheduled run does.
func (c *ScheduleCampaign) line() string {
	parts := []string{"template " + c.Template, "inputs " + c.InputPrefix}
	if c.Budget != nil { // a frozen template
		parts = append(parts, fmt.Sprintf("budget %g", *c.Budget), fmt.Sprintf("control %g", c.ControlShare),
			fmt.Sprintf("explore %g", c.ExploreShare), fmt.Sprintf("window %dd", c.WindowDays))
	}
	if c.Mapping {
		parts = append(parts, "mapping")
	}
	if len(c.OptOut) > 0 {
		parts = append(parts, "opt-out "+strings.Join(c.OptOut, ","))
	}
	if len(c.History) > 0 {
		parts = append(parts, "history "+strings.Join(c.History, ","))
	}
	if c.Approval {
		a := "approval required"
		if c.Deadline != "" {
			a += " within " + c.Deadline
		}
		parts = append(parts, a)
	}
	parts = append(parts, fmt.Sprintf("shards %d k %d seed %d", c.Shards, c.K, c.Seed))
	if c.Evaluate {
		parts = append(parts, "evaluated")
	}
	return strings.Join(parts, ", ")
}

// actionEvery is the interval the schedule's action names its campaigns by
// (RegenerateInput.CampaignEvery).
func actionEvery(a client.ScheduleAction) time.Duration {
	if wa, ok := a.(*client.ScheduleWorkflowAction); ok {
		if in, ok := actionInput(wa); ok {
			return in.CampaignEvery
		}
	}
	return 0
}

// actionTemplate is the template a schedule's runs use: the workflow ID
// prefix the schedule starts them with.
func actionTemplate(a client.ScheduleAction) string {
	if wa, ok := a.(*client.ScheduleWorkflowAction); ok {
		return wa.ID
	}
	return "?"
}

func specString(s *client.ScheduleSpec) string {
	if s == nil {
		return "none"
	}
	var parts []string
	for _, iv := range s.Intervals {
		parts = append(parts, "every "+iv.Every.String())
	}
	for _, c := range s.CronExpressions {
		parts = append(parts, "cron "+c)
	}
	for _, c := range s.Calendars {
		parts = append(parts, "at "+calendarString(c))
	}
	if s.TimeZoneName != "" {
		parts = append(parts, "in "+s.TimeZoneName)
	}
	return strings.Join(parts, ", ")
}

// calendarString shows a calendar spec (what the server makes of a cron
// expression) as "dow 1 hour 3 minute 0", leaving out fields that match
// every value.
func calendarString(c client.ScheduleCalendarSpec) string {
	var parts []string
	field := func(name string, rs []client.ScheduleRange, all int) {
		var vs []string
		for _, r := range rs {
			if r.Start <= 1 && r.End == all && name != "minute" && name != "hour" {
				continue
			}
			v := fmt.Sprint(r.Start)
			if r.End > r.Start {
				v += fmt.Sprintf("-%d", r.End)
			}
			if r.Step > 1 {
				v += fmt.Sprintf("/%d", r.Step)
			}
			vs = append(vs, v)
		}
		if len(vs) > 0 {
			parts = append(parts, name+" "+strings.Join(vs, ","))
		}
	}
	field("dow", c.DayOfWeek, 6)
	field("month", c.Month, 12)
	field("day", c.DayOfMonth, 31)
	field("hour", c.Hour, 23)
	field("minute", c.Minute, 59)
	return strings.Join(parts, " ")
}

// listSchedules prints every schedule, a line each (or a JSON array).
func listSchedules(ctx context.Context, sc client.ScheduleClient, stdout io.Writer, asJSON bool) error {
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	infos := []ScheduleInfo{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		infos = append(infos, listedSchedule(e))
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	if asJSON {
		return printJSON(stdout, infos)
	}
	if len(infos) == 0 {
		fmt.Fprintln(stdout, "no schedules")
	}
	for _, info := range infos {
		next := "-"
		if len(info.Next) > 0 {
			next = info.Next[0].At.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%-20s %-7s %-30s next %s  runs %d\n", info.ID, info.State, info.Spec, next, len(info.Recent))
	}
	return nil
}

// listedSchedule is the ScheduleInfo of a list entry.
func listedSchedule(e *client.ScheduleListEntry) ScheduleInfo {
	info := ScheduleInfo{ID: e.ID, State: "active", Spec: specString(e.Spec), Workflow: e.WorkflowType.Name,
		Recent: []ScheduledRun{}, Next: []NextRun{}}
	if e.Paused {
		info.State, info.Note = "paused", e.Note
	}
	for _, a := range e.RecentActions {
		if a.StartWorkflowResult != nil {
			info.Recent = append(info.Recent, ScheduledRun{ScheduledAt: a.ScheduleTime.UTC(), WorkflowID: a.StartWorkflowResult.WorkflowID})
		}
	}
	if len(e.NextActionTimes) > 0 {
		info.Next = append(info.Next, NextRun{At: e.NextActionTimes[0].UTC()})
	}
	return info
}
