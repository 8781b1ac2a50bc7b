package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/strategy"
)

// testDBSCANFit is the mock model: two clusters.
var testDBSCANFit = activities.DBSCANFitOutput{
	Key: "runs/t-1/models/dbscan/model.gob", Eps: 1.5, MinPts: 28, Points: 400, Cores: 300, Clusters: 2, SampleNoise: 10,
}

// testDBSCANAssign gives every block of shards 60 users in cluster 0, 30 in
// cluster 1 and 10 outliers of monetary 1000·(first shard + 1).
func testDBSCANAssign(_ context.Context, in activities.DBSCANAssignInput) (activities.DBSCANAssignOutput, error) {
	d := len(features.Names)
	mon := features.Index("monetary")
	out := activities.DBSCANAssignOutput{Sums: segment.NewSums(3), FarthestKey: fmt.Sprint("farthest", in.Block.From)}
	for j := range 100 {
		x := make([]float64, d)
		switch {
		case j < 60:
			x[mon] = 10
			out.Sums.Add(0, x)
		case j < 90:
			x[mon] = 20
			out.Sums.Add(1, x)
		default:
			x[mon] = 1000 * float64(in.Block.From+1)
			out.Sums.Add(2, x)
		}
	}
	return out, nil
}

// testDBSCANOutliers says how many blocks it merged in its mean monetary.
func testDBSCANOutliers(_ context.Context, in activities.DBSCANOutliersInput) (activities.DBSCANOutliersOutput, error) {
	return activities.DBSCANOutliersOutput{Key: "runs/t-1/dense_outliers.csv", URL: "s3://b/runs/t-1/dense_outliers.csv",
		Distances: make([]float64, in.Top), Mean: map[string]float64{"monetary": float64(len(in.Keys))}}, nil
}

// TestDenseClustersOffByDefault: a default run clusters nothing by density
// and excludes no one.
func TestDenseClustersOffByDefault(t *testing.T) {
	var mu sync.Mutex
	var excluded []bool
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DecideScore": recordExclusion(&mu, &excluded)})
	env.ExecuteWorkflow(Regenerate, testInput())
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.DenseClusters != nil {
		t.Errorf("dense clusters %+v in a default run", sum.DenseClusters)
	}
	env.AssertNotCalled(t, "DBSCANFit", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "DBSCANAssign", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "DBSCANOutliers", mock.Anything, mock.Anything)
	if len(excluded) != testShards || excluded[0] {
		t.Errorf("DecideScore exclusions %v", excluded)
	}
}

func recordExclusion(mu *sync.Mutex, excluded *[]bool) func(*testsuite.MockCallWrapper) {
	return func(c *testsuite.MockCallWrapper) {
		c.Return(func(_ context.Context, in activities.DecideScoreInput) (activities.DecideScoreOutput, error) {
			mu.Lock()
			*excluded = append(*excluded, in.ExcludeOutliers)
			mu.Unlock()
			return activities.DecideScoreOutput{Key: "scored", ScoreStats: strategy.ScoreStats{Users: 100, ExploreCost: 1, MaxRatio: 2}}, nil
		})
	}
}

// TestDenseClustersTooFewUsers: a sample smaller than minPts gives no
// model; the run goes on without density clusters and excludes no one.
func TestDenseClustersTooFewUsers(t *testing.T) {
	env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DBSCANFit": func(c *testsuite.MockCallWrapper) {
		c.Return(activities.DBSCANFitOutput{MinPts: 28, Points: 12}, nil)
	}})
	in := testInput()
	in.DenseClusters = true
	env.ExecuteWorkflow(Regenerate, in)
	var sum Summary
	if err := env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	if sum.DenseClusters != nil {
		t.Errorf("dense clusters %+v from no model", sum.DenseClusters)
	}
	env.AssertNumberOfCalls(t, "DBSCANFit", 1)
	env.AssertNotCalled(t, "DBSCANAssign", mock.Anything, mock.Anything)
}

// TestDenseClusters: the run setting fits once, assigns every block, and
// reduces sizes, profiles and the farthest outliers; a template with
// exclude_outliers also runs it and has the decision exclude them.
func TestDenseClusters(t *testing.T) {
	for _, tc := range []struct {
		name           string
		setting, templ bool
	}{
		{name: "run setting", setting: true},
		{name: "template exclude_outliers", templ: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var excluded []bool
			env := newEnv(t, map[string]func(*testsuite.MockCallWrapper){"DecideScore": recordExclusion(&mu, &excluded)})
			in := testInput()
			in.DenseClusters = tc.setting
			spec, cat, err := LoadCampaign("weekly")
			if err != nil {
				t.Fatal(err)
			}
			spec.ExcludeOutliers = tc.templ
			in.Spec, in.Catalog = spec, cat
			env.ExecuteWorkflow(Regenerate, in)
			var sum Summary
			if err := env.GetWorkflowResult(&sum); err != nil {
				t.Fatal(err)
			}
			env.AssertNumberOfCalls(t, "DBSCANFit", 1)
			env.AssertNumberOfCalls(t, "DBSCANAssign", testShards)
			env.AssertNumberOfCalls(t, "DBSCANOutliers", 1)
			ds := sum.DenseClusters
			if ds == nil {
				t.Fatal("no dense clusters in the summary")
			}
			if len(ds.Clusters) != 2 || ds.Clusters[0].Size != 4*60 || ds.Clusters[1].Size != 4*30 || ds.Outliers.Size != 4*10 {
				t.Fatalf("clusters %+v, outliers %+v", ds.Clusters, ds.Outliers)
			}
			if ds.Outliers.Name != "outliers" || ds.Outliers.ID != -1 || ds.Outliers.Share != 0.1 {
				t.Errorf("outliers %q id %d share %v", ds.Outliers.Name, ds.Outliers.ID, ds.Outliers.Share)
			}
			// Outliers' mean monetary: 1000·(1+2+3+4)/4; everyone's adds 60·10+30·20 per block.
			if got := ds.Outliers.Mean["monetary"]; got != 2500 {
				t.Errorf("outliers' mean monetary %v, want 2500", got)
			}
			if got, want := ds.Everyone["monetary"], (4*(600+600)+10*(1000+2000+3000+4000))/400.0; got != want {
				t.Errorf("everyone's mean monetary %v, want %v", got, want)
			}
			if f := ds.Farthest; len(f.Distances) != DenseFarthest || f.Mean["monetary"] != testShards || f.Table != "s3://b/runs/t-1/dense_outliers.csv" {
				t.Errorf("farthest %+v: want %d distances from every block's keys", f, DenseFarthest)
			}
			if ds.Eps != 1.5 || !ds.EpsChosen || ds.Model != testDBSCANFit.Key || ds.Excluded != tc.templ {
				t.Errorf("summary %+v", ds)
			}
			if len(excluded) != testShards || excluded[0] != tc.templ {
				t.Errorf("DecideScore exclusions %v, want %v", excluded, tc.templ)
			}
		})
	}
}
