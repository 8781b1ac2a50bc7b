package workflows

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/segment"
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
	d := len(features.Names)
	defaults := map[string]any{
		"Ingest": func(_ context.Context, in activities.IngestInput) (activities.IngestOutput, error) {
			return activities.IngestOutput{Result: ingest.Result{
				Source: in.Key, RowsRead: 1000, Accepted: 990, Rejected: 10, ByReason: map[string]int64{"bad ts": 10},
				MaxTS: testEnd.Add(-time.Duration(in.Index) * time.Hour),
			}}, nil
		},
		"Features": func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			m := features.NewMoments(d)
			m.Add(make([]float64, d))
			m.Add(onesVec(d))
			return activities.FeaturesOutput{Users: 100, TrainRows: 80, Positives: 20, Moments: m, Buyers: 50, BasketSum: 5000}, nil
		},
		"KMeansSeed": [][]float64{make([]float64, d), onesVec(d)},
		"KMeansStep": func(_ context.Context, in activities.KMeansStepInput) (kmeans.Partial, error) {
			p := kmeans.NewPartial(2, d)
			p.Add(make([]float64, d), in.Centroids)
			p.Add(onesVec(d), in.Centroids)
			return p, nil
		},
		"TrainTrees": func(_ context.Context, in activities.TrainTreesInput) (activities.TrainTreesOutput, error) {
			return activities.TrainTreesOutput{Key: "trees", Trees: 5, Rows: 64, Positives: 16}, nil
		},
		"CombineForest": activities.CombineForestOutput{Key: "forest", Trees: 20},
		"EvaluateForest": func(_ context.Context, in activities.EvaluateInput) (metrics.ScoreHist, error) {
			h := metrics.NewScoreHist(10)
			h.Add(0.9, true)
			h.Add(0.1, false)
			return h, nil
		},
		"Decide": func(_ context.Context, in activities.DecideInput) (activities.DecideOutput, error) {
			s := segment.NewSums(2)
			s.Add(0, make([]float64, d))
			return activities.DecideOutput{Key: "scores", Rows: 100, Control: 10, Offers: map[string]int64{"coupon5": 30}, ExpectedCost: 10, ExpectedIncrementalRevenue: 40, Segments: s}, nil
		},
		"Publish":      activities.PublishOutput{Parquet: "s3://b/p.parquet", CSV: "s3://b/p.csv", Summary: "s3://b/s.json", Rows: 400},
		"WriteSummary": "s3://b/s.json",
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
	env.AssertNumberOfCalls(t, "Decide", testShards)
}

func TestRegenerateRetriesFailedShard(t *testing.T) {
	// Shard 2's features fail twice with a transient error, then succeed.
	d := len(features.Names)
	failures := 0
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"Features": func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.FeaturesInput) (activities.FeaturesOutput, error) {
			if in.Shard == 2 && failures < 2 {
				failures++
				return activities.FeaturesOutput{}, errors.New("connection reset")
			}
			m := features.NewMoments(d)
			m.Add(onesVec(d))
			return activities.FeaturesOutput{Users: 100, Moments: m}, nil
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
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"Ingest": func(c *testsuite.MockCallWrapper) {
		c.Return(activities.IngestOutput{},
			temporal.NewNonRetryableApplicationError("raw/t/a.csv: column \"ts\": bad ts", activities.BadInputType, nil))
	}})
	env.ExecuteWorkflow(Regenerate, testInput())
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), `column "ts"`) {
		t.Fatalf("err = %v, want the bad-input error", err)
	}
	env.AssertNumberOfCalls(t, "Ingest", 2) // each input once: bad input is not retried
	env.AssertNotCalled(t, "Publish", mock.Anything, mock.Anything)
}

func TestProgressQuery(t *testing.T) {
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){
		"Decide": func(c *testsuite.MockCallWrapper) {
			c.After(time.Hour).Return(func(_ context.Context, in activities.DecideInput) (activities.DecideOutput, error) {
				return activities.DecideOutput{Key: "scores", Rows: 100, Offers: map[string]int64{}, Segments: segment.NewSums(2)}, nil
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
	d := len(features.Names)
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
		Scaler: features.Scaler{Mean: make([]float64, d), Std: onesVec(d)}})
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
	for _, name := range []string{"regenerate", "segment", "train"} {
		t.Run(name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Regenerate)
			r.RegisterWorkflow(Segment)
			r.RegisterWorkflow(Train)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/"+name+".history.json"); err != nil {
				t.Fatalf("replay %s: %v", name, err)
			}
		})
	}
}
