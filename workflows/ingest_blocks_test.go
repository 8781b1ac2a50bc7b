package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/ingest"
)

// TestIngestFinalizeFanOut: the Ingest workflow finalizes each table's
// user shards in ShardBlocks blocks that cover every shard once, plus one
// activity for rows without a user, and reduces the blocks' merged counts
// into the totals, the anonymous partition's as rows without a user.
func TestIngestFinalizeFanOut(t *testing.T) {
	for _, tc := range []struct{ shards, blocks, activities int }{
		{8, 64, 9},     // one shard a block: the commands of before blocks
		{10, 4, 5},     // blocks of 3, 3, 2, 2
		{1024, 64, 65}, // blocks of 16
	} {
		t.Run(fmt.Sprintf("%d-%d", tc.shards, tc.blocks), func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(&activities.Activities{})
			var mu sync.Mutex
			seen := map[int]int{} // partition -> times finalized
			calls := 0
			env.OnActivity("IngestPlan", mock.Anything, mock.Anything).Return(activities.IngestPlanOutput{Sources: []activities.IngestSource{{Name: "0", Key: "raw/a.csv", Table: "events", Splits: []ingest.Split{{}}}}}, nil)
			env.OnActivity("IngestSplit", mock.Anything, mock.Anything).Return(activities.IngestSplitOutput{Counts: ingest.SplitCounts{RowsRead: int64(tc.shards*10 + 5), NoUser: 5}, Chunks: 1}, nil)
			env.OnActivity("IngestFinalize", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.IngestFinalizeInput) (activities.IngestFinalizeOutput, error) {
				to := max(in.To, in.Partition+1)
				mu.Lock()
				defer mu.Unlock()
				calls++
				var c ingest.FinalCounts
				for p := in.Partition; p < to; p++ {
					seen[p]++
					n := int64(10)
					if p == in.Shards {
						n = 5
					}
					c.Merge(ingest.FinalCounts{Accepted: n, Rows: n, MinTS: int64(1000 + p), MaxTS: int64(2000 + p)})
				}
				return activities.IngestFinalizeOutput{Counts: []ingest.FinalCounts{c}, LateRejects: []string{""}}, nil
			})
			env.OnActivity("IngestRejects", mock.Anything, mock.Anything).Return(activities.IngestRejectsOutput{Keys: []string{"rejects/0"}, Counts: []ingest.RejectCounts{{ByReason: map[string]int64{}}}}, nil)
			env.OnActivity("DeleteStaged", mock.Anything, mock.Anything).Return(activities.DeleteStagedOutput{}, nil)
			env.ExecuteWorkflow(Ingest, IngestInput{RunID: "r", Inputs: []string{"raw/a.csv"}, Shards: tc.shards, ShardBlocks: tc.blocks})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var tot IngestTotals
			if err := env.GetWorkflowResult(&tot); err != nil {
				t.Fatal(err)
			}
			if calls != tc.activities {
				t.Errorf("%d IngestFinalize activities, want %d", calls, tc.activities)
			}
			for p := 0; p <= tc.shards; p++ {
				if seen[p] != 1 {
					t.Errorf("partition %d finalized %d times", p, seen[p])
				}
			}
			res := tot.Sources[0]
			if res.Accepted != int64(tc.shards*10+5) || res.AcceptedNoUser != 5 {
				t.Errorf("accepted %d, without a user %d; want %d, 5", res.Accepted, res.AcceptedNoUser, tc.shards*10+5)
			}
			if res.MinTS.UnixMilli() != 1000 || res.MaxTS.UnixMilli() != int64(2000+tc.shards) {
				t.Errorf("time range %d..%d", res.MinTS.UnixMilli(), res.MaxTS.UnixMilli())
			}
		})
	}
}
