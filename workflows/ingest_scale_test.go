package workflows_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/promoflow/promoflow/internal/layout"
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

// TestIngestSplitChildren ingests an input of about 40 splits with at
// most 10 splits per history: IngestSplits children stage them in blocks,
// the parent's history is smaller than with every split in it, and the
// totals and tables are the same.
func TestIngestSplitChildren(t *testing.T) {
	store, c := startWorker(t, "promoflow-ingest-children")
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "u%d,2026-10-%02dT10:00:00Z,purchase,i%d,shoes,red shoe,1,10,o%d,web\n", i%700, 1+i%28, i%50, i%4000)
	}
	const key = "raw/children/events.csv"
	must(t, store.Put(ctx, key, []byte(b.String())))
	run := func(id string, perChild int) (workflows.IngestTotals, int64) {
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "promoflow-ingest-children"}, workflows.Ingest,
			workflows.IngestInput{RunID: id, Inputs: []string{key}, Shards: 4, SplitBytes: 8 << 10, SplitsPerChild: perChild})
		must(t, err)
		var tot workflows.IngestTotals
		must(t, wr.Get(ctx, &tot))
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		must(t, err)
		return tot, d.GetWorkflowExecutionInfo().GetHistoryLength()
	}
	whole, wholeEvents := run("children-no", 0)
	blocks, blockEvents := run("children-yes", 10)
	if whole.Sources[0].Splits < 30 {
		t.Fatalf("%d splits, want about 40", whole.Sources[0].Splits)
	}
	if _, err := c.DescribeWorkflowExecution(ctx, "children-yes-ingest-splits-0", ""); err != nil {
		t.Errorf("no IngestSplits child: %v", err)
	}
	if blockEvents >= wholeEvents {
		t.Errorf("with children the parent has %d events, without %d", blockEvents, wholeEvents)
	}
	whole.Sources[0].Rejects, blocks.Sources[0].Rejects = "", ""
	whole.Rejects, blocks.Rejects = nil, nil
	if fmt.Sprintf("%+v", whole) != fmt.Sprintf("%+v", blocks) {
		t.Errorf("totals with children\n%+v\nwithout\n%+v", blocks, whole)
	}
	for i := 0; i < 4; i++ {
		a, err := store.Get(ctx, layout.TablePart("children-no", "events", i, 4, whole.Sources[0].Name))
		must(t, err)
		b, err := store.Get(ctx, layout.TablePart("children-yes", "events", i, 4, blocks.Sources[0].Name))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("shard %d: events differ with children", i)
		}
	}
	t.Logf("%d splits: parent %d events with children of 10 splits, %d without", whole.Sources[0].Splits, blockEvents, wholeEvents)
}
