package layout

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// Keys of the features and segment stages (docs/FEATURES.md).

// ProfileTerms is the document frequencies of terms of the block of shards
// that starts at shard i (the profile pass's map output).
func ProfileTerms(run string, i int) string {
	return fmt.Sprintf("%sprofile/terms/%s.arrow", Run(run), shard.Key(i))
}

// ProfilePrices is the purchase lines by item and unit price of the block
// of shards that starts at shard i.
func ProfilePrices(run string, i int) string {
	return fmt.Sprintf("%sprofile/prices/%s.arrow", Run(run), shard.Key(i))
}

// Vocabulary is the run's pruned vocabulary: terms with their global
// document frequencies.
func Vocabulary(run string) string { return Run(run) + "profile/vocabulary.arrow" }

// RefPrices is every item's reference unit price.
func RefPrices(run string) string { return Run(run) + "profile/ref_prices.arrow" }

// Sample is the seeded sample of feature rows of the block of shards that
// starts at shard i, for global quantiles and the choice of k.
func Sample(run string, i int) string {
	return fmt.Sprintf("%sprofile/sample/%s.arrow", Run(run), shard.Key(i))
}

// KMeansRound is the candidate points of k-means|| round r of the block of
// shards that starts at shard i: the points the block would choose, a
// superset of the final choice.
func KMeansRound(run string, r, i int) string {
	return fmt.Sprintf("%smodels/kmeans/init/round=%02d/%s.arrow", Run(run), r, shard.Key(i))
}

// KMeansCandidates are the candidates chosen in k-means|| rounds 0..r.
func KMeansCandidates(run string, r int) string {
	return fmt.Sprintf("%smodels/kmeans/init/candidates-%02d.arrow", Run(run), r)
}

// Segments is shard i's users with their segment.
func Segments(run string, i int) string {
	return fmt.Sprintf("%ssegments/%s.arrow", Run(run), shard.Key(i))
}

// SegmentTerms is the interests summed per segment of the block of shards
// that starts at shard i.
func SegmentTerms(run string, i int) string {
	return fmt.Sprintf("%ssegments/terms/%s.arrow", Run(run), shard.Key(i))
}

// FeaturesTable is the published per-user feature table.
func FeaturesTable(run string) string { return Run(run) + "features.parquet" }

// Keys of the recommendations (docs/FEATURES.md, "Recommendations").

// RecommendModel is the run's recommendation model (internal/recommend,
// gob-encoded).
func RecommendModel(run string) string { return Run(run) + "recommendations/model.gob" }

// Recommendations is shard i's users' ranked lists.
func Recommendations(run string, i int) string {
	return fmt.Sprintf("%srecommendations/%s.arrow", Run(run), shard.Key(i))
}

// Featured is shard i's users' lists as plan rows take them: joined items
// and a category per list (recommend.FeaturedSchema).
func Featured(run string, i int) string {
	return fmt.Sprintf("%srecommendations/featured/%s.arrow", Run(run), shard.Key(i))
}

// RecommendationsTable is the published recommendations of every user.
func RecommendationsTable(run string) string { return Run(run) + "recommendations.parquet" }

// Keys of the density clusters (docs/FEATURES.md, "Density clusters").

// DBSCANModel is the run's DBSCAN model of the segment features: the core
// points of the sample with their clusters, and eps (internal/dbscan,
// gob-encoded).
func DBSCANModel(run string) string { return Run(run) + "models/dbscan/model.gob" }

// DenseClusters is shard i's users with their dense cluster (-1 for an
// outlier) and their distance to the nearest core point, beside their
// segment.
func DenseClusters(run string, i int) string {
	return fmt.Sprintf("%ssegments/dense/%s.arrow", Run(run), shard.Key(i))
}

// DenseFarthest is the farthest outliers of the block of shards that
// starts at shard i (CSV: user_id, core_distance, the behaviour features).
func DenseFarthest(run string, i int) string {
	return fmt.Sprintf("%ssegments/dense/farthest/%s.csv", Run(run), shard.Key(i))
}

// DenseOutliers is the run's farthest outliers, farthest first, with
// their ids (CSV, as DenseFarthest).
func DenseOutliers(run string) string { return Run(run) + "dense_outliers.csv" }
