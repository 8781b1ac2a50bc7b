package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// denseVersion marks the density-clusters step of the segment stage: runs
// recorded before it did not cluster by density, and replay must not
// schedule its activities. The step runs only when asked for
// (RegenerateInput.DenseClusters or a template with exclude_outliers), so
// default runs record no marker and their plans do not change.
const denseVersion = "dense-clusters"

// Density-clusters defaults (docs/FEATURES.md, "Density clusters").
const (
	// DenseSampleSize bounds the users DBSCAN clusters: the features
	// stage's seeded sample (SampleSize) is already about this size.
	DenseSampleSize = 20_000
	// DenseTailCut is the share of the k-distance curve's top left out
	// when looking for its knee (dbscan.ChooseEps).
	DenseTailCut = 0.01
	// DenseFarthest is how many of the farthest outliers the summary
	// profiles.
	DenseFarthest = 10
)

// DenseSummary is the density clusters in the run summary: DBSCAN on the
// segment features of the run's sample, every user assigned to the
// cluster of the nearest core point within eps, or an outlier.
type DenseSummary struct {
	Model       string  `json:"model"` // the core points (layout.DBSCANModel)
	Eps         float64 `json:"eps"`   // radius, standardized units
	EpsChosen   bool    `json:"eps_chosen"`
	MinPts      int     `json:"min_pts"`
	SampleUsers int     `json:"sample_users"`
	SampleCores int     `json:"sample_cores"`
	SampleNoise int     `json:"sample_noise"`
	// Clusters are the dense clusters' profiles, in id order (that of
	// their first core point in the sample); Outliers the users in none.
	Clusters []segment.Profile `json:"clusters"`
	Outliers segment.Profile   `json:"outliers"`
	// Everyone is the mean behaviour of all users, to read the profiles
	// against.
	Everyone map[string]float64 `json:"everyone"`
	// Farthest are the outliers farthest from any dense region: their
	// distances (standardized units, farthest first) and mean behaviour;
	// the rows, ids included, are in the bucket at Table.
	Farthest FarthestOutliers `json:"farthest_outliers"`
	// Excluded says the template leaves the outliers out of the audience.
	Excluded bool `json:"excluded"`
}

// FarthestOutliers are the run's farthest outliers in aggregate.
type FarthestOutliers struct {
	Table     string             `json:"table"` // runs/<run>/dense_outliers.csv
	Distances []float64          `json:"distances"`
	Mean      map[string]float64 `json:"profile"`
}

// denseWanted reports whether the run clusters by density.
func (in *RegenerateInput) denseWanted() bool {
	return in.DenseClusters || in.Spec != nil && in.Spec.ExcludeOutliers
}

// denseClusters runs DBSCAN on the run's sample in one activity (its
// core points go to the bucket), then assigns every user block by block
// and reduces the clusters' profiles into the summary.
func (r *run) denseClusters(ctx workflow.Context) error {
	in := r.in
	if !in.denseWanted() || workflow.GetVersion(ctx, denseVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	actx := withActivityOptions(ctx)
	var fit activities.DBSCANFitOutput
	err := workflow.ExecuteActivity(actx, a.DBSCANFit, activities.DBSCANFitInput{
		RunID: in.RunID, SampleKeys: r.feat.sampleKeys, Scaler: r.scaler, Eps: in.DenseEps,
		TailCut: DenseTailCut, MaxPoints: DenseSampleSize, Seed: in.Seed,
	}).Get(ctx, &fit)
	if err != nil {
		return fmt.Errorf("dbscan: %w", err)
	}
	if fit.Key == "" {
		r.track.detail(StageSegment, fmt.Sprintf("density clusters skipped: %d sampled users, fewer than minPts %d", fit.Points, fit.MinPts))
		return nil
	}
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	outs := make([]activities.DBSCANAssignOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.DBSCANAssign, activities.DBSCANAssignInput{
				RunID: in.RunID, Block: blocks[i], Scaler: r.scaler, Model: fit.Key, Top: DenseFarthest,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &outs[i]) })
	if err != nil {
		return fmt.Errorf("dense assign: %w", err)
	}
	sums := segment.NewSums(fit.Clusters + 1)
	keys := make([]string, len(outs))
	for i, o := range outs {
		if err := sums.Merge(o.Sums); err != nil {
			return fmt.Errorf("shards %d..%d: %w", blocks[i].From, blocks[i].To-1, err)
		}
		keys[i] = o.FarthestKey
	}
	var far activities.DBSCANOutliersOutput
	err = workflow.ExecuteActivity(actx, a.DBSCANOutliers, activities.DBSCANOutliersInput{RunID: in.RunID, Keys: keys, Top: DenseFarthest}).Get(ctx, &far)
	if err != nil {
		return fmt.Errorf("farthest outliers: %w", err)
	}
	names := make([]string, fit.Clusters+1)
	for i := range fit.Clusters {
		names[i] = fmt.Sprintf("dense %d", i)
	}
	names[fit.Clusters] = "outliers"
	profiles := sums.Profiles(names)
	var total int64
	for _, n := range sums.Count {
		total += n
	}
	everyone := map[string]float64{}
	for j, name := range features.Behaviour {
		var sum float64
		for i := range sums.Sum {
			sum += sums.Sum[i][j]
		}
		if total > 0 {
			everyone[name] = sum / float64(total)
		}
	}
	ds := &DenseSummary{
		Model: fit.Key, Eps: fit.Eps, EpsChosen: in.DenseEps <= 0, MinPts: fit.MinPts,
		SampleUsers: fit.Points, SampleCores: fit.Cores, SampleNoise: fit.SampleNoise,
		Clusters: profiles[:fit.Clusters], Outliers: profiles[fit.Clusters],
		Everyone: everyone, Farthest: FarthestOutliers{Table: far.URL, Distances: far.Distances, Mean: far.Mean},
		Excluded: in.Spec != nil && in.Spec.ExcludeOutliers,
	}
	ds.Outliers.ID = -1
	r.sum.DenseClusters = ds
	r.track.detail(StageSegment, fmt.Sprintf("density: %d clusters, %d outliers (eps %.3g, minPts %d)",
		fit.Clusters, ds.Outliers.Size, fit.Eps, fit.MinPts))
	return nil
}
