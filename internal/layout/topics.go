package layout

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// Keys of the topics step (internal/lda; docs/FEATURES.md, "Topics").

// TopicsVocabulary is the topics' vocabulary: the run's vocabulary bounded
// to its most frequent terms.
func TopicsVocabulary(run string) string { return Run(run) + "topics/vocabulary.arrow" }

// TopicsLambda is the topics (lda.Model, gob-encoded) after update t of
// the online fit; t = 0 is the seeded start.
func TopicsLambda(run string, t int) string {
	return fmt.Sprintf("%stopics/lambda/update=%04d.gob", Run(run), t)
}

// TopicsStats is the E-step's sufficient statistics (lda.Stats,
// gob-encoded) of the block of shards that starts at shard i, against the
// topics after update t.
func TopicsStats(run string, t, i int) string {
	return fmt.Sprintf("%stopics/stats/update=%04d/%s.gob", Run(run), t, shard.Key(i))
}

// TopicsDir holds every shard's users with their topic proportions.
func TopicsDir(run string) string { return Run(run) + "topics/users/" }

// Topics is shard i's users with their topic proportions.
func Topics(run string, i int) string { return TopicsDir(run) + shard.Key(i) + ".arrow" }
