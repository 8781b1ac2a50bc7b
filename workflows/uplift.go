package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/uplift"
)

// UpliftInput configures an uplift analysis of a campaign history.
type UpliftInput struct {
	RunID      string
	HistoryKey string // raw/... CSV in the bucket
	Spec       uplift.Spec
	Config     uplift.Config // folds, seed, forests, learners, budgets
	Window     int           // fold activities in flight; 0 means all
}

// UpliftOutput is what `starter uplift --json` prints: the report plus
// where its objects are.
type UpliftOutput struct {
	RunID      string      `json:"run_id"`
	WorkflowID string      `json:"workflow_id"`
	History    string      `json:"history"`
	Info       uplift.Info `json:"input"`
	uplift.Report
	ReportKey string `json:"report_key"`
	PolicyKey string `json:"policy_key"`
}

// Uplift runs an uplift analysis: it encodes the history into folds, then
// cross-fits every fold in parallel (one activity per fold: outcome models
// and every learner fit on the other folds predict the fold), then
// evaluates the out-of-fold predictions: per-arm effects, each learner's
// cross-validated policy value, the chosen learner's Qini curves and its
// policy at every budget with bootstrap intervals.
func Uplift(ctx workflow.Context, in UpliftInput) (UpliftOutput, error) {
	in.Config = in.Config.WithDefaults()
	if err := in.Config.Validate(); err != nil {
		return UpliftOutput{}, err
	}
	if in.RunID == "" || in.HistoryKey == "" {
		return UpliftOutput{}, errors.New("uplift: run id and history are required")
	}
	ctx = withActivityOptions(ctx)
	k := in.Config.Folds
	progress := Progress{RunID: in.RunID, Stage: "prepare", Stages: []StageProgress{
		{Name: "prepare", State: Running, Total: 1},
		{Name: "folds", State: Pending, Total: k},
		{Name: "evaluate", State: Pending, Total: 1},
	}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return progress, nil }); err != nil {
		return UpliftOutput{}, err
	}
	info := workflow.GetInfo(ctx)
	out := UpliftOutput{RunID: in.RunID, WorkflowID: info.WorkflowExecution.ID, History: in.HistoryKey}

	var prep activities.UpliftPrepareOutput
	err := workflow.ExecuteActivity(ctx, a.UpliftPrepare, activities.UpliftPrepareInput{
		RunID: in.RunID, HistoryKey: in.HistoryKey, Spec: in.Spec, Folds: k, Seed: in.Config.Seed,
	}).Get(ctx, &prep)
	if err != nil {
		return out, fmt.Errorf("prepare: %w", err)
	}
	out.Info = prep.Info
	progress.Stages[0].State, progress.Stages[0].Done = Done, 1
	progress.Stage, progress.Stages[1].State = "folds", Running

	ev, _, err := crossFit(ctx, in.RunID, prep, in.Config, in.Window, func(stage string) {
		switch stage {
		case "fold":
			progress.Stages[1].Done++
		case "evaluate":
			progress.Stages[1].State = Done
			progress.Stage, progress.Stages[2].State = "evaluate", Running
		}
	})
	if err != nil {
		return out, err
	}
	progress.Stages[2].State, progress.Stages[2].Done, progress.Stage = Done, 1, Done
	out.Report, out.ReportKey, out.PolicyKey = ev.Report, ev.ReportKey, ev.PolicyKey
	return out, nil
}

// crossFit runs the uplift analysis's driver (uplift.CrossFit) on an
// encoded history: one UpliftFold activity per fold (outcome models and
// every learner fit on the other folds predict the fold), window in
// flight, then UpliftEvaluate on the out-of-fold predictions (the
// learners' cross-validated policy values and the chosen learner's
// report). `starter uplift` (Uplift) and the decision of every
// regeneration (decide.go) run it. step, when not nil, is told of each
// finished fold ("fold") and of the start of the evaluation ("evaluate").
//
// It returns the evaluation and the keys of the folds' predictions.
func crossFit(ctx workflow.Context, runID string, prep activities.UpliftPrepareOutput, cfg uplift.Config, window int, step func(string)) (activities.UpliftEvaluateOutput, []string, error) {
	if step == nil {
		step = func(string) {}
	}
	cf, err := uplift.NewCrossFit(cfg, prep.FoldRows)
	if err != nil {
		return activities.UpliftEvaluateOutput{}, nil, err
	}
	preds := make([]activities.UpliftFoldOutput, cf.Folds())
	err = fanOut(ctx, len(preds), window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.UpliftFold, activities.UpliftFoldInput{
				RunID: runID, Fold: i, FoldKeys: prep.FoldKeys, Arms: prep.Info.Arms,
				Features: prep.Info.Features, Config: cfg,
			})
		},
		func(i int, f workflow.Future) error {
			step("fold")
			return f.Get(ctx, &preds[i])
		})
	if err != nil {
		return activities.UpliftEvaluateOutput{}, nil, fmt.Errorf("folds: %w", err)
	}
	keys, rows := make([]string, len(preds)), make([]int, len(preds))
	for i, p := range preds {
		keys[i], rows[i] = p.Key, p.Rows
	}
	if err := cf.Fitted(rows); err != nil {
		return activities.UpliftEvaluateOutput{}, nil, err
	}
	step("evaluate")
	var ev activities.UpliftEvaluateOutput
	err = workflow.ExecuteActivity(ctx, a.UpliftEvaluate, activities.UpliftEvaluateInput{
		RunID: runID, FoldKeys: prep.FoldKeys, PredictionKeys: keys, Arms: prep.Info.Arms,
		Features: prep.Info.Features, Config: cfg, PolicyBudget: cf.PolicyBudget(),
	}).Get(ctx, &ev)
	if err != nil {
		return ev, nil, fmt.Errorf("evaluate: %w", err)
	}
	return ev, keys, cf.Evaluated()
}
