package layout

import (
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{EventsPart("weekly-1", 7, Source(0, "raw/demo/events.csv.gz")), "runs/weekly-1/events/shard=0007/part-000-events.arrow"},
		{Rejects("r", Source(12, "raw/x/my file (1).csv")), "runs/r/rejects/012-my_file__1_.csv"},
		{Features("r", 3), "runs/r/features/shard=0003.arrow"},
		{Train("r", 3), "runs/r/train/shard=0003.arrow"},
		{Trees("r", 10), "runs/r/models/propensity/trees/shard=0010.json"},
		{Scored("r", 5), "runs/r/decide/scored/shard=0005.bin"},
		{Scores("r", 0), "runs/r/scores/shard=0000.arrow"},
		{RecommendModel("r"), "runs/r/recommendations/model.gob"},
		{Recommendations("r", 2), "runs/r/recommendations/shard=0002.arrow"},
		{RecommendationsTable("r"), "runs/r/recommendations.parquet"},
		{DBSCANModel("r"), "runs/r/models/dbscan/model.gob"},
		{DenseClusters("r", 4), "runs/r/segments/dense/shard=0004.arrow"},
		{DenseFarthest("r", 4), "runs/r/segments/dense/farthest/shard=0004.csv"},
		{DenseOutliers("r"), "runs/r/dense_outliers.csv"},
		{Campaign("weekly-2026-W48") + "plan.parquet", "campaigns/weekly-2026-W48/plan.parquet"},
		{Raw("demo", "events.csv.gz"), "raw/demo/events.csv.gz"},
		{RawDir("weekly"), "raw/weekly/"},
		{Upload("raw/demo/", "0123456789abcdef0123", "events.csv.gz"), "raw/demo/0123456789abcdef/events.csv.gz"},
		{Upload("raw/demo", "0123456789abcdef0123", "events.csv.gz"), "raw/demo/0123456789abcdef/events.csv.gz"},
		{Drop("raw/sim/", time.Date(2026, 3, 1, 23, 0, 0, 0, time.FixedZone("x", -3600)), "events.csv.gz"), "raw/sim/2026-03-02/events.csv.gz"},
		{CampaignsRoot, "campaigns/"},
		{State("weekly"), "state/weekly/latest.json"},
		{StateVersion("weekly", 12), "state/weekly/v000012.json"},
		{IngestDir("r"), "runs/r/ingest/"},
		{Staged("r", "000-e", 2, 3, 1, 4), "runs/r/ingest/000-e/split=0002/chunk=00003/shard=0001.arrow"},
		{Staged("r", "000-e", 2, 3, 4, 4), "runs/r/ingest/000-e/split=0002/chunk=00003/anonymous.arrow"},
		{StagedRejects("r", "000-e", 2, 3), "runs/r/ingest/000-e/split=0002/chunk=00003/rejects.arrow"},
		{LateRejects("r", "events", 0, 4, "000-e"), "runs/r/ingest/late-rejects/events/shard=0000/000-e.arrow"},
		{SplitText("r", "000-e", 1, "csv"), "runs/r/ingest/000-e/split=0001/text.csv.s2"},
		{CampaignSummary("c1"), "campaigns/c1/summary.json"},
		{EvaluationSummary("c1"), "campaigns/c1/evaluation/summary.json"},
		{EvaluationReport("c1"), "campaigns/c1/evaluation/report.html"},
		{StateDir("weekly"), "state/weekly/"},
		{TemplateOverview("weekly"), "reports/weekly/index.html"},
		{TemplateCampaign("weekly", "weekly-2026-W48"), "reports/weekly/campaigns/weekly-2026-W48"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
