package layout

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// Keys of the features and segment stages (docs/FEATURES.md).

// ProfileTerms is shard i's document frequencies of terms (the profile
// pass's map output).
func ProfileTerms(run string, i int) string {
	return fmt.Sprintf("%sprofile/terms/%s.arrow", Run(run), shard.Key(i))
}

// ProfilePrices is shard i's purchase lines by item and unit price.
func ProfilePrices(run string, i int) string {
	return fmt.Sprintf("%sprofile/prices/%s.arrow", Run(run), shard.Key(i))
}

// Vocabulary is the run's pruned vocabulary: terms with their global
// document frequencies.
func Vocabulary(run string) string { return Run(run) + "profile/vocabulary.arrow" }

// RefPrices is every item's reference unit price.
func RefPrices(run string) string { return Run(run) + "profile/ref_prices.arrow" }

// Sample is shard i's seeded sample of feature rows, for global quantiles
// and the choice of k.
func Sample(run string, i int) string {
	return fmt.Sprintf("%sprofile/sample/%s.arrow", Run(run), shard.Key(i))
}

// KMeansRound is shard i's candidate points of k-means|| round r: the
// points its shard would choose, a superset of the final choice.
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

// SegmentTerms is shard i's interests summed per segment.
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

// RecommendationsTable is the published recommendations of every user.
func RecommendationsTable(run string) string { return Run(run) + "recommendations.parquet" }
