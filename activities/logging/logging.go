// Package logging gives every activity's log lines the run, the stage and
// the shard they belong to, logs each activity's start and end, and labels
// its CPU samples with the stage, so that a worker's JSON log and CPU
// profile can be read run by run and stage by stage.
//
// Register Interceptor with the worker (workflows.NewWorker does); inside
// an activity, activity.GetLogger(ctx) then returns a logger with the
// fields. Only keys and counts are logged, never an input's data or a
// secret: the fields come from the input's RunID, Shard and Split fields.
package logging

import (
	"context"
	"reflect"
	"runtime/pprof"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
)

// Fields are the fields of one activity's log lines.
type Fields struct {
	Run   string // the input's RunID, else the workflow ID
	Stage string
	Shard int // -1: not a per-shard activity; a block's first shard
	// Shards is the number of shards of a block of more than one
	// (shard.Block), 0 otherwise.
	Shards int
	Split  int // -1: not a split of an input
}

// Args returns the fields as slog/Temporal key-value pairs: run, stage,
// shard (null when the activity is not per shard) and, for input splits,
// split.
func (f Fields) Args() []any {
	args := []any{"run", f.Run, "stage", f.Stage}
	if f.Shard >= 0 {
		args = append(args, "shard", f.Shard)
	} else {
		args = append(args, "shard", nil)
	}
	if f.Shards > 1 {
		args = append(args, "shards", f.Shards)
	}
	if f.Split >= 0 {
		args = append(args, "split", f.Split)
	}
	return args
}

// FieldsOf reads the fields of an activity of the given stage from its
// decoded arguments: the first struct argument's RunID (string), Shard and
// Split (integers) and Block (shard.Block) fields, where it has them. workflowID stands in for a
// missing RunID.
func FieldsOf(stage, workflowID string, args []any) Fields {
	f := Fields{Run: workflowID, Stage: stage, Shard: -1, Split: -1}
	for _, a := range args {
		v := reflect.ValueOf(a)
		for v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			continue
		}
		if r := v.FieldByName("RunID"); r.IsValid() && r.Kind() == reflect.String && r.String() != "" {
			f.Run = r.String()
		}
		if s := v.FieldByName("Shard"); s.IsValid() && s.CanInt() {
			f.Shard = int(s.Int())
		}
		// A block of shards (shard.Block): its first shard, and its size
		// when it has more than one.
		if b := v.FieldByName("Block"); b.IsValid() && b.Kind() == reflect.Struct {
			from, to := b.FieldByName("From"), b.FieldByName("To")
			if from.IsValid() && to.IsValid() && from.CanInt() && to.CanInt() && to.Int() > from.Int() {
				f.Shard = int(from.Int())
				if n := int(to.Int() - from.Int()); n > 1 {
					f.Shards = n
				}
			}
		}
		if s := v.FieldByName("Split"); s.IsValid() && s.CanInt() {
			f.Split = int(s.Int())
		}
		break
	}
	return f
}

// Interceptor is the worker interceptor that adds the fields.
type Interceptor struct {
	interceptor.WorkerInterceptorBase
	// StageOf names the stage of an activity type (workflows.StageOf, the
	// stage table's one home); nil makes every type its own stage.
	StageOf func(activityType string) string
}

// InterceptActivity wraps every activity.
func (w *Interceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &inbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, stageOf: w.StageOf}
}

type fieldsKey struct{}

type inbound struct {
	interceptor.ActivityInboundInterceptorBase
	stageOf func(string) string
}

func (i *inbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&outboundLogger{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}})
}

func (i *inbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (res any, err error) {
	info := activity.GetInfo(ctx)
	stage := info.ActivityType.Name
	if i.stageOf != nil {
		stage = i.stageOf(stage)
	}
	f := FieldsOf(stage, info.WorkflowExecution.ID, in.Args)
	ctx = context.WithValue(ctx, fieldsKey{}, f)
	logger := activity.GetLogger(ctx)
	// Local activities (a live decision's scoring, one per request) log
	// only their failures: two lines per decision would be most of a
	// worker's log and a share of its CPU at hundreds of decisions a second.
	quiet := info.IsLocalActivity
	if !quiet {
		logger.Info("activity started", "attempt", info.Attempt)
	}
	start := time.Now()
	// CPU samples carry the stage and the activity, so one profile of a
	// whole run splits by stage (go tool pprof -tagfocus stage=features).
	pprof.Do(ctx, pprof.Labels("stage", f.Stage, "activity", info.ActivityType.Name, "shard", strconv.Itoa(f.Shard)), func(ctx context.Context) {
		res, err = i.Next.ExecuteActivity(ctx, in)
	})
	secs := time.Since(start).Seconds()
	if err != nil {
		logger.Warn("activity failed", "seconds", secs, "attempt", info.Attempt, "error", err)
	} else if !quiet {
		logger.Info("activity completed", "seconds", secs)
	}
	return res, err
}

type outboundLogger struct {
	interceptor.ActivityOutboundInterceptorBase
}

// GetLogger adds the fields to the logger activity.GetLogger returns.
func (o *outboundLogger) GetLogger(ctx context.Context) log.Logger {
	l := o.Next.GetLogger(ctx)
	if f, ok := ctx.Value(fieldsKey{}).(Fields); ok {
		return log.With(l, f.Args()...)
	}
	return l
}
