package activities

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/testenv"
)

// TestPublishStreamed publishes a plan larger than one upload part to the
// real gateway (parts of 5 MiB): plan.csv and plan.parquet read back
// byte-identical to the files written whole, shard after shard, in memory.
func TestPublishStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 gateway")
	}
	ctx := context.Background()
	store, err := blob.NewS3(ctx, blob.Config{Endpoint: testenv.StartS3(t), Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
		AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	store.SetStreamPart(5 << 20)
	mem := memory.DefaultAllocator
	var wantCSV, wantPQ bytes.Buffer
	pw, err := plan.NewParquetWriter(&wantPQ, mem)
	if err != nil {
		t.Fatal(err)
	}
	cw := plan.NewCSVWriter(&wantCSV)
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var keys []string
	const shards, perShard = 3, 9000
	for s := 0; s < shards; s++ {
		rows := make([]plan.Row, perShard)
		for i := range rows {
			rows[i] = plan.Row{UserID: fmt.Sprintf("user-%d-%05d", s, i), Segment: "loyal", Offer: "flash20", Channel: "email",
				ExpectedIncrementalRevenue: float64(i) / 7, ExpectedCost: 1.25, HoldoutOffer: campaign.None,
				Reasons: strings.Repeat(fmt.Sprintf("recency %d; ", i%97), 12), Source: "uplift", Propensity: 0.1,
				AssignmentProbability: 0.9, CampaignID: "c-big", WindowStart: start, WindowEnd: start.Add(7 * 24 * time.Hour)}
		}
		rec := plan.Record(rows, mem)
		data, err := arrowio.Encode(plan.Schema, mem, rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := pw.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := cw.Write(rows); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		key := layout.Scores("r", s)
		if err := store.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if wantCSV.Len() <= 5<<20 {
		t.Fatalf("plan.csv of %d bytes fits one part", wantCSV.Len())
	}
	t.Logf("plan.csv %d bytes, plan.parquet %d bytes", wantCSV.Len(), wantPQ.Len())
	env, acts := newEnv(store)
	v, err := env.ExecuteActivity(acts.Publish, PublishInput{Campaign: "c-big", ScoreKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var out PublishOutput
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	if out.Rows != shards*perShard {
		t.Errorf("%d rows published, want %d", out.Rows, shards*perShard)
	}
	for name, want := range map[string][]byte{"plan.csv": wantCSV.Bytes(), "plan.parquet": wantPQ.Bytes()} {
		got, err := store.Get(ctx, layout.Campaign("c-big")+name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes read back, differ from the %d written whole", name, len(got), len(want))
		}
	}
}
