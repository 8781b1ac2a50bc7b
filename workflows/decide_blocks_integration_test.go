package workflows_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// TestIntegrationDecideBlocks runs two weekly campaigns on the real
// servers with more shards than ShardBlocks, so that the decision fans out
// over blocks: the first over 8 shards in 3 blocks, the second the next
// day over 6 shards in 4 blocks. Every user gets one plan row; the first
// campaign's contact list is partitioned by shard, each partition holding
// exactly the contacted users of its shard; and the second campaign, with
// another shard count, suppresses every one of them.
func TestIntegrationDecideBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)
	eventsPath := filepath.Join(t.TempDir(), "events.csv.gz")
	if _, err := synth.WriteFile(eventsPath, synth.Config{Users: 1500, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	_, users := readCSV(t, eventsPath)
	must(t, store.PutFile(ctx, "raw/blocks/events.csv.gz", eventsPath))
	c := stack.TemporalClient(t)
	const queue = "promoflow-blocks"
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()

	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	run := func(id string, shards, blocks int, start time.Time) (workflows.Summary, map[string][]string) {
		t.Helper()
		in := workflows.RegenerateInput{
			RunID: id, Campaign: id, Template: "weekly", Inputs: []string{"raw/blocks/events.csv.gz"},
			Shards: shards, ShardBlocks: blocks, Seed: 7, K: 4, Window: 3, Start: start,
		}
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate, in)
		must(t, err)
		var sum workflows.Summary
		if err := wr.Get(ctx, &sum); err != nil {
			t.Fatalf("run %s: %v", id, err)
		}
		data, err := store.Get(ctx, layout.Campaign(id)+"plan.csv")
		must(t, err)
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		must(t, err)
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		plan := map[string][]string{}
		for _, r := range rows[1:] {
			if plan[r[0]] != nil {
				t.Errorf("%s: %s planned twice", id, r[0])
			}
			plan[r[0]] = []string{r[col["offer"]], r[col["control"]], r[col["recommended_items"]]}
		}
		if len(plan) != len(users) || sum.Plan.Rows != int64(len(users)) {
			t.Errorf("%s: %d users planned (summary %d), want %d", id, len(plan), sum.Plan.Rows, len(users))
		}
		return sum, plan
	}
	_, first := run("blocks-1", 8, 3, start)
	var contacted []string
	recommended := 0
	for id, r := range first {
		if r[0] != "none" && r[1] != "true" {
			contacted = append(contacted, id)
		}
		if r[2] != "" {
			recommended++
		}
	}
	// Every shard of a block reads its own recommendation lists.
	if recommended == 0 {
		t.Error("no plan row of the blocks' shards has recommended items")
	}
	slices.Sort(contacted)
	if len(contacted) == 0 {
		t.Fatal("the first campaign contacted nobody")
	}
	dir := layout.ContactsDir(layout.ContactsName(start, "blocks-1"), 8)
	var parts []string
	for j := range 8 {
		data, err := store.Get(ctx, layout.ContactsPart(dir, j))
		must(t, err)
		for _, id := range strings.Fields(string(data)) {
			if shard.Of(id, 8) != j {
				t.Errorf("%s in partition %d of 8", id, j)
			}
			parts = append(parts, id)
		}
	}
	slices.Sort(parts)
	if !slices.Equal(parts, contacted) {
		t.Errorf("partitions hold %d users, the plan contacted %d", len(parts), len(contacted))
	}
	sum, second := run("blocks-2", 6, 4, start.AddDate(0, 0, 1))
	again := 0
	for _, id := range contacted {
		if r := second[id]; r[0] != "none" && r[1] != "true" {
			again++
		}
	}
	sup := sum.Strategy.Audience.Suppressed[strategy.RecentlyContacted]
	if again > 0 || sup == 0 {
		t.Errorf("second campaign: %d of %d recent contacts contacted again, %d suppressed", again, len(contacted), sup)
	}
	t.Logf("%d contacted, %d suppressed the next day", len(contacted), sup)
}
