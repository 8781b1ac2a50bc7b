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
  list
  describe ID
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
	switch sub {
	case "create", "update":
		create = scheduleFlags(fs, sub == "update")
	case "pause", "resume":
		fs.StringVar(&note, "note", "", "why (shown in the UI)")
	case "backfill":
		fs.StringVar(&bfStart, "start", "", "first scheduled time to run (RFC 3339)")
		fs.StringVar(&bfEnd, "end", "", "last scheduled time to run (RFC 3339)")
	case "list", "describe", "trigger", "delete":
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
		return listSchedules(ctx, sc, stdout)
	case "describe":
		return describeSchedule(ctx, sc.GetHandle(ctx, id), stdout)
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
		*s.inputPrefix = "raw/" + s.campaign.template + "/"
	}
	if !strings.HasPrefix(*s.inputPrefix, "raw/") {
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
		return describeSchedule(ctx, sc.GetHandle(ctx, *s.id), stdout)
	}
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", *s.id, err)
	}
	fmt.Fprintf(stdout, "schedule %s created:\n", h.GetID())
	return describeSchedule(ctx, h, stdout)
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
	return describeSchedule(ctx, h, stdout)
}

func describeSchedule(ctx context.Context, h client.ScheduleHandle, stdout io.Writer) error {
	d, err := h.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe %s: %w", h.GetID(), err)
	}
	state := "active"
	if d.Schedule.State != nil && d.Schedule.State.Paused {
		state = "paused"
		if d.Schedule.State.Note != "" {
			state += " (" + d.Schedule.State.Note + ")"
		}
	}
	fmt.Fprintf(stdout, "  id:       %s\n  state:    %s\n  spec:     %s\n", h.GetID(), state, specString(d.Schedule.Spec))
	if wa, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		fmt.Fprintf(stdout, "  action:   %v id %s on queue %s\n", wa.Workflow, wa.ID, wa.TaskQueue)
		if in, ok := actionInput(wa); ok {
			fmt.Fprintf(stdout, "  campaign: %s\n", campaignLine(in))
		}
	}
	if d.Schedule.Policy != nil {
		fmt.Fprintf(stdout, "  overlap:  %s\n", strings.TrimPrefix(d.Schedule.Policy.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_"))
	}
	fmt.Fprintf(stdout, "  actions:  %d taken, %d skipped (overlap)\n", d.Info.NumActions, d.Info.NumActionsSkippedOverlap)
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			fmt.Fprintf(stdout, "  ran:      %s  %s\n", a.ScheduleTime.UTC().Format(time.RFC3339), a.StartWorkflowResult.WorkflowID)
		}
	}
	for i, t := range d.Info.NextActionTimes {
		if i == 3 {
			break
		}
		fmt.Fprintf(stdout, "  next:     %s  campaign %s\n", t.UTC().Format(time.RFC3339), workflows.ScheduledCampaignID(actionTemplate(d.Schedule.Action), t, actionEvery(d.Schedule.Action)))
	}
	return nil
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

// campaignLine sums up what a scheduled run does.
func campaignLine(in workflows.RegenerateInput) string {
	parts := []string{"template " + in.Template, "inputs " + in.InputPrefix}
	if in.Spec != nil {
		parts = append(parts, fmt.Sprintf("budget %g", in.Spec.Budget), fmt.Sprintf("control %g", in.Spec.ControlShare),
			fmt.Sprintf("explore %g", in.Spec.ExploreShare), fmt.Sprintf("window %dd", in.Spec.WindowDays))
	}
	if in.Mapping != "" {
		parts = append(parts, "mapping")
	}
	if len(in.OptOut) > 0 {
		parts = append(parts, "opt-out "+strings.Join(in.OptOut, ","))
	}
	if len(in.History) > 0 {
		parts = append(parts, "history "+strings.Join(in.History, ","))
	}
	if in.Approval.Required {
		a := "approval required"
		if in.Approval.Deadline > 0 {
			a += " within " + in.Approval.Deadline.String()
		}
		parts = append(parts, a)
	}
	parts = append(parts, fmt.Sprintf("shards %d k %d seed %d", in.Shards, in.K, in.Seed))
	if in.Evaluate {
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

func listSchedules(ctx context.Context, sc client.ScheduleClient, stdout io.Writer) error {
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	var entries []*client.ScheduleListEntry
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
	if len(entries) == 0 {
		fmt.Fprintln(stdout, "no schedules")
	}
	for _, e := range entries {
		state := "active"
		if e.Paused {
			state = "paused"
		}
		next := "-"
		if len(e.NextActionTimes) > 0 {
			next = e.NextActionTimes[0].UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%-20s %-7s %-30s next %s  runs %d\n", e.ID, state, specString(e.Spec), next, len(e.RecentActions))
	}
	return nil
}
