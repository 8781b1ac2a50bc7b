package workflows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/strategy"
)

const testShards = 4

var testEnd = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func testInput() RegenerateInput {
	return RegenerateInput{RunID: "t-1", Template: "weekly", Inputs: []string{"raw/t/a.csv", "raw/t/b.csv"}, Shards: testShards, Seed: 1, K: 2, Window: 2}
}

// newEnv returns a test environment whose activities are mocks returning
// small, consistent aggregates: every shard has 100 users, 10 of them
// control. override replaces the mock of the named activities.
func newEnv(t *testing.T, override map[string]func(*testsuite.MockCallWrapper)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Segment)
	env.RegisterWorkflow(Train)
	env.RegisterActivity(&activities.Activities{})
	d, ds := len(features.Names), len(features.SegmentNames)
	defaults := map[string]any{
		// Ingest: each input is one source of 1,000 rows in one split: 990
		// accepted (all in shard 0), 10 rejected for a bad ts; input i's
		// last event is i hours before testEnd.
		"IngestPlan": func(_ context.Context, in activities.IngestPlanInput) (activities.IngestPlanOutput, error) {
			return activities.IngestPlanOutput{Sources: []activities.IngestSource{{Name: fmt.Sprint(in.Index), Key: in.Key, Table: "events", Splits: []ingest.Split{{}}}}}, nil
		},
		"IngestSplit": activities.IngestSplitOutput{Counts: ingest.SplitCounts{RowsRead: 1000}, Chunks: 1},
		"IngestFinalize": func(_ context.Context, in activities.IngestFinalizeInput) (activities.IngestFinalizeOutput, error) {
			out := activities.IngestFinalizeOutput{LateRejects: make([]string, len(in.Sources))}
			for i := range in.Sources {
				var c ingest.FinalCounts
				if in.Partition == 0 {
					last := testEnd.Add(-time.Duration(i) * time.Hour).UnixMilli()
					c = ingest.FinalCounts{Accepted: 990, Rows: 990, MinTS: last, MaxTS: last}
				}
				out.Counts = append(out.Counts, c)
			}
			return out, nil
		},
		"IngestRejects": func(_ context.Context, in activities.IngestRejectsInput) (activities.IngestRejectsOutput, error) {
			var out activities.IngestRejectsOutput
			for _, s := range in.Sources {
				out.Keys = append(out.Keys, "rejects/"+s.Name)
				out.Counts = append(out.Counts, ingest.RejectCounts{Rejected: 10, ByReason: map[string]int64{"bad ts": 10}})
			}
			return out, nil
		},
		"Features": func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			m := features.NewMoments(d)
			m.Add(make([]float64, d))
			m.Add(onesVec(d))
			out := activities.FeaturesOutput{Users: 100, TrainRows: 80, Positives: 20, Moments: m, Buyers: 50, BasketSum: 5000}
			if in.Lists != nil {
				out.Listed, out.Sources = 100, map[string]int64{"copurchase": 1000}
			}
			return out, nil
		},
		"Profile": func(_ context.Context, in activities.ProfileInput) (activities.ProfileOutput, error) {
			return activities.ProfileOutput{Users: 100, Events: 1000, TermsKey: fmt.Sprint("terms", in.Block.From), PricesKey: fmt.Sprint("prices", in.Block.From)}, nil
		},
		"Vocabulary":    activities.VocabularyOutput{Key: "vocabulary", PricesKey: "prices", Docs: 400, Counted: 20, Terms: 10},
		"Quantiles":     features.Quantiles{},
		"KMeansChooseK": activities.KMeansChooseKOutput{K: 2, Scores: []kmeans.KScore{{K: 2, Cost: 1, Silhouette: 0.5}}},
		"KMeansSample": func(_ context.Context, in activities.KMeansSampleInput) (activities.KMeansSampleOutput, error) {
			o := activities.KMeansSampleOutput{Key: fmt.Sprintf("round%d/shard%d", in.Round, in.Block.From), Rows: 1, Users: 100, MinU: 0.5 / float64(1+in.Block.From)}
			if in.Round > 0 {
				o.Cost = 10
			}
			return o, nil
		},
		"KMeansGather": func(_ context.Context, in activities.KMeansGatherInput) (activities.KMeansGatherOutput, error) {
			return activities.KMeansGatherOutput{Key: fmt.Sprint("candidates", in.Round), Count: 4}, nil
		},
		"KMeansWeigh": activities.KMeansWeighOutput{Counts: []int64{25, 25, 25, 25}, Cost: 40},
		"KMeansReduce": func(_ context.Context, in activities.KMeansReduceInput) (activities.KMeansReduceOutput, error) {
			c := make([][]float64, in.K)
			for j := range c {
				c[j] = make([]float64, ds)
				for i := range c[j] {
					c[j][i] = float64(j)
				}
			}
			return activities.KMeansReduceOutput{Centroids: c, Candidates: len(in.Weights)}, nil
		},
		"KMeansStep": func(_ context.Context, in activities.KMeansStepInput) (kmeans.Partial, error) {
			p := kmeans.NewPartial(len(in.Centroids), ds)
			p.Add(make([]float64, ds), in.Centroids)
			p.Add(onesVec(ds), in.Centroids)
			return p, nil
		},
		"SegmentAssign": func(_ context.Context, in activities.SegmentAssignInput) (activities.SegmentAssignOutput, error) {
			s := segment.NewSums(len(in.Centroids))
			s.Add(0, make([]float64, d))
			return activities.SegmentAssignOutput{TermsKey: fmt.Sprint("terms", in.Block.From), Users: 100, Sums: s}, nil
		},
		"SegmentTerms": func(_ context.Context, in activities.SegmentTermsInput) (activities.SegmentTermsOutput, error) {
			t := make([][]segment.Term, in.K)
			t[0] = []segment.Term{{Term: "boot", Weight: 0.5, Lift: 2}}
			return activities.SegmentTermsOutput{Terms: t, Categories: make([][]segment.Term, in.K)}, nil
		},
		"RecommendModel": activities.RecommendModelOutput{Key: "runs/t-1/recommendations/model.gob", Users: 400, Items: 50},
		"Recommend": func(_ context.Context, in activities.RecommendInput) (activities.RecommendOutput, error) {
			var keys []string
			for i := in.Block.From; i < in.Block.To; i++ {
				keys = append(keys, fmt.Sprint("recommendations", i))
			}
			return activities.RecommendOutput{Keys: keys, Users: 100 * int64(in.Block.Len()), Sources: map[string]int64{"copurchase": 1000}}, nil
		},
		"RecommendationsTable": activities.RecommendationsTableOutput{URL: "s3://b/runs/t-1/recommendations.parquet", Rows: 4000},
		"DBSCANFit":            testDBSCANFit,
		"DBSCANAssign":         testDBSCANAssign,
		"DBSCANOutliers":       testDBSCANOutliers,
		"PublishFeatures":      activities.PublishFeaturesOutput{Key: "runs/t-1/features.parquet", URL: "s3://b/runs/t-1/features.parquet", Rows: 400},
		"SketchShard":          func(context.Context, activities.SketchInput) error { return nil },
		"MergeBins":            activities.MergeBinsOutput{Key: "runs/t-1/models/propensity/bins.json", Bins: 4},
		"WriteHoldoutScores":   "runs/t-1/models/propensity/holdout_scores.csv",
		"TrainTrees": func(_ context.Context, in activities.TrainTreesInput) (activities.TrainTreesOutput, error) {
			return activities.TrainTreesOutput{Key: "trees", Trees: 5, Rows: 64, Positives: 16}, nil
		},
		"CombineForest": activities.CombineForestOutput{Key: "forest", Trees: 20},
		"TrainBoost":    activities.TrainBoostOutput{Key: "runs/t-1/models/propensity/gbdt.json", Trees: 30, Rounds: 50, Rows: 256, Sampled: 256, Positives: 64},
		"EvaluateForest": func(_ context.Context, in activities.EvaluateInput) (metrics.ScoreHist, error) {
			h := metrics.NewScoreHist(10)
			h.Add(0.9, true)
			h.Add(0.1, false)
			return h, nil
		},
		"DecidePrepare": activities.DecidePrepareOutput{},
		"DecideHistory": activities.DecideHistoryOutput{Uplift: strategy.UpliftInfo{Reason: "no campaign history yet"}},
		"DecideScore": func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
			return activities.DecideScoreOutput{Key: fmt.Sprint("scored", in.Shard), ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
		},
		"DecideCurve": func(_ context.Context, in activities.DecideCurveInput) (budget.Curve, error) {
			c := budget.NewCurve(in.Lambdas)
			for k, l := range in.Lambdas {
				c.Cost[k], c.Chosen[k] = math.Max(0, 10*(2-l)), int64(math.Max(0, 30*(2-l)))
			}
			return c, nil
		},
		"DecideAssign": func(_ context.Context, in activities.DecideAssignInput) (activities.DecideAssignOutput, error) {
			t := strategy.NewTally(len(in.Params.Offers))
			i := slices.IndexFunc(in.Params.Offers, func(o campaign.Offer) bool { return o.ID == "coupon5" })
			t.Users, t.Control, t.Treated, t.Cost, t.Revenue = 100, 10, 30, 10, 40
			t.Offers[i].Users, t.Offers[i].Cost = 30, 10
			return activities.DecideAssignOutput{Key: fmt.Sprint("plan", in.Shard), Rows: 100, Tally: t}, nil
		},
		"DecideUpgrades": func(context.Context, activities.DecideUpgradesInput) ([]strategy.Upgrade, error) { return nil, nil },
		"DeleteStaged":   activities.DeleteStagedOutput{Objects: 7},
		"RecordContacts": "state/contacts/2026-11-27_t-1.txt",
		"Publish":        activities.PublishOutput{Parquet: "s3://b/p.parquet", CSV: "s3://b/p.csv", Summary: "s3://b/s.json", Rows: 400},
		"WriteSummary":   "s3://b/s.json",
		"WriteReport": func(_ context.Context, in activities.WriteReportInput) (string, error) {
			return "s3://b/" + in.Key, nil
		},
	}
	for name, ret := range defaults {
		call := env.OnActivity(name, mock.Anything, mock.Anything)
		switch f, ok := override[name]; {
		case ok:
			f(call)
		case reflect.TypeOf(ret).Kind() == reflect.Func:
			call.Return(ret)
		default:
			call.Return(ret, nil)
		}
	}
	return env
}

// testScaler is the identity on features.SegmentNames.
func testScaler() features.Scaler {
	d := len(features.SegmentNames)
	s := features.Scaler{Names: features.SegmentNames, Log: make([]bool, d), Lo: make([]float64, d), Hi: onesVec(d), Mean: make([]float64, d), Std: onesVec(d)}
	for _, n := range features.SegmentNames {
		s.Cols = append(s.Cols, features.Index(n))
	}
	return s
}

func onesVec(d int) []float64 {
	v := make([]float64, d)
	for i := range v {
		v[i] = 1
	}
	return v
}

func TestRegenerateReducesShards(t *testing.T) {
	env := newEnv(t, nil)
	env.ExecuteWorkflow(Regenerate, testInput())
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"input rows", sum.InputRows, 2000},
		{"rejected", sum.Ingest.Rejected, 20},
		{"bad ts", sum.Ingest.ByReason["bad ts"], 20},
		{"users", sum.Users, 4 * 100},
		{"plan rows", sum.Plan.Rows, 400},
		{"control", sum.Plan.ControlRows, 40},
		{"treated", sum.Plan.TreatedRows, 120},
		{"coupon5", sum.Plan.Offers["coupon5"], 120},
		{"segment 0 size", sum.Segments[0].Size, 4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if !sum.End.Equal(testEnd) || !sum.Cutoff.Equal(testEnd.Add(-28*24*time.Hour)) {
		t.Errorf("end %v cutoff %v: want the latest event and 28 days before", sum.End, sum.Cutoff)
	}
	if sum.Plan.ExpectedCost != 40 || sum.Plan.Summary != "s3://b/s.json" {
		t.Errorf("plan %+v", sum.Plan)
	}
	if len(sum.StageSeconds) != len(Stages) {
		t.Errorf("stage seconds for %d stages, want %d", len(sum.StageSeconds), len(Stages))
	}
	// 4 shards x (1 features + 2 k-means + 1 trees + 1 evaluate + 1 decide).
	env.AssertNumberOfCalls(t, "Features", testShards)
	env.AssertNumberOfCalls(t, "KMeansStep", 2*testShards)
	env.AssertNumberOfCalls(t, "DecideScore", testShards)
	env.AssertNumberOfCalls(t, "DecideAssign", testShards)
	if st := sum.Strategy; st == nil || st.Budget.Total != 10000 || st.Budget.Used != 40 || st.Audience.Control != 40 || st.Budget.Lambda != 0 {
		t.Errorf("strategy summary %+v", st)
	}
}

// TestRegeneratePropensityModel checks that a run boosts its propensity
// model unless it asks for the forest, and that the decision scores with
// the model the run trained.
func TestRegeneratePropensityModel(t *testing.T) {
	for _, tc := range []struct {
		propensity, model, key string
		trees                  int
	}{
		{"", ModelBoost, "runs/t-1/models/propensity/gbdt.json", 30},
		{ModelForest, "", "forest", 20},
	} {
		t.Run(tc.model, func(t *testing.T) {
			var mu sync.Mutex
			var scoredWith []string
			env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DecideScore": func(c *testsuite.MockCallWrapper) {
				c.Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
					mu.Lock()
					scoredWith = append(scoredWith, in.ForestKey)
					mu.Unlock()
					return activities.DecideScoreOutput{Key: fmt.Sprint("scored", in.Shard), ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
				})
			}})
			in := testInput()
			in.Propensity = tc.propensity
			env.ExecuteWorkflow(Regenerate, in)
			var sum Summary
			if err := env.GetWorkflowResult(&sum); err != nil {
				t.Fatal(err)
			}
			if sum.Models.Propensity == nil {
				t.Fatal("summary without a propensity model")
			}
			m := *sum.Models.Propensity
			if m.Model != tc.model || m.ForestKey != tc.key || m.Trees != tc.trees {
				t.Errorf("propensity model %q at %q, %d trees; want %q at %q, %d", m.Model, m.ForestKey, m.Trees, tc.model, tc.key, tc.trees)
			}
			if len(scoredWith) != testShards || scoredWith[0] != tc.key {
				t.Errorf("DecideScore used %v, want %q on %d shards", scoredWith, tc.key, testShards)
			}
			if tc.model == ModelBoost {
				env.AssertNotCalled(t, "TrainTrees", mock.Anything, mock.Anything)
				env.AssertNumberOfCalls(t, "TrainBoost", 1)
			} else {
				env.AssertNotCalled(t, "TrainBoost", mock.Anything, mock.Anything)
			}
		})
	}
}

// TestRegenerateDeletesStaging checks that the run deletes its ingest
// staging once, after the rejects are written and beside the features
// stage's first activity, Profile (before its second, Vocabulary), and counts it in the summary; and that a deletion failing
// through its retries leaves the run to go on.
func TestRegenerateDeletesStaging(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool
		calls   int
		deleted int
	}{
		{"deleted", false, 1, 7},
		{"deletion fails", true, 5, 0}, // retry.MaximumAttempts
	} {
		t.Run(tc.name, func(t *testing.T) {
			var override map[string]func(*testsuite.MockCallWrapper)
			if tc.fail {
				override = map[string]func(*testsuite.MockCallWrapper){"DeleteStaged": func(c *testsuite.MockCallWrapper) {
					c.Return(activities.DeleteStagedOutput{}, errors.New("service unavailable"))
				}}
			}
			env := newEnv(t, override)
			// scheduled is the first activity ID of each activity type: IDs
			// count the activities in the order the workflow scheduled them,
			// which, unlike the order the test environment starts them in,
			// is deterministic.
			scheduled := map[string]int{}
			var runIDs []string
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
				id, err := strconv.Atoi(info.ActivityID)
				if err != nil {
					t.Errorf("activity ID %q: %v", info.ActivityID, err)
				}
				if n := info.ActivityType.Name; scheduled[n] == 0 || id < scheduled[n] {
					scheduled[n] = id
				}
				if info.ActivityType.Name == "DeleteStaged" {
					var in activities.DeleteStagedInput
					if err := args.Get(&in); err != nil {
						t.Error(err)
					}
					runIDs = append(runIDs, in.RunID)
				}
			})
			env.ExecuteWorkflow(Regenerate, testInput())
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			env.AssertNumberOfCalls(t, "DeleteStaged", tc.calls)
			var sum Summary
			if err := env.GetWorkflowResult(&sum); err != nil {
				t.Fatal(err)
			}
			if sum.Ingest.StagedDeleted != tc.deleted {
				t.Errorf("staged deleted = %d, want %d", sum.Ingest.StagedDeleted, tc.deleted)
			}
			if runIDs[0] != testInput().RunID {
				t.Errorf("DeleteStaged of run %q, want %q", runIDs[0], testInput().RunID)
			}
			// DeleteStaged is scheduled in the workflow task that schedules
			// the features stage's Profile activities, and runs beside them.
			// (Which of them the test environment starts first is a race,
			// and under load it started DeleteStaged after Vocabulary.)
			del, rejects, vocabulary := scheduled["DeleteStaged"], scheduled["IngestRejects"], scheduled["Vocabulary"]
			if rejects == 0 || del < rejects || del > vocabulary {
				t.Errorf("first activity IDs %v: want DeleteStaged scheduled after IngestRejects, beside the features stage's Profile, before Vocabulary", scheduled)
			}
		})
	}
}

func TestRegenerateRetriesFailedShard(t *testing.T) {
	// Shard 2's features fail twice with a transient error, then succeed.
	d := len(features.Names)
	failures := 0
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"Features": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			if in.Block.From == 2 && failures < 2 {
				failures++
				return activities.FeaturesOutput{}, errors.New("connection reset")
			}
			m := features.NewMoments(d)
			m.Add(onesVec(d))
			return activities.FeaturesOutput{Users: 100, TrainRows: 80, Positives: 20, Moments: m}, nil
		})
	}})
	env.ExecuteWorkflow(Regenerate, testInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	env.AssertNumberOfCalls(t, "Features", testShards+2)
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.Users != testShards*100 {
		t.Errorf("users = %d after retries, want %d", sum.Users, testShards*100)
	}
}

func TestRegenerateStopsOnBadInput(t *testing.T) {
	// Both inputs' plans are in flight at once; when the first fails the
	// workflow stops, so the other may or may not have been called. What
	// must hold: no input planned twice (bad input is not retried), and
	// nothing after the plan.
	var mu sync.Mutex
	calls := map[string]int{}
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"IngestPlan": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.IngestPlanInput) (activities.IngestPlanOutput, error) {
			mu.Lock()
			calls[in.Key]++
			mu.Unlock()
			return activities.IngestPlanOutput{},
				temporal.NewNonRetryableApplicationError(in.Key+": column \"ts\": bad ts", activities.BadInputType, nil)
		})
	}})
	in := testInput()
	env.ExecuteWorkflow(Regenerate, in)
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), `column "ts"`) {
		t.Fatalf("err = %v, want the bad-input error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for key, n := range calls {
		total += n
		if n != 1 {
			t.Errorf("%s planned %d times: bad input must not be retried", key, n)
		}
	}
	if total < 1 || total > len(in.Inputs) {
		t.Errorf("%d plan calls (%v), want 1..%d", total, calls, len(in.Inputs))
	}
	env.AssertNotCalled(t, "IngestSplit", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "Publish", mock.Anything, mock.Anything)
}

func TestProgressQuery(t *testing.T) {
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"DecideScore": func(c *testsuite.MockCallWrapper) {
			c.After(time.Hour).Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
				return activities.DecideScoreOutput{Key: fmt.Sprint("scored", in.Shard), ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
			})
		},
	})
	var mid Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(ProgressQuery)
		if err != nil {
			t.Error(err)
			return
		}
		if err := v.Get(&mid); err != nil {
			t.Error(err)
		}
	}, 30*time.Minute)
	env.ExecuteWorkflow(Regenerate, testInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if mid.Stage != StageDecide {
		t.Fatalf("mid-run stage = %q, want %q (%+v)", mid.Stage, StageDecide, mid)
	}
	for _, s := range mid.Stages {
		want := Done
		switch s.Name {
		case StageDecide:
			want = Running
		case StagePublish:
			want = Pending
		}
		if s.State != want {
			t.Errorf("stage %s is %s mid-run, want %s", s.Name, s.State, want)
		}
	}
	v, err := env.QueryWorkflow(ProgressQuery)
	if err != nil {
		t.Fatal(err)
	}
	var end Progress
	if err := v.Get(&end); err != nil {
		t.Fatal(err)
	}
	if end.Stage != Done || end.Stages[len(end.Stages)-1].State != Done {
		t.Errorf("final progress %+v", end)
	}
}

func TestSegmentContinuesAsNew(t *testing.T) {
	d := len(features.SegmentNames)
	cost := 1000.0
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"KMeansStep": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.KMeansStepInput) (kmeans.Partial, error) {
			p := kmeans.NewPartial(2, d)
			p.Add(make([]float64, d), in.Centroids)
			p.Add(onesVec(d), in.Centroids)
			cost /= 2 // never converges
			p.Cost = cost
			return p, nil
		})
	}})
	env.ExecuteWorkflow(Segment, SegmentInput{RunID: "t", Shards: 2, K: 2, Users: 10, PerHistory: 3, MaxIter: 100,
		Scaler: testScaler()})
	var can *workflow.ContinueAsNewError
	err := env.GetWorkflowError()
	if !errors.As(err, &can) {
		t.Fatalf("err = %v, want continue-as-new after 3 iterations", err)
	}
	var next SegmentInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Iter != 3 || len(next.Centroids) != 2 || next.PrevCost == 0 {
		t.Errorf("carried state: iter %d, %d centroids, prev cost %v", next.Iter, len(next.Centroids), next.PrevCost)
	}
}

func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.history.json")
	if err != nil {
		t.Fatal(err)
	}
	// The first recordings, kept (later ones add a date to the name).
	for _, name := range []string{"regenerate", "segment", "train", "simulate", "evaluate"} {
		if !slices.Contains(files, "testdata/"+name+".history.json") {
			t.Errorf("testdata/%s.history.json is missing", name)
		}
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".history.json"), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Regenerate)
			r.RegisterWorkflow(Segment)
			r.RegisterWorkflow(Train)
			r.RegisterWorkflow(Simulate)
			r.RegisterWorkflow(Evaluate)
			r.RegisterWorkflow(LiveCampaign)
			r.RegisterWorkflow(LiveSlice)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

// TestIngestSplitInputsCarryTheirSplit: each split's activity input holds
// its own split, not its source's list of every split (which made the
// inputs grow with the square of the splits).
func TestIngestSplitInputsCarryTheirSplit(t *testing.T) {
	splits := []ingest.Split{{Index: 0, Start: 10, End: 100, Line: 2}, {Index: 1, Start: 100, End: 200, Line: 9}, {Index: 2, Start: 200, End: -1, Line: 17}}
	var mu sync.Mutex
	seen := map[string]int{}
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"IngestPlan": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.IngestPlanInput) (activities.IngestPlanOutput, error) {
				return activities.IngestPlanOutput{Sources: []activities.IngestSource{{Name: fmt.Sprint(in.Index), Key: in.Key, Table: "events", Splits: splits}}}, nil
			})
		},
		"IngestSplit": func(c *testsuite.MockCallWrapper) {
			c.Return(func(_ context.Context, in activities.IngestSplitInput) (activities.IngestSplitOutput, error) {
				mu.Lock()
				defer mu.Unlock()
				seen[fmt.Sprint(in.Source.Name, "/", in.Split)]++
				if len(in.Source.Splits) != 0 || in.Range == nil || *in.Range != splits[in.Split] {
					t.Errorf("split %s/%d: %d splits listed, range %v, want none listed and %v", in.Source.Name, in.Split, len(in.Source.Splits), in.Range, splits[in.Split])
				}
				rows := int64(333) // the mocked finalize accounts for 1,000 rows per input
				if in.Split == 0 {
					rows++
				}
				return activities.IngestSplitOutput{Counts: ingest.SplitCounts{RowsRead: rows}, Chunks: 1}, nil
			})
		},
	})
	in := testInput()
	env.ExecuteWorkflow(Regenerate, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(in.Inputs)*len(splits) {
		t.Errorf("staged %v, want each of %d splits of %d inputs once", seen, len(splits), len(in.Inputs))
	}
}

// TestNotAfter: the latest event a run accepts is its start (else the
// time it began) plus the tolerance; a negative tolerance has no limit.
func TestNotAfter(t *testing.T) {
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		start     time.Time
		tolerance time.Duration
		want      time.Time
	}{
		{"start plus the default", start, 0, start.Add(24 * time.Hour)},
		{"no start: now", time.Time{}, 0, now.Add(24 * time.Hour)},
		{"own tolerance", start, time.Hour, start.Add(time.Hour)},
		{"no limit", start, -1, time.Time{}},
	} {
		in := testInput()
		in.Start, in.FutureTolerance = tc.start, tc.tolerance
		in.Defaults()
		if got := in.notAfter(now); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRegenerateTooLittleData: features short of users, labelled rows and
// buyers stop the run before segments and training, with a non-retryable
// error that names what fell short and what is needed.
func TestRegenerateTooLittleData(t *testing.T) {
	d := len(features.Names)
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"Features": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			m := features.NewMoments(d)
			m.Add(onesVec(d))
			// 4 shards: 8 users, 4 labelled, 1 buyer.
			return activities.FeaturesOutput{Users: 2, TrainRows: 1, Positives: int64(in.Block.From % 4 / 3), Moments: m}, nil
		})
	}})
	env.ExecuteWorkflow(Regenerate, testInput())
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	for e := err; e != nil; e = errors.Unwrap(e) {
		if a, ok := e.(*temporal.ApplicationError); ok && a.Type() == InsufficientDataType {
			app = a
		}
	}
	if app == nil || !app.NonRetryable() {
		t.Fatalf("error %v, want a non-retryable %s", err, InsufficientDataType)
	}
	for _, want := range []string{
		"8 users (need 50)",
		"4 labelled users, with events before the cutoff 2026-10-26 (need 50)",
		"1 buyers in the label window 2026-10-26 .. 2026-11-23 (need 5)",
		"3 labelled users who did not buy in the label window (need 5)",
		"1980 accepted events from 2026-11-22 to 2026-11-23",
		"--horizon-days (now 28)",
	} {
		if !strings.Contains(app.Message(), want) {
			t.Errorf("error %q lacks %q", app.Message(), want)
		}
	}
	env.AssertNotCalled(t, "KMeansSample", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "TrainTrees", mock.Anything, mock.Anything)
}

// TestRecommendationsBesideStages checks that the recommendations step
// runs beside the segment and train stages (the model is trained while
// segments are assigned: its mock waits for SegmentAssign), that the
// decide stage waits for it, and that its failure stops the run before
// any plan row is written.
func TestRecommendationsInFeatures(t *testing.T) {
	assigned := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var listed []activities.Lists
	feats := func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			d := len(features.Names)
			m := features.NewMoments(d)
			m.Add(make([]float64, d))
			m.Add(onesVec(d))
			if in.Lists == nil {
				return activities.FeaturesOutput{}, temporal.NewNonRetryableApplicationError("no lists asked for", "test", nil)
			}
			mu.Lock()
			listed = append(listed, *in.Lists)
			mu.Unlock()
			return activities.FeaturesOutput{Users: 100, TrainRows: 80, Positives: 20, Moments: m, Buyers: 50, BasketSum: 5000,
				Listed: 90, Sources: map[string]int64{"copurchase": 700, "popularity": 200}}, nil
		})
	}
	table := func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.RecommendationsTableInput) (activities.RecommendationsTableOutput, error) {
			if len(in.Keys) != testShards || in.Keys[1] != layout.Recommendations(in.RunID, 1) {
				return activities.RecommendationsTableOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("keys %v", in.Keys), "test", nil)
			}
			select {
			case <-assigned:
				return activities.RecommendationsTableOutput{URL: "s3://b/runs/t-1/recommendations.parquet", Rows: 3600}, nil
			case <-time.After(20 * time.Second):
				return activities.RecommendationsTableOutput{}, temporal.NewNonRetryableApplicationError("segments were not assigned beside the table", "test", nil)
			}
		})
	}
	assign := func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.SegmentAssignInput) (activities.SegmentAssignOutput, error) {
			once.Do(func() { close(assigned) })
			s := segment.NewSums(len(in.Centroids))
			s.Add(0, make([]float64, len(features.SegmentNames)))
			return activities.SegmentAssignOutput{TermsKey: fmt.Sprint("terms", in.Block.From), Users: 100, Sums: s}, nil
		})
	}
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"Features": feats, "RecommendationsTable": table, "SegmentAssign": assign})
	env.ExecuteWorkflow(Regenerate, testInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	rs := sum.Recommendations
	if rs == nil || rs.Users != testShards*90 || rs.Sources["copurchase"] != testShards*700 || rs.Rows != 3600 || rs.ModelUsers != 400 {
		t.Fatalf("recommendations %+v: want %d users, %d co-purchase picks, 3,600 rows", rs, testShards*90, testShards*700)
	}
	if len(listed) != testShards {
		t.Fatalf("%d Features activities asked for lists, want %d", len(listed), testShards)
	}
	for _, l := range listed {
		if l.ModelKey != "runs/t-1/recommendations/model.gob" || l.K != RecommendK {
			t.Errorf("lists %+v: want the model's key and K %d", l, RecommendK)
		}
	}
	env.AssertNotCalled(t, "Recommend", mock.Anything, mock.Anything)
	env.AssertNumberOfCalls(t, "RecommendModel", 1)

	for name, fail := range map[string]string{"RecommendModel": "model unreadable", "RecommendationsTable": "bucket full"} {
		failure := temporal.NewNonRetryableApplicationError(fail, "test", nil)
		failing := func(c *testsuite.MockCallWrapper) {
			if name == "RecommendModel" {
				c.Return(activities.RecommendModelOutput{}, failure)
			} else {
				c.Return(activities.RecommendationsTableOutput{}, failure)
			}
		}
		env = newEnv(t, map[string]func(*testsuite.MockCallWrapper){name: failing})
		env.ExecuteWorkflow(Regenerate, testInput())
		err := env.GetWorkflowError()
		if err == nil || !strings.Contains(err.Error(), "recommendations") || !strings.Contains(err.Error(), fail) {
			t.Fatalf("%s failing: err = %v, want the recommendations' failure", name, err)
		}
		env.AssertNotCalled(t, "DecideAssign", mock.Anything, mock.Anything)
		env.AssertNotCalled(t, "Publish", mock.Anything, mock.Anything)
	}
}

// TestTrainBesideSegment checks that the train stage starts beside the
// segment stage: the segments' assignment waits for the booster to have
// started, which a train stage after the segment stage never would.
func TestTrainBesideSegment(t *testing.T) {
	training := make(chan struct{})
	var once sync.Once
	boost := func(c *testsuite.MockCallWrapper) {
		c.Return(func(context.Context, activities.TrainBoostInput) (activities.TrainBoostOutput, error) {
			once.Do(func() { close(training) })
			return activities.TrainBoostOutput{Key: "runs/t-1/models/propensity/gbdt.json", Trees: 30, Rounds: 50, Rows: 256, Sampled: 256, Positives: 64}, nil
		})
	}
	assign := func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.SegmentAssignInput) (activities.SegmentAssignOutput, error) {
			select {
			case <-training:
			case <-time.After(20 * time.Second):
				return activities.SegmentAssignOutput{}, temporal.NewNonRetryableApplicationError("the booster did not start beside the segments", "test", nil)
			}
			s := segment.NewSums(len(in.Centroids))
			s.Add(0, make([]float64, len(features.SegmentNames)))
			return activities.SegmentAssignOutput{TermsKey: fmt.Sprint("terms", in.Block.From), Users: 100, Sums: s}, nil
		})
	}
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"TrainBoost": boost, "SegmentAssign": assign})
	env.ExecuteWorkflow(Regenerate, testInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.Models.Propensity == nil || sum.Models.Propensity.Trees != 30 {
		t.Fatalf("propensity %+v: want the booster's 30 trees", sum.Models.Propensity)
	}
	// The features pass wrote the training sketches (sketchVersion): the
	// train stage merges them without reading the training tables again.
	env.AssertNotCalled(t, "SketchShard", mock.Anything, mock.Anything)
	env.AssertNumberOfCalls(t, "MergeBins", 1)
	for _, s := range sum.Stages {
		if s.State != Done {
			t.Errorf("stage %s: %s, want done", s.Name, s.State)
		}
	}
}
