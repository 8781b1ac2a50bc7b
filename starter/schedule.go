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

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

const scheduleUsage = `usage: starter schedule <create|list|describe|pause|resume|trigger|backfill|delete> [flags] [ID]

  create --template weekly (--every 168h | --cron "0 3 * * MON") [--timezone Europe/Paris]
         [--input-prefix raw/shop/] [--id ID] [--evaluate=false]
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
	fs := flag.NewFlagSet("schedule "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.FromEnv(fs)
	var create *scheduleSpec
	note := ""
	var bfStart, bfEnd string
	switch sub {
	case "create":
		create = scheduleFlags(fs)
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
	// Flags may follow the ID: parse, take the ID, parse the rest.
	if err := fs.Parse(args); err != nil {
		return err
	}
	id := ""
	if fs.NArg() > 0 {
		id = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if sub != "create" && sub != "list" && id == "" {
		return fmt.Errorf("usage: starter schedule %s ID", sub)
	}
	if create != nil {
		if err := create.check(); err != nil {
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
		return createSchedule(ctx, sc, cfg, create, stdout)
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

// scheduleSpec is what `schedule create` was asked for.
type scheduleSpec struct {
	id, template, cron, timezone, inputPrefix *string
	every                                     *time.Duration
	shards, k                                 *int
	seed                                      *int64
	evaluate                                  *bool
}

func scheduleFlags(fs *flag.FlagSet) *scheduleSpec {
	return &scheduleSpec{
		id:          fs.String("id", "", "schedule id (default the template)"),
		template:    fs.String("template", "weekly", "campaign template"),
		every:       fs.Duration("every", 0, "interval between runs, e.g. 168h"),
		cron:        fs.String("cron", "", `cron expression, e.g. "0 3 * * MON"`),
		timezone:    fs.String("timezone", "", "IANA time zone of the cron expression (default UTC)"),
		inputPrefix: fs.String("input-prefix", "", "raw/ prefix whose newest drop each run reads (default raw/<template>/)"),
		shards:      fs.Int("shards", 8, "user shards"),
		k:           fs.Int("k", 6, "segments"),
		seed:        fs.Int64("seed", 42, "run seed"),
		evaluate:    fs.Bool("evaluate", true, "evaluate each campaign against its control group when its window ends"),
	}
}

func (s *scheduleSpec) check() error {
	if _, _, err := workflows.LoadCampaign(*s.template); err != nil {
		return fmt.Errorf("unknown template %q: %w", *s.template, err)
	}
	if (*s.every > 0) == (*s.cron != "") {
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
		*s.id = *s.template
	}
	if *s.inputPrefix == "" {
		*s.inputPrefix = "raw/" + *s.template + "/"
	}
	if !strings.HasPrefix(*s.inputPrefix, "raw/") {
		return fmt.Errorf("--input-prefix %q: want a raw/ prefix", *s.inputPrefix)
	}
	return nil
}

// scheduleOptions is the schedule for s: a Regenerate with an empty run
// id (the workflow derives the campaign from the scheduled time), reading
// the newest drop under the input prefix; overlapping runs are skipped.
func scheduleOptions(s *scheduleSpec, queue string) client.ScheduleOptions {
	spec := client.ScheduleSpec{TimeZoneName: *s.timezone}
	if *s.every > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: *s.every}}
	} else {
		spec.CronExpressions = []string{*s.cron}
	}
	// The template and catalog are frozen into the schedule when it is
	// created, so its runs are reproducible from their histories.
	tmpl, cat, _ := workflows.LoadCampaign(*s.template) // checked by check
	in := workflows.RegenerateInput{
		Template: *s.template, InputPrefix: *s.inputPrefix, Shards: *s.shards, K: *s.k, Seed: *s.seed,
		Evaluate: *s.evaluate, Spec: tmpl, Catalog: cat,
	}
	return client.ScheduleOptions{
		ID: *s.id, Spec: spec, Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID: *s.template, Workflow: workflows.Regenerate, Args: []any{in}, TaskQueue: queue,
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.CampaignTemplateKey.ValueSet(*s.template)),
		},
	}
}

func createSchedule(ctx context.Context, sc client.ScheduleClient, cfg *config.Config, s *scheduleSpec, stdout io.Writer) error {
	h, err := sc.Create(ctx, scheduleOptions(s, cfg.TaskQueue))
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		fmt.Fprintf(stdout, "schedule %s already exists (unchanged):\n", *s.id)
		return describeSchedule(ctx, sc.GetHandle(ctx, *s.id), stdout)
	}
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", *s.id, err)
	}
	fmt.Fprintf(stdout, "schedule %s created:\n", h.GetID())
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
		fmt.Fprintf(stdout, "  next:     %s  campaign %s\n", t.UTC().Format(time.RFC3339), workflows.CampaignID(actionTemplate(d.Schedule.Action), t))
	}
	return nil
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
