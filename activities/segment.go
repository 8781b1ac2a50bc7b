package activities

import (
	"context"
	"fmt"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// KMeansSeedInput asks for initial centroids.
type KMeansSeedInput struct {
	RunID  string
	Shards int
	K      int
	Seed   int64
	Scaler features.Scaler
	Sample int // users to sample over all shards
	Users  int64
}

// KMeansSeed picks initial centroids: a seeded sample of users from every
// shard, clustered in process by the best of a few k-means++ runs. Only the
// centroids leave the activity.
func (a *Activities) KMeansSeed(ctx context.Context, in KMeansSeedInput) (_ [][]float64, err error) {
	defer final(&err)
	rate := 1.0
	if in.Users > 0 && int64(in.Sample) < in.Users {
		rate = float64(in.Sample) / float64(in.Users)
	}
	salt := fmt.Sprintf("%d/kmeans-sample", in.Seed)
	var points [][]float64
	for i := 0; i < in.Shards; i++ {
		rows, err := a.readFeatures(ctx, layout.Features(in.RunID, i), features.Schema)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		for _, r := range rows {
			if shard.Unit(salt, r.UserID) < rate {
				points = append(points, in.Scaler.Apply(r.Values))
			}
		}
	}
	if len(points) < in.K {
		return nil, fmt.Errorf("k-means seed: %d sampled users for k = %d", len(points), in.K)
	}
	centroids, _ := kmeans.Best(points, in.K, uint64(in.Seed), 5)
	return centroids, nil
}

// KMeansStepInput is one Lloyd iteration on one shard.
type KMeansStepInput struct {
	RunID     string
	Shard     int
	Scaler    features.Scaler
	Centroids [][]float64
}

// KMeansStep assigns the shard's users to their nearest centroid and returns
// the partial sums the workflow reduces into new centroids.
func (a *Activities) KMeansStep(ctx context.Context, in KMeansStepInput) (_ kmeans.Partial, err error) {
	defer final(&err)
	rows, err := a.readFeatures(ctx, layout.Features(in.RunID, in.Shard), features.Schema)
	if err != nil {
		return kmeans.Partial{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	p := kmeans.NewPartial(len(in.Centroids), len(features.Names))
	for _, r := range rows {
		p.Add(in.Scaler.Apply(r.Values), in.Centroids)
	}
	return p, nil
}
