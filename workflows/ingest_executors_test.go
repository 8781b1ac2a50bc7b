package workflows

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	var paths []string
	for _, f := range files {
		paths = append(paths, golden+f)
	}
	for _, tc := range []ingestCase{
		{shards: 2, chunkRows: 3, splitBytes: 64},
		{shards: 5, blocks: 2, chunkRows: 4, splitBytes: 200, perChild: 3},
	} {
		t.Run(fmt.Sprintf("shards=%d-blocks=%d", tc.shards, tc.blocks), func(t *testing.T) {
			tot := ingestBothWays(t, paths, mappingYAML, m, tc)
			// The second events.csv repeats every record of the first.
			if second := tot.Sources[4]; second.Duplicates != second.RowsRead || tot.Sources[0].Accepted == 0 {
				t.Errorf("repeated file: %d duplicates of %d rows", second.Duplicates, second.RowsRead)
			}
		})
	}
}

// TestIngestExecutorsAgreeRandom is the property behind
// TestIngestExecutorsAgree on generated inputs: for random events files
// (bad timestamps and types, missing users and channels, repeated
// records, one of them gzip-compressed) and random shards, blocks, split
// and chunk sizes, both executors give the same accounting, rejects and
// table bytes.
func TestIngestExecutorsAgreeRandom(t *testing.T) {
	mappingYAML, err := os.ReadFile("../internal/ingest/testdata/golden/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse(mappingYAML)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 19))
			dir := t.TempDir()
			var paths []string
			var earlier []string
			for i, name := range []string{"events-a.csv", "events-b.csv.gz", "events-c.csv"} {
				var buf bytes.Buffer
				buf.WriteString("user,when,kind,sku,qty,price,channel\n")
				for range 20 + rng.IntN(80) {
					if len(earlier) > 0 && rng.IntN(6) == 0 {
						buf.WriteString(earlier[rng.IntN(len(earlier))])
						continue
					}
					user := fmt.Sprintf("u%d", rng.IntN(12))
					if rng.IntN(15) == 0 {
						user = ""
					}
					when := fmt.Sprintf("2026-%02d-%02d %02d:00:00", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24))
					if rng.IntN(12) == 0 {
						when = "2026-13-01 10:00:00"
					}
					kind := []string{"purchase", "view", "return", "teleport"}[rng.IntN(4)]
					channel := []string{"web", "app", ""}[rng.IntN(3)]
					line := fmt.Sprintf("%s,%s,%s,S%d,%d,%d.99,%s\n", user, when, kind, rng.IntN(5), 1+rng.IntN(3), rng.IntN(50), channel)
					earlier = append(earlier, line)
					buf.WriteString(line)
				}
				data := buf.Bytes()
				if i == 1 {
					var z bytes.Buffer
					zw := gzip.NewWriter(&z)
					zw.Write(data)
					zw.Close()
					data = z.Bytes()
				}
				paths = append(paths, filepath.Join(dir, name))
				if err := os.WriteFile(paths[i], data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tc := ingestCase{shards: 1 + rng.IntN(6), blocks: rng.IntN(4), chunkRows: 1 + rng.IntN(20),
				splitBytes: int64(50 + rng.IntN(500)), perChild: rng.IntN(4)}
			t.Logf("%+v", tc)
			tot := ingestBothWays(t, paths, mappingYAML, m, tc)
			if tot.Accepted == 0 || tot.Rejected == 0 || tot.Duplicates == 0 {
				t.Errorf("generated inputs without accepted, rejected or duplicate rows: %+v", tot)
			}
		})
	}
}

// ingestCase sizes an ingest: shards, blocks of shards, records per
// chunk, bytes per split, splits per IngestSplits child (0: default).
type ingestCase struct {
	shards, blocks, chunkRows, perChild int
	splitBytes                          int64
}

// ingestBothWays ingests the files at paths with ingest.Local and with the
// Ingest workflow under the test suite (the real activities over an
// in-memory bucket), compares every source's accounting, rejects CSV and
// table pieces, and returns the workflow's totals.
func ingestBothWays(t *testing.T, paths []string, mappingYAML []byte, m *mapping.Mapping, tc ingestCase) IngestTotals {
	t.Helper()
	ctx := context.Background()
	store := blob.NewMem()
	var keys []string
	for i, p := range paths {
		keys = append(keys, fmt.Sprintf("raw/%d/%s", i, filepath.Base(p)))
		if err := store.PutFile(ctx, keys[i], p); err != nil {
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

	if len(tot.Sources) != len(local) || len(local) != len(paths) {
		t.Fatalf("%d sources in the workflow, %d in process, want %d", len(tot.Sources), len(local), len(paths))
	}
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
		// As JSON: the workflow's results crossed it (a nil map came
		// back empty).
		if lj, wj := mustJSON(t, lr), mustJSON(t, wr); lj != wj {
			t.Errorf("source %d:\nworkflow %s\nlocal    %s", i, wj, lj)
		}
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
	if pieces != len(paths)*(tc.shards+1) {
		t.Errorf("%d pieces compared", pieces)
	}
	return tot
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
