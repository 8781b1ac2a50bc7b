// Package workflows holds promoflow's Temporal workflows: the campaign
// regeneration and the child workflows it runs (segmentation, training).
// Workflows carry object keys and aggregates only; data stays in the bucket.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/decide"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/segment"
)

// Stage names of a regeneration, in order.
const (
	StageIngest   = "ingest"
	StageFeatures = "features"
	StageSegment  = "segment"
	StageTrain    = "train"
	StageDecide   = "decide"
	StagePublish  = "publish"
)

// Stages lists the stages in order.
var Stages = []string{StageIngest, StageFeatures, StageSegment, StageTrain, StageDecide, StagePublish}

// RegenerateInput configures one campaign regeneration. Zero fields take
// the defaults of Defaults.
type RegenerateInput struct {
	RunID         string
	Template      string
	Campaign      string   // campaigns/<Campaign>/ receives the plan; defaults to RunID
	Inputs        []string // raw/... keys of canonical event CSV
	Shards        int
	Seed          int64
	K             int     // segments
	HorizonDays   int     // propensity label window after the cutoff
	ControlShare  float64 // share held out as control
	Margin        float64 // gross margin on incremental revenue
	TreesPerShard int
	Window        int // shard activities in flight
	Catalog       []decide.Offer
}

// Defaults fills zero fields with the weekly template's values.
func (in *RegenerateInput) Defaults() {
	if in.Campaign == "" {
		in.Campaign = in.RunID
	}
	if in.Shards == 0 {
		in.Shards = 8
	}
	if in.K == 0 {
		in.K = 6
	}
	if in.HorizonDays == 0 {
		in.HorizonDays = 28
	}
	if in.ControlShare == 0 {
		in.ControlShare = 0.10
	}
	if in.Margin == 0 {
		in.Margin = 0.40
	}
	if in.TreesPerShard == 0 {
		in.TreesPerShard = 5
	}
	if in.Window == 0 {
		in.Window = 16
	}
	if in.Catalog == nil {
		in.Catalog = decide.DefaultCatalog()
	}
}

// Validate reports what is wrong with in, after Defaults.
func (in *RegenerateInput) Validate() error {
	var errs []error
	if in.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if len(in.Inputs) == 0 {
		errs = append(errs, errors.New("no inputs"))
	}
	if in.Shards < 1 || in.Shards > 4096 {
		errs = append(errs, fmt.Errorf("shards = %d, want 1..4096", in.Shards))
	}
	if in.K < 2 {
		errs = append(errs, fmt.Errorf("k = %d, want at least 2", in.K))
	}
	if in.ControlShare < 0 || in.ControlShare >= 1 {
		errs = append(errs, fmt.Errorf("control share = %v, want [0, 1)", in.ControlShare))
	}
	return errors.Join(errs...)
}

// IngestTotals accounts for every input row, per source and in total.
type IngestTotals struct {
	RowsRead   int64            `json:"rows_read"`
	Accepted   int64            `json:"accepted"`
	Duplicates int64            `json:"duplicates"`
	Rejected   int64            `json:"rejected"`
	ByReason   map[string]int64 `json:"by_reason"`
	Sources    []ingest.Result  `json:"sources"`
	Rejects    []string         `json:"rejects"`
}

// PlanSummary says where the plan is and what is in it.
type PlanSummary struct {
	Parquet                    string           `json:"parquet"`
	CSV                        string           `json:"csv"`
	Summary                    string           `json:"summary"`
	Rows                       int64            `json:"rows"`
	ControlRows                int64            `json:"control_rows"`
	TreatedRows                int64            `json:"treated_rows"`
	Offers                     map[string]int64 `json:"offers"`
	ExpectedCost               float64          `json:"expected_cost"`
	ExpectedIncrementalRevenue float64          `json:"expected_incremental_revenue"`
}

// Summary is a regeneration's result and campaigns/<campaign>/summary.json.
type Summary struct {
	RunID        string             `json:"run_id"`
	WorkflowID   string             `json:"workflow_id"`
	Template     string             `json:"template"`
	Campaign     string             `json:"campaign"`
	Seed         int64              `json:"seed"`
	Shards       int                `json:"shards"`
	Inputs       []string           `json:"inputs"`
	InputRows    int64              `json:"input_rows"`
	Ingest       IngestTotals       `json:"ingest"`
	Users        int64              `json:"users"`
	Cutoff       time.Time          `json:"cutoff"`
	End          time.Time          `json:"end"`
	StageSeconds map[string]float64 `json:"stage_seconds"`
	Segments     []segment.Profile  `json:"segments"`
	Models       map[string]any     `json:"models"`
	Plan         PlanSummary        `json:"plan"`
	Stages       []StageProgress    `json:"stages"`
	KMeans       map[string]any     `json:"kmeans"`
}

// Regenerate is the campaign regeneration: ingest, features, segments,
// propensity forest, decisions, publication. Each stage fans out over
// shards; the workflow reduces the shards' aggregates in shard order.
func Regenerate(ctx workflow.Context, in RegenerateInput) (Summary, error) {
	in.Defaults()
	if err := in.Validate(); err != nil {
		return Summary{}, err
	}
	info := workflow.GetInfo(ctx)
	track := newTracker(ctx, in.RunID, Stages...)
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return track.p, nil }); err != nil {
		return Summary{}, err
	}
	sum := Summary{
		RunID: in.RunID, WorkflowID: info.WorkflowExecution.ID, Template: in.Template, Campaign: in.Campaign,
		Seed: in.Seed, Shards: in.Shards, Inputs: in.Inputs, Models: map[string]any{},
	}
	actx := withActivityOptions(ctx)

	// 1. Ingest: one activity per input object.
	track.begin(StageIngest, len(in.Inputs))
	ingested := make([]activities.IngestOutput, len(in.Inputs))
	err := fanOut(ctx, len(in.Inputs), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(withHeartbeat(ctx), a.Ingest, activities.IngestInput{
				RunID: in.RunID, Key: in.Inputs[i], Index: i, Shards: in.Shards,
			})
		},
		func(i int, f workflow.Future) error {
			track.step(StageIngest)
			return f.Get(ctx, &ingested[i])
		})
	if err != nil {
		return sum, fmt.Errorf("ingest: %w", err)
	}
	tot := IngestTotals{ByReason: map[string]int64{}}
	var end time.Time
	for _, o := range ingested {
		r := o.Result
		tot.RowsRead += r.RowsRead
		tot.Accepted += r.Accepted
		tot.Duplicates += r.Duplicates
		tot.Rejected += r.Rejected
		for k, v := range r.ByReason {
			tot.ByReason[k] += v
		}
		tot.Sources = append(tot.Sources, r)
		tot.Rejects = append(tot.Rejects, o.Rejects)
		if r.MaxTS.After(end) {
			end = r.MaxTS
		}
	}
	sum.Ingest, sum.InputRows = tot, tot.RowsRead
	if tot.Accepted == 0 {
		return sum, fmt.Errorf("ingest: none of %d rows accepted (%v)", tot.RowsRead, tot.ByReason)
	}
	cutoff := end.Add(-time.Duration(in.HorizonDays) * 24 * time.Hour)
	sum.Cutoff, sum.End = cutoff, end
	track.end(StageIngest)

	// 2. Features, and the global statistics reduced from them.
	track.begin(StageFeatures, in.Shards)
	feats := make([]activities.FeaturesOutput, in.Shards)
	err = fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Features, activities.FeaturesInput{RunID: in.RunID, Shard: i, Cutoff: cutoff, End: end})
		},
		func(i int, f workflow.Future) error {
			track.step(StageFeatures)
			return f.Get(ctx, &feats[i])
		})
	if err != nil {
		return sum, fmt.Errorf("features: %w", err)
	}
	moments := features.NewMoments(len(features.Names))
	var buyers int64
	var basketSum float64
	for i, f := range feats {
		sum.Users += f.Users
		buyers += f.Buyers
		basketSum += f.BasketSum
		if err := moments.Merge(f.Moments); err != nil {
			return sum, fmt.Errorf("features: shard %d: %w", i, err)
		}
	}
	scaler := moments.Scaler()
	defaultBasket := 0.0
	if buyers > 0 {
		defaultBasket = basketSum / float64(buyers)
	}
	track.end(StageFeatures)

	// 3. Segments: distributed k-means as a child workflow.
	track.begin(StageSegment, 0)
	var seg SegmentOutput
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-segment"})
	err = workflow.ExecuteChildWorkflow(cctx, Segment, SegmentInput{
		RunID: in.RunID, Shards: in.Shards, Users: sum.Users, K: in.K, Seed: in.Seed, Scaler: scaler, Window: in.Window,
	}).Get(ctx, &seg)
	if err != nil {
		return sum, fmt.Errorf("segment: %w", err)
	}
	track.detail(StageSegment, fmt.Sprintf("%d iterations, cost %.6g", seg.Iterations, seg.Cost))
	sum.KMeans = map[string]any{"k": in.K, "iterations": seg.Iterations, "cost": seg.Cost, "converged": seg.Converged}
	track.end(StageSegment)

	// 4. Propensity forest as a child workflow.
	track.begin(StageTrain, 0)
	var model TrainOutput
	cctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-train"})
	err = workflow.ExecuteChildWorkflow(cctx, Train, TrainInput{
		RunID: in.RunID, Shards: in.Shards, Seed: in.Seed, Window: in.Window,
		Params: forest.Params{Trees: in.TreesPerShard, MaxDepth: 8, MinLeaf: 20, Bootstrap: true},
	}).Get(ctx, &model)
	if err != nil {
		return sum, fmt.Errorf("train: %w", err)
	}
	sum.Models["propensity"] = model
	track.detail(StageTrain, fmt.Sprintf("%d trees, AUC %.3f", model.Trees, model.AUC))
	track.end(StageTrain)

	// 5. Decide every user's offer, shard by shard.
	track.begin(StageDecide, in.Shards)
	decided := make([]activities.DecideOutput, in.Shards)
	params := decide.Params{Margin: in.Margin, ControlShare: in.ControlShare, Salt: fmt.Sprintf("%s/%d", in.Template, in.Seed)}
	err = fanOut(ctx, in.Shards, in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Decide, activities.DecideInput{
				RunID: in.RunID, Shard: i, Scaler: scaler, Centroids: seg.Centroids, SegmentNames: seg.Names,
				ForestKey: model.ForestKey, Catalog: in.Catalog, Params: params, DefaultBasket: defaultBasket,
			})
		},
		func(i int, f workflow.Future) error {
			track.step(StageDecide)
			return f.Get(ctx, &decided[i])
		})
	if err != nil {
		return sum, fmt.Errorf("decide: %w", err)
	}
	segSums := segment.NewSums(in.K)
	ps := PlanSummary{Offers: map[string]int64{}}
	scoreKeys := make([]string, in.Shards)
	for i, d := range decided {
		scoreKeys[i] = d.Key
		ps.Rows += d.Rows
		ps.ControlRows += d.Control
		for o, n := range d.Offers {
			ps.Offers[o] += n
			ps.TreatedRows += n
		}
		ps.ExpectedCost += d.ExpectedCost
		ps.ExpectedIncrementalRevenue += d.ExpectedIncrementalRevenue
		if err := segSums.Merge(d.Segments); err != nil {
			return sum, fmt.Errorf("decide: shard %d: %w", i, err)
		}
	}
	sum.Segments = segSums.Profiles(seg.Names)
	track.end(StageDecide)

	// 6. Publish the plan, then the summary, last.
	track.begin(StagePublish, 1)
	var pub activities.PublishOutput
	if err := workflow.ExecuteActivity(actx, a.Publish, activities.PublishInput{Campaign: in.Campaign, ScoreKeys: scoreKeys}).Get(ctx, &pub); err != nil {
		return sum, fmt.Errorf("publish: %w", err)
	}
	if pub.Rows != ps.Rows {
		return sum, fmt.Errorf("publish: plan has %d rows, shards decided %d", pub.Rows, ps.Rows)
	}
	ps.Parquet, ps.CSV, ps.Summary = pub.Parquet, pub.CSV, pub.Summary
	sum.Plan = ps
	track.end(StagePublish)
	track.finish()
	sum.StageSeconds = track.seconds()
	sum.Stages = track.p.Stages
	data, err := json.Marshal(sum)
	if err != nil {
		return sum, fmt.Errorf("summary: %w", err)
	}
	if err := workflow.ExecuteActivity(actx, a.WriteSummary, activities.WriteSummaryInput{Campaign: in.Campaign, Summary: data}).Get(ctx, nil); err != nil {
		return sum, fmt.Errorf("summary: %w", err)
	}
	return sum, nil
}
