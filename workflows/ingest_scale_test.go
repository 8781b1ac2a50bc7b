package workflows_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/workflows"
)

// TestIngestHistoryBounded ingests 4,000 events of 2,000 users over 1,024
// shards through the Ingest workflow on the real servers: the user shards
// are finalized in blocks (DefaultShardBlocks), so the history stays at a
// few hundred events, far under Temporal's warning thresholds (10,240
// events, 10 MB), with every event accounted for. PROMOFLOW_INGEST_SCALE
// ("shards:blocks,...") measures other counts instead.
func TestIngestHistoryBounded(t *testing.T) {
	cases := [][2]int{{1024, 0}}
	if env := os.Getenv("PROMOFLOW_INGEST_SCALE"); env != "" {
		cases = nil
		for _, c := range strings.Split(env, ",") {
			s, b, _ := strings.Cut(c, ":")
			shards, err1 := strconv.Atoi(s)
			blocks, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil {
				t.Fatalf("PROMOFLOW_INGEST_SCALE: %q", c)
			}
			cases = append(cases, [2]int{shards, blocks})
		}
	}
	store, c := startWorker(t, "promoflow-ingest-scale")
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,purchase,i%d,shoes,red shoe,1,10,o%d,web\n", i%2000, 1+i%28, i%50, i)
	}
	const key = "raw/scale/events.csv"
	must(t, store.Put(ctx, key, []byte(b.String())))
	for _, tc := range cases {
		shards, blocks := tc[0], tc[1]
		id := fmt.Sprintf("ingest-scale-%d-%d", shards, blocks)
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "promoflow-ingest-scale"}, workflows.Ingest,
			workflows.IngestInput{RunID: id, Inputs: []string{key}, Shards: shards, ShardBlocks: blocks})
		must(t, err)
		var tot workflows.IngestTotals
		must(t, wr.Get(ctx, &tot))
		if tot.RowsRead != 4000 || tot.Accepted != 4000 {
			t.Errorf("%d shards: read %d, accepted %d; want 4,000 each", shards, tot.RowsRead, tot.Accepted)
		}
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		must(t, err)
		events, size := d.GetWorkflowExecutionInfo().GetHistoryLength(), d.GetWorkflowExecutionInfo().GetHistorySizeBytes()
		t.Logf("%d shards, blocks %d: %d events, %d bytes of history", shards, blocks, events, size)
		if blocks == 0 && (events > 600 || size > 1<<20) {
			t.Errorf("%d shards: %d events, %d bytes of history; want at most 600 and 1 MB", shards, events, size)
		}
	}
}
