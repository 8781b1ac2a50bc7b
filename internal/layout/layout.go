// Package layout names every object promoflow keeps in the bucket, so the
// bucket's shape is written down in one place (see docs/ARCHITECTURE.md).
package layout

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/shard"
)

// RawRoot is the prefix of every delivered input: promoflow reads under it
// and never writes over what is there.
const RawRoot = "raw/"

// RawDir is the prefix of a dataset's (or a template's) inputs:
// raw/<dataset>/, where a schedule's runs look for the newest drop.
func RawDir(dataset string) string { return RawRoot + dataset + "/" }

// Raw is where a delivered input file lives: raw/<dataset>/<name>. Inputs
// there are never modified.
func Raw(dataset, name string) string { return RawDir(dataset) + name }

// Upload is where the starter uploads a local file under prefix: a folder
// named by the first 16 hex digits of the file's SHA-256, so the same file
// is uploaded once and a changed one never replaces it.
func Upload(prefix, sha256Hex, name string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + sha256Hex[:16] + "/" + name
}

// Drop is a dated delivery under prefix: <prefix><YYYY-MM-DD>/<name> (the
// simulator's weekly drops; a schedule's run reads the newest).
func Drop(prefix string, day time.Time, name string) string {
	return prefix + day.UTC().Format(time.DateOnly) + "/" + name
}

// Run is the prefix of everything one run writes.
func Run(run string) string { return "runs/" + run + "/" }

// EventsDir holds shard i's ingested events, one piece per input source.
func EventsDir(run string, i int) string {
	return fmt.Sprintf("%sevents/%s/", Run(run), shard.Key(i))
}

// EventsPart is the events of shard i that came from source src.
func EventsPart(run string, i int, src string) string {
	return EventsDir(run, i) + "part-" + src + ".arrow"
}

// Rejects lists the rows of source src that were not accepted.
func Rejects(run, src string) string { return Run(run) + "rejects/" + src + ".csv" }

// FeaturesDir holds a run's per-shard feature tables (Features).
func FeaturesDir(run string) string { return Run(run) + "features/" }

// Features is shard i's feature table, one row per user, as of the end of
// the history.
func Features(run string, i int) string {
	return FeaturesDir(run) + shard.Key(i) + ".arrow"
}

// Train is shard i's labelled training table, as of the cutoff.
func Train(run string, i int) string {
	return fmt.Sprintf("%strain/%s.arrow", Run(run), shard.Key(i))
}

// TrainSketch is shard i's quantile sketches of the training features
// (JSON), which the train stage merges into TrainBins.
func TrainSketch(run string, i int) string {
	return fmt.Sprintf("%strain/sketch/%s.json", Run(run), shard.Key(i))
}

// TrainBins are the global feature bins every shard's trees split on
// (JSON forest.Bins).
func TrainBins(run string) string { return Run(run) + "models/propensity/bins.json" }

// Trees are the propensity trees grown on shard i.
func Trees(run string, i int) string {
	return fmt.Sprintf("%smodels/propensity/trees/%s.json", Run(run), shard.Key(i))
}

// Forest is the propensity forest: every shard's trees, combined.
func Forest(run string) string { return Run(run) + "models/propensity/forest.json" }

// Booster is the propensity model when the run boosts (JSON boost.Model):
// one model trained on the training users of every shard.
func Booster(run string) string { return Run(run) + "models/propensity/gbdt.json" }

// Centroids are the segment centroids with their scaler.
func Centroids(run string) string { return Run(run) + "models/kmeans/centroids.json" }

// Scored is shard i's scored users (every user with their options), which
// the decide stage's budget and assignment passes read in every round:
// strategy.EncodeScored's binary layout (docs/DATA.md). Runs before it
// wrote decide/scored/shard=NNNN.json.gz (gzip JSON).
func Scored(run string, i int) string {
	return fmt.Sprintf("%sdecide/scored/%s.bin", Run(run), shard.Key(i))
}

// Scores is shard i's plan rows before publishing.
func Scores(run string, i int) string {
	return fmt.Sprintf("%sscores/%s.arrow", Run(run), shard.Key(i))
}

// Outcomes is where a campaign's outcome events are delivered
// (`starter outcomes`) and where its evaluation reads them by default.
func Outcomes(campaign string) string { return "raw/outcomes/" + campaign + "/" }

// HistoryDir holds a template's campaign history: one object per
// evaluated campaign.
func HistoryDir(template string) string { return "history/" + template + "/" }

// History is one evaluated campaign's per-user history (the canonical
// history table, Parquet).
func History(template, campaign string) string {
	return HistoryDir(template) + campaign + ".parquet"
}

// CampaignsRoot is the prefix of every published campaign.
const CampaignsRoot = "campaigns/"

// Campaign is the prefix of a published campaign.
func Campaign(campaign string) string { return CampaignsRoot + campaign + "/" }

// Source turns an input's key into the short name its pieces and rejects
// carry: its position among the run's inputs and its base name without
// extensions, so two inputs never collide.
func Source(index int, key string) string {
	base := path.Base(key)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, base)
	return fmt.Sprintf("%03d-%s", index, clean)
}
