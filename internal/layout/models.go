package layout

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// HoldoutScoresPart is shard i's held-out users with their propensity
// scores: CSV rows user_id,score,label without a header.
func HoldoutScoresPart(run string, i int) string {
	return fmt.Sprintf("%smodels/propensity/holdout/%s.csv", Run(run), shard.Key(i))
}

// HoldoutScores is every held-out user's propensity score and label:
// user_id,score,label, shards in order.
func HoldoutScores(run string) string { return Run(run) + "models/propensity/holdout_scores.csv" }

// Uplift is the prefix of an uplift analysis run.
func Uplift(run string) string { return Run(run) + "uplift/" }

// UpliftFold is fold k of an uplift analysis's encoded history: the users
// whose hash puts them in fold k.
func UpliftFold(run string, k int) string {
	return fmt.Sprintf("%sdata/fold=%02d.arrow", Uplift(run), k)
}

// UpliftPredictions are fold k's out-of-fold predictions: outcome per arm
// and each learner's effects.
func UpliftPredictions(run string, k int) string {
	return fmt.Sprintf("%spredictions/fold=%02d.arrow", Uplift(run), k)
}

// UpliftReport is an uplift analysis's report (JSON).
func UpliftReport(run string) string { return Uplift(run) + "report.json" }

// UpliftPolicy lists, per user, the chosen learner's out-of-fold effect
// estimates and the arm it would give (CSV).
func UpliftPolicy(run string) string { return Uplift(run) + "policy.csv" }

// UpliftModel is the uplift model a run's decision fitted on its
// template's history (uplift.Model, JSON).
func UpliftModel(run string) string { return Run(run) + "models/uplift/models.json" }
