package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/mapping"
)

// TestIngestExecutorsAgree runs the ingest driver through both executors
// on the golden inputs (every kind of bad row, gzip, another delimiter,
// JSON Lines, and the same file twice, so records repeat across sources):
// ingest.Local, and the Ingest workflow under the test suite with the real
// activities over an in-memory bucket. Per source, the accounting, the
// rejects CSV and every partition's table piece must be the same, byte
// for byte, with one finalize per shard and with blocks of shards, and
// with splits staged in IngestSplits children.
func TestIngestExecutorsAgree(t *testing.T) {
	const golden = "../internal/ingest/testdata/golden/"
	mappingYAML, err := os.ReadFile(golden + "mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse(mappingYAML)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"events.csv", "events.jsonl", "semi.csv", "events-small.csv.gz", "events.csv"}
	for _, tc := range []struct {
		shards, blocks, chunkRows, perChild int
		splitBytes                          int64
	}{
		{shards: 2, chunkRows: 3, splitBytes: 64},
		{shards: 5, blocks: 2, chunkRows: 4, splitBytes: 200, perChild: 3},
	} {
		t.Run(fmt.Sprintf("shards=%d-blocks=%d", tc.shards, tc.blocks), func(t *testing.T) {
			ctx := context.Background()
			store := blob.NewMem()
			var paths, keys []string
			for i, f := range files {
				paths = append(paths, golden+f)
				keys = append(keys, fmt.Sprintf("raw/%d/%s", i, f))
				if err := store.PutFile(ctx, keys[i], paths[i]); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			local, err := ingest.Local(ctx, paths, ingest.LocalOptions{Mapping: m, Shards: tc.shards, ShardBlocks: tc.blocks,
				SplitBytes: tc.splitBytes, ChunkRows: tc.chunkRows, Dir: dir, Parallel: 3})
			if err != nil {
				t.Fatal(err)
			}

			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(&activities.Activities{Store: store, TempDir: t.TempDir()})
			env.RegisterWorkflow(IngestSplits)
			const run = "agree"
			env.ExecuteWorkflow(Ingest, IngestInput{RunID: run, Inputs: keys, Mapping: string(mappingYAML), Shards: tc.shards,
				ShardBlocks: tc.blocks, SplitBytes: tc.splitBytes, ChunkRows: tc.chunkRows, SplitsPerChild: tc.perChild, Window: 3})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var tot IngestTotals
			if err := env.GetWorkflowResult(&tot); err != nil {
				t.Fatal(err)
			}

			if len(tot.Sources) != len(local) || len(local) != len(files) {
				t.Fatalf("%d sources in the workflow, %d in process, want %d", len(tot.Sources), len(local), len(files))
			}
			var dups int64
			pieces := 0
			for i, lr := range local {
				wr := tot.Sources[i]
				got, err := store.Get(ctx, wr.Rejects)
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(lr.Rejects)
				if err != nil {
					t.Fatal(err)
				}
				// The rejects name the file as each executor read it.
				if w := strings.ReplaceAll(string(want), paths[i], keys[i]); string(got) != w {
					t.Errorf("source %d: rejects differ\n--- workflow\n%s--- local\n%s", i, got, w)
				}
				if wr.Source != keys[i] || lr.Source != paths[i] {
					t.Errorf("source %d is %q and %q", i, wr.Source, lr.Source)
				}
				for _, r := range []*ingest.Result{&lr, &wr} {
					r.Source, r.Name, r.Rejects = "", "", ""
				}
				// As JSON: the workflow's results crossed it (a nil map
				// came back empty).
				if lj, wj := mustJSON(t, lr), mustJSON(t, wr); lj != wj {
					t.Errorf("source %d:\nworkflow %+v\nlocal    %+v", i, wr, lr)
				}
				dups += wr.Duplicates
				name := layout.Source(i, keys[i])
				for p := 0; p <= tc.shards; p++ {
					part := fmt.Sprintf("shard=%04d", p)
					if p == tc.shards {
						part = "anonymous"
					}
					want, err := os.ReadFile(filepath.Join(dir, wr.Table, part, fmt.Sprintf("%03d.arrow", i)))
					if err != nil {
						t.Fatal(err)
					}
					got, err := store.Get(ctx, layout.TablePart(run, wr.Table, p, tc.shards, name))
					if err != nil {
						t.Fatal(err)
					}
					if string(got) != string(want) {
						t.Errorf("source %d, %s: %d bytes in the workflow, %d in process, or other bytes", i, part, len(got), len(want))
					}
					pieces++
				}
			}
			// The second events.csv repeats every record of the first.
			if second := tot.Sources[4]; second.Duplicates < second.Accepted+tot.Sources[0].Accepted || dups == 0 {
				t.Errorf("repeated file: %d duplicates, %d accepted", second.Duplicates, second.Accepted)
			}
			if pieces != len(files)*(tc.shards+1) {
				t.Errorf("%d pieces compared", pieces)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
