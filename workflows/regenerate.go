// Package workflows holds promoflow's Temporal workflows: the campaign
// regeneration and the child workflows it runs (segmentation, training).
// Workflows carry object keys and aggregates only; data stays in the bucket.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/strategy"
)

// RegenerateInput configures one campaign regeneration. Zero fields take
// the defaults of Defaults.
type RegenerateInput struct {
	RunID         string
	Template      string
	Campaign      string   // campaigns/<Campaign>/ receives the plan; defaults to RunID
	Inputs        []string // raw/... keys of input files (CSV, JSON Lines, Parquet; .gz)
	Mapping       string   // mapping YAML (internal/mapping, docs/DATA.md); empty means canonical events
	SplitBytes    int64    // ingest split size; zero means DefaultSplitBytes
	Shards        int
	Seed          int64
	K             int       // segments
	KMin, KMax    int       // when KMax > 0, K is chosen in [KMin, KMax] (highest mean silhouette)
	HorizonDays   int       // propensity label window after the cutoff
	Cutoff        time.Time // training features end here; zero means HorizonDays before the last event
	TreesPerShard int
	// Propensity is the propensity model: ModelBoost ("", the default) or
	// ModelForest (TreesPerShard trees per shard, combined).
	Propensity string
	Window     int // shard activities in flight
	// ShardBlocks is the most activities a fan-out over shards starts;
	// with more shards each activity takes a block of them (shard.Blocks).
	ShardBlocks int
	// Topics, when positive, fits that many LDA topics over the users'
	// texts after the segment stage (workflows/topics.go): off by default,
	// as it did not win its place (docs/FEATURES.md, "Topics").
	Topics int `json:",omitempty"`

	// Spec is the campaign template with the run's overrides (budget,
	// event, shares) applied, and Catalog the offer catalog: parsed by the
	// starter, so a run is reproducible from its history alone. Nil means
	// the embedded weekly template and catalog (deploy.Campaigns).
	Spec    *campaign.Template
	Catalog *campaign.Catalog
	// Start and End are the campaign window; a zero Start is the
	// decision's time, a zero End Start + Spec.WindowDays.
	Start, End time.Time
	// FutureTolerance is how far past the run's start (Start, else when
	// the run began) an event may be: later events are rejected with
	// mapping.ReasonAfterStart instead of becoming the run's end. Zero
	// means DefaultFutureTolerance; negative, no limit.
	FutureTolerance time.Duration
	// OptOut are raw/... keys of opted-out user lists (one id per line,
	// or a CSV whose first column is the id): never contacted. A key
	// ending in "/" is a prefix: every object under it, listed when the run
	// starts (activities.ResolveKeys), so a schedule's runs read the list as
	// it is on the day.
	OptOut []string
	// History are raw/... keys of campaign history files, ingested with
	// Inputs through Mapping (which must map them to the history table);
	// a key ending in "/" is a prefix: every object under it, listed when
	// the run starts. They are appended to Inputs, after them.
	History  []string
	Approval ApprovalPolicy // a reviewer's approve or reject update before publishing (approval.go)
	// InputPrefix, when set, replaces Inputs by the newest data under it,
	// resolved when the run starts (activities.ResolveInputs): how runs
	// started by a schedule read the newest drop.
	InputPrefix string
	// Evaluate starts the campaign's evaluation, a child workflow that
	// outlives this run and measures the campaign when its window ends.
	Evaluate bool
	// CampaignEvery is the interval of the schedule that starts the run
	// (0 for cron schedules and manual runs): scheduled runs more often
	// than weekly name their campaign by the scheduled minute, not the
	// week (ScheduledCampaignID).
	CampaignEvery time.Duration
	// EvaluateOnSignal makes the evaluation wait for the outcomes-ready
	// signal (`starter outcomes`) however long the window is: for shops
	// that deliver outcomes explicitly, and for the simulator, whose
	// windows are in simulated time.
	EvaluateOnSignal bool
	// DenseClusters runs DBSCAN on the segment features (dense.go): every
	// user's dense cluster or outlier flag, and their profiles in the
	// summary. A template with exclude_outliers runs it too. DenseEps
	// fixes eps; zero chooses it at the knee of the sample's k-distances.
	DenseClusters bool    `json:",omitempty"`
	DenseEps      float64 `json:",omitempty"`
}

// DefaultFutureTolerance is RegenerateInput.FutureTolerance when zero: a
// day, for clocks and time zones a little ahead of the run's.
const DefaultFutureTolerance = 24 * time.Hour

// DefaultTemplate is the template of runs that name none.
const DefaultTemplate = "weekly"

// LoadCampaign reads template name and the offer catalog embedded in the
// build (deploy/offers.yaml, deploy/templates/NAME.yaml).
func LoadCampaign(name string) (*campaign.Template, *campaign.Catalog, error) {
	return campaign.Load(deploy.Campaigns, "offers.yaml", "templates", name)
}

// Defaults fills zero fields with the weekly template's values.
func (in *RegenerateInput) Defaults() {
	if in.Campaign == "" {
		in.Campaign = in.RunID
	}
	if in.Shards == 0 {
		in.Shards = DefaultShards
	}
	if in.K == 0 && in.KMax == 0 {
		in.K = 6
	}
	if in.HorizonDays == 0 {
		in.HorizonDays = 28
	}
	if in.TreesPerShard == 0 {
		in.TreesPerShard = 5
	}
	if in.Window == 0 {
		in.Window = DefaultWindow
	}
	if in.ShardBlocks == 0 {
		in.ShardBlocks = DefaultShardBlocks
	}
	if in.FutureTolerance == 0 {
		in.FutureTolerance = DefaultFutureTolerance
	}
	if in.Spec == nil || in.Catalog == nil {
		name := in.Template
		if name == "" {
			name = DefaultTemplate
		}
		// Embedded files that fail to parse fail the build's tests;
		// Validate reports a missing Spec.
		in.Spec, in.Catalog, _ = LoadCampaign(name)
	}
	if in.Spec != nil && in.Template == "" {
		in.Template = in.Spec.Name
	}
	if in.Spec != nil && in.Spec.Approval.Required && !in.Approval.Required {
		// The template asks for a reviewer (holiday): every run of it
		// waits, however it was started (CLI, schedule, another client);
		// a deadline given with the run overrides the template's.
		in.Approval.Required = true
		if in.Approval.Deadline == 0 {
			in.Approval.Deadline = in.Spec.Approval.Deadline
		}
	}
}

// Validate reports what is wrong with in, after Defaults.
func (in *RegenerateInput) Validate() error {
	var errs []error
	if in.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if len(in.Inputs) == 0 && in.InputPrefix == "" {
		errs = append(errs, errors.New("no inputs"))
	}
	if in.Shards < 1 || in.Shards > 4096 {
		errs = append(errs, fmt.Errorf("shards = %d, want 1..4096", in.Shards))
	}
	if in.KMax > 0 {
		if in.KMin < 2 || in.KMax < in.KMin {
			errs = append(errs, fmt.Errorf("k range [%d, %d], want 2 <= k min <= k max", in.KMin, in.KMax))
		}
	} else if in.K < 2 {
		errs = append(errs, fmt.Errorf("k = %d, want at least 2", in.K))
	}
	if in.Topics != 0 && (in.Topics < 2 || in.Topics > 100) {
		errs = append(errs, fmt.Errorf("topics = %d, want 0 (off) or 2..100", in.Topics))
	}
	switch {
	case in.Spec == nil || in.Catalog == nil:
		errs = append(errs, fmt.Errorf("template %q: no such template, or no offer catalog", in.Template))
	default:
		if err := in.Spec.Validate(in.Catalog); err != nil {
			errs = append(errs, fmt.Errorf("template %s: %w", in.Spec.Name, err))
		}
		if !in.End.IsZero() && !in.End.After(in.Start) {
			errs = append(errs, fmt.Errorf("campaign window %s .. %s is empty", in.Start.Format(time.DateOnly), in.End.Format(time.DateOnly)))
		}
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
	// ByType counts accepted events by type: cancellations mapped to
	// returns show up as "return".
	ByType map[string]int64 `json:"by_type,omitempty"`
	// NoUser counts rows without a user id (whatever became of them);
	// AcceptedNoUser those accepted, kept as anonymous events outside the
	// user shards and per-user features.
	NoUser         int64           `json:"no_user"`
	AcceptedNoUser int64           `json:"accepted_no_user"`
	Sources        []ingest.Result `json:"sources"`
	Rejects        []string        `json:"rejects"`
	// StagedDeleted counts the objects of the ingest staging
	// (runs/<run>/ingest/) deleted once ingest was done.
	StagedDeleted int `json:"staged_deleted,omitempty"`
}

// PlanSummary says where the plan is and what is in it.
type PlanSummary struct {
	Parquet                    string           `json:"parquet"`
	CSV                        string           `json:"csv"`
	Summary                    string           `json:"summary"`
	Report                     string           `json:"report"`
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
	Features     *FeaturesSummary   `json:"features,omitempty"`
	Segments     []segment.Profile  `json:"segments"`
	Models       ModelsSummary      `json:"models"`
	Plan         PlanSummary        `json:"plan"`
	// Strategy is the decision: audience, offer mix, budget, guards, lift
	// curve (internal/strategy; the report renders it).
	Strategy *strategy.Summary `json:"strategy,omitempty"`
	// Recommendations is the recommendations step (after the features
	// stage); nil in runs recorded before it.
	Recommendations *RecommendSummary `json:"recommendations,omitempty"`
	// DenseClusters are the density clusters and outliers (dense.go),
	// when the run asked for them.
	DenseClusters *DenseSummary `json:"dense_clusters,omitempty"`
	// Topics is the topics step (after the segment stage), when the run
	// asked for it (RegenerateInput.Topics).
	Topics *TopicsSummary `json:"topics,omitempty"`
	// Approval is the reviewer's decision, when the template requires one.
	Approval *ApprovalRecord `json:"approval,omitempty"`
	Stages   []StageProgress `json:"stages"`
	KMeans   *KMeansSummary  `json:"kmeans"`
	// Uplift is what the decision learnt from the template's campaign
	// history: rows, campaigns, the learner chosen by cross-fitted policy
	// value and its value (or why nothing was learnt).
	Uplift *strategy.UpliftInfo `json:"uplift,omitempty"`
	// Evaluation is the workflow ID of the campaign's evaluation, when
	// the run started one.
	Evaluation string `json:"evaluation,omitempty"`
}

// ModelsSummary are a run's models.
type ModelsSummary struct {
	// Propensity is the trained purchase-propensity model: its kind, key,
	// size and held-out AUC (nil before the train stage).
	Propensity *TrainOutput `json:"propensity,omitempty"`
}

// KMeansSummary is how the segments were found.
type KMeansSummary struct {
	K          int             `json:"k"`
	Iterations int             `json:"iterations"`
	Cost       float64         `json:"cost"`
	Converged  bool            `json:"converged"`
	Init       InitStats       `json:"init"`
	Features   []string        `json:"features"` // the scaled features k-means ran on
	KScores    []kmeans.KScore `json:"k_scores"` // when k was chosen
}

// Regenerate is the campaign regeneration: ingest, features, segments,
// propensity forest, decisions, publication. Each stage fans out over
// shards; the workflow reduces the shards' aggregates in shard order. The
// stages live in files of their own (ingest.go, features.go, ...).
func Regenerate(ctx workflow.Context, in RegenerateInput) (Summary, error) {
	if in.RunID == "" {
		// Started by a schedule: the run is the workflow, the campaign the
		// scheduled week (weekly-2026-W48).
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
		if in.Campaign == "" {
			t := in.Template
			if t == "" {
				t = DefaultTemplate
			}
			in.Campaign = ScheduledCampaignID(t, ScheduledTime(ctx), in.CampaignEvery)
		}
		// The campaign starts at its scheduled time: a re-run of the
		// scheduled campaign (or a manual run with --start at that time)
		// gets the same window, hence the same plan.
		if in.Start.IsZero() {
			in.Start = ScheduledTime(ctx).Truncate(time.Second)
		}
	}
	in.Defaults()
	if err := in.Validate(); err != nil {
		return Summary{}, err
	}
	info := workflow.GetInfo(ctx)
	r := &run{in: in, track: newTracker(ctx, in.RunID, Stages...)}
	r.notAfter = in.notAfter(workflow.Now(ctx))
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return r.track.p, nil }); err != nil {
		return Summary{}, err
	}
	if err := r.setApprovalHandlers(ctx); err != nil {
		return Summary{}, err
	}
	r.sum = Summary{
		RunID: in.RunID, WorkflowID: info.WorkflowExecution.ID, Template: in.Template, Campaign: in.Campaign,
		Seed: in.Seed, Shards: in.Shards, Inputs: in.Inputs,
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		CampaignTemplateKey.ValueSet(in.Template), CampaignIDKey.ValueSet(in.Campaign)); err != nil {
		return r.sum, err
	}
	if in.InputPrefix != "" {
		actx := withSummary(withActivityOptions(ctx), "newest data under "+in.InputPrefix)
		if err := workflow.ExecuteActivity(actx, a.ResolveInputs, in.InputPrefix).Get(ctx, &r.in.Inputs); err != nil {
			return r.sum, fmt.Errorf("inputs: %w", err)
		}
		r.sum.Inputs = r.in.Inputs
	}
	if len(in.History) > 0 {
		hist, err := r.resolveKeys(ctx, in.History, "campaign history")
		if err != nil {
			return r.sum, fmt.Errorf("history: %w", err)
		}
		r.in.Inputs = append(slices.Clone(r.in.Inputs), hist...)
		r.sum.Inputs = r.in.Inputs
	}
	optOut, err := r.resolveKeys(ctx, in.OptOut, "opt-out lists")
	if err != nil {
		return r.sum, fmt.Errorf("opt-out: %w", err)
	}
	r.in.OptOut = optOut
	var waitDeleted func() int                     // the ingest staging's deletion, running beside the later stages
	var waitRecommend func(workflow.Context) error // the recommendations, running beside segment and train
	var waitTrain func(workflow.Context) error     // the train stage, running beside segment
	for _, st := range []struct {
		name string
		fn   func(workflow.Context) error
	}{
		{StageIngest, r.ingest},
		{StageFeatures, r.features},
		{StageSegment, r.segment},
		{StageTrain, r.train},
		{StageDecide, r.decide},
		{StagePublish, r.publish},
	} {
		if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(st.name)); err != nil {
			return r.sum, err
		}
		if st.name == StagePublish {
			publish, err := r.awaitApproval(ctx)
			if err != nil {
				return r.sum, fmt.Errorf("approval: %w", err)
			}
			if !publish { // rejected or expired: a normal end, nothing published
				r.track.detail(StagePublish, "not published: "+r.approval.Status)
				r.track.finish()
				r.sum.Stages = r.track.p.Stages
				return r.sum, nil
			}
		}
		if st.name == StageDecide && waitRecommend != nil {
			// The plan rows feature the recommendations.
			if err := waitRecommend(ctx); err != nil {
				return r.sum, fmt.Errorf("recommendations: %w", err)
			}
		}
		if st.name == StageSegment {
			// The propensity model, beside the segments (workflows/train_stage.go).
			waitTrain = r.startTrain(ctx)
		}
		fn := st.fn
		if st.name == StageTrain && waitTrain != nil {
			fn = waitTrain
		}
		if err := fn(ctx); err != nil {
			return r.sum, fmt.Errorf("%s: %w", st.name, err)
		}
		if st.name == StageIngest {
			// Nothing reads ingest's staging after the stage.
			waitDeleted = startDeleteStaged(ctx, r.in.RunID)
		}
		if st.name == StageFeatures {
			// What each promotion features (workflows/recommend.go).
			var err error
			if waitRecommend, err = r.startRecommend(ctx); err != nil {
				return r.sum, fmt.Errorf("recommendations: %w", err)
			}
		}
		if st.name == StageSegment {
			// LDA topics, when asked for (workflows/topics.go).
			if err := r.topics(ctx); err != nil {
				return r.sum, fmt.Errorf("topics: %w", err)
			}
		}
		r.track.end(st.name)
	}
	if waitDeleted != nil {
		r.sum.Ingest.StagedDeleted = waitDeleted()
	}
	r.track.finish()
	r.sum.StageSeconds = r.track.seconds()
	r.sum.Stages = r.track.p.Stages
	data, err := json.Marshal(r.sum)
	if err != nil {
		return r.sum, fmt.Errorf("summary: %w", err)
	}
	err = workflow.ExecuteActivity(withActivityOptions(ctx), a.WriteSummary, activities.WriteSummaryInput{Campaign: in.Campaign, Summary: data}).Get(ctx, nil)
	if err != nil {
		return r.sum, fmt.Errorf("summary: %w", err)
	}
	if in.Evaluate {
		if err := r.startEvaluation(ctx); err != nil {
			return r.sum, fmt.Errorf("evaluation: %w", err)
		}
	}
	err = workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(Done), BudgetUsedKey.ValueSet(r.sum.Plan.ExpectedCost))
	if err != nil {
		return r.sum, err
	}
	err = workflow.UpsertMemo(ctx, map[string]any{
		"users": r.sum.Users, "plan_rows": r.sum.Plan.Rows, "treated": r.sum.Plan.TreatedRows, "control": r.sum.Plan.ControlRows,
		"expected_cost": r.sum.Plan.ExpectedCost, "expected_incremental_revenue": r.sum.Plan.ExpectedIncrementalRevenue,
		"state_version": r.stateVersion(), "plan": r.sum.Plan.CSV,
	})
	return r.sum, err
}

// resolveKeys returns keys with each "/"-terminated prefix replaced by the
// objects under it, listed now by an activity (activities.ResolveKeys);
// without prefixes, keys as they are and no activity.
func (r *run) resolveKeys(ctx workflow.Context, keys []string, what string) ([]string, error) {
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, "/") }) {
		return keys, nil
	}
	var out []string
	actx := withSummary(withActivityOptions(ctx), what+" under "+strings.Join(keys, ", "))
	err := workflow.ExecuteActivity(actx, a.ResolveKeys, keys).Get(ctx, &out)
	return out, err
}

// startEvaluation starts the campaign's evaluation as a child that the
// run does not wait for (parent close policy abandon): it outlives the
// regeneration, waiting for the campaign window to end.
func (r *run) startEvaluation(ctx workflow.Context) error {
	if r.sum.Strategy == nil {
		return fmt.Errorf("no decision summary: no campaign window to evaluate")
	}
	start, end := r.sum.Strategy.Start, r.sum.Strategy.End
	id := EvaluationID(r.in.Campaign)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     fmt.Sprintf("evaluate %s when its window ends (%s)", r.in.Campaign, end.Format(time.DateOnly)),
	})
	ein := EvaluateInput{
		Campaign: r.in.Campaign, Template: r.in.Template, Start: start, End: end,
		Catalog: r.in.Catalog.Resolve(r.in.Spec.Offers), Margin: r.in.Spec.Margin,
	}
	if r.in.EvaluateOnSignal {
		ein.WaitUntil = workflow.Now(ctx).Add(SignalWait)
	}
	f := workflow.ExecuteChildWorkflow(cctx, Evaluate, ein)
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return err
	}
	r.sum.Evaluation = id
	return nil
}

// SignalWait is how long an evaluation that waits for the outcomes-ready
// signal waits before measuring what it has.
const SignalWait = 365 * 24 * time.Hour

// stateVersion is the version of the adjustment state the decision used;
// 0 for none.
func (r *run) stateVersion() int {
	if r.sum.Strategy == nil || r.sum.Strategy.State == nil {
		return 0
	}
	return r.sum.Strategy.State.Version
}

// run is the state one regeneration passes from stage to stage: the
// summary being filled in and the global statistics later stages need.
type run struct {
	in    RegenerateInput
	track *tracker
	sum   Summary

	notAfter      time.Time       // latest event time accepted (RegenerateInput.notAfter); zero: no limit
	cutoff, end   time.Time       // from ingest
	scaler        features.Scaler // from features
	feat          featureStats    // from features
	defaultBasket float64         // from features
	seg           SegmentOutput   // from segment
	model         TrainOutput     // from train
	recs          recommendations // from recommend
	vocab         vocabRef        // from features
	scoreKeys     []string        // from decide
	approval      *ApprovalRecord // from awaitApproval; nil when not (yet) asked
	approvalAsked time.Time
	start         time.Time // campaign start, from decide
}

// notAfter is the latest event time the run accepts: its start (Start,
// else now, when the run begins) plus FutureTolerance; zero (no limit)
// when the tolerance is negative.
func (in *RegenerateInput) notAfter(now time.Time) time.Time {
	if in.FutureTolerance < 0 {
		return time.Time{}
	}
	start := in.Start
	if start.IsZero() {
		start = now.UTC()
	}
	return start.Add(in.FutureTolerance)
}

// labelEnd is the end of the propensity label window: HorizonDays after the
// cutoff, or the last event if that comes first.
func (r *run) labelEnd() time.Time {
	le := r.cutoff.Add(time.Duration(r.in.HorizonDays) * 24 * time.Hour)
	if le.After(r.end) {
		return r.end
	}
	return le
}
