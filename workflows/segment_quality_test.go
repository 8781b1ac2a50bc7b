package workflows

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/synth"
)

// stagesResult is what featuresAndSegments returns.
type stagesResult struct {
	Summary Summary
	Scaler  features.Scaler
	Seg     SegmentOutput
}

// featuresAndSegments runs the features and segment stages of Regenerate
// on events already in the bucket (ingest's output), with the given end of
// history.
func featuresAndSegments(ctx workflow.Context, in RegenerateInput, end time.Time) (stagesResult, error) {
	in.Defaults()
	r := &run{in: in, track: newTracker(ctx, in.RunID, Stages...)}
	r.end = end
	r.cutoff = end.Add(-time.Duration(in.HorizonDays) * 24 * time.Hour)
	if err := r.features(ctx); err != nil {
		return stagesResult{}, fmt.Errorf("features: %w", err)
	}
	if err := r.segment(ctx); err != nil {
		return stagesResult{}, fmt.Errorf("segment: %w", err)
	}
	return stagesResult{Summary: r.sum, Scaler: r.scaler, Seg: r.seg}, nil
}

// putShards generates users with synth and stores their events as ingest
// would: one Arrow piece per shard under runID. It returns the end of
// history.
func putShards(t testing.TB, store activities.Store, runID string, cfg synth.Config, shards int) time.Time {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	builders := make([]*canon.EventBuilder, shards)
	for i := range builders {
		builders[i] = canon.NewEventBuilder(mem)
	}
	r := csv.NewReader(&buf)
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	var end time.Time
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339, rec[1])
		if err != nil {
			t.Fatal(err)
		}
		qty, _ := strconv.ParseInt(rec[6], 10, 64)
		price, _ := strconv.ParseFloat(rec[7], 64)
		e := canon.Event{UserID: rec[0], TS: ts, Type: rec[2], ItemID: rec[3], Category: rec[4], Text: rec[5],
			Quantity: qty, Price: price, OrderID: rec[8], Channel: rec[9]}
		builders[shard.Of(e.UserID, shards)].Append(e)
		if ts.After(end) {
			end = ts
		}
	}
	for i, b := range builders {
		rec := b.NewRecord()
		data, err := arrowio.Encode(canon.EventSchema, mem, rec)
		rec.Release()
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(context.Background(), layout.EventsPart(runID, i, "000-synth"), data); err != nil {
			t.Fatal(err)
		}
	}
	return end
}

// runStages runs featuresAndSegments with the real activities on store.
func runStages(t *testing.T, store activities.Store, in RegenerateInput, end time.Time) stagesResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(10 * time.Minute)
	env.RegisterWorkflow(featuresAndSegments)
	env.RegisterWorkflow(Segment)
	env.RegisterActivity(&activities.Activities{Store: store, TempDir: t.TempDir()})
	env.ExecuteWorkflow(featuresAndSegments, in, end)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res stagesResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// readScores reads every shard's scoring rows, in shard order.
func readScores(t testing.TB, store activities.Store, runID string, shards int) []features.Row {
	t.Helper()
	var rows []features.Row
	for i := range shards {
		data, err := store.Get(context.Background(), layout.Features(runID, i))
		if err != nil {
			t.Fatal(err)
		}
		err = arrowio.Each(data, features.Schema, memory.NewGoAllocator(), func(rec arrow.Record) error {
			r, err := features.Rows(rec)
			rows = append(rows, r...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// TestSegmentQuality is the k-means quality check of docs/FEATURES.md: on
// the standardized features of generated users, the distributed k-means
// (k-means|| and Lloyd over shards, reduced in the workflow) ends within 1%
// of the best of 10 in-process k-means++ runs on the same matrix, and its
// segments recover the planted personas (adjusted Rand index, logged and
// bounded below).
func TestSegmentQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20,000 users")
	}
	users := 20000
	if n, err := strconv.Atoi(os.Getenv("PROMOFLOW_QUALITY_USERS")); err == nil && n > 0 {
		users = n
	}
	cfg := synth.Config{Users: users, Seed: 5}
	store := blob.NewMem()
	const shards = 4
	end := putShards(t, store, "q", cfg, shards)
	res := runStages(t, store, RegenerateInput{RunID: "q", Inputs: []string{"x"}, Shards: shards, Seed: 3, K: 6, Window: 4}, end)

	rows := readScores(t, store, "q", shards)
	points := make([][]float64, len(rows))
	truth := make([]int, len(rows))
	for i, r := range rows {
		points[i] = res.Scaler.Apply(r.Values)
		truth[i] = slices.Index(synth.Personas, synth.PersonaOf(cfg, r.UserID).Name)
	}
	start := time.Now()
	_, ref := kmeans.Best(points, 6, 1, 10)
	refTime := time.Since(start)
	ratio := res.Seg.Cost / ref
	labels := kmeans.Labels(points, res.Seg.Centroids)
	ari := kmeans.AdjustedRand(truth, labels)
	// The ceiling a centroid partition can reach: every user to the nearest
	// mean of the true personas (they overlap in behaviour).
	oracle := make([][]float64, len(synth.Personas))
	counts := make([]float64, len(oracle))
	for i := range oracle {
		oracle[i] = make([]float64, res.Scaler.Dim())
	}
	for i, x := range points {
		for j, v := range x {
			oracle[truth[i]][j] += v
		}
		counts[truth[i]]++
	}
	for i := range oracle {
		for j := range oracle[i] {
			oracle[i][j] /= counts[i]
		}
	}
	oracleARI := kmeans.AdjustedRand(truth, kmeans.Labels(points, oracle))
	t.Logf("%d users, k=6: distributed cost %.6g after %d iterations (k-means|| %d rounds, %d candidates), "+
		"best of 10 in-process k-means++ %.6g (%v): ratio %.5f; ARI vs personas %.3f (nearest true persona mean: %.3f)",
		len(rows), res.Seg.Cost, res.Seg.Iterations, res.Seg.Init.Rounds, res.Seg.Init.Candidates, ref, refTime, ratio, ari, oracleARI)
	for _, p := range res.Summary.Segments {
		t.Logf("segment %d %-16s %5d users  traits %v  top terms %v", p.ID, p.Name, p.Size, p.Traits, termsOf(p.TopTerms, 10))
	}
	if ratio > 1.01 {
		t.Errorf("distributed k-means cost %.6g is %.2f%% above the best of 10 in-process runs %.6g", res.Seg.Cost, 100*(ratio-1), ref)
	}
	if ari < 0.6*oracleARI {
		t.Errorf("adjusted Rand index %.3f against the planted personas, want at least 60%% of the %.3f of the nearest true persona mean", ari, oracleARI)
	}
	if !res.Seg.Converged || res.Seg.Init.Candidates < 6 {
		t.Errorf("converged %v, %d candidates", res.Seg.Converged, res.Seg.Init.Candidates)
	}
	// Names are distinct.
	seen := map[string]bool{}
	for _, n := range res.Seg.Names {
		if seen[n] {
			t.Errorf("segment name %q repeated in %q", n, res.Seg.Names)
		}
		seen[n] = true
	}
}

func termsOf(ts []segment.Term, n int) []string {
	var out []string
	for i, t := range ts {
		if i == n {
			break
		}
		out = append(out, t.Term)
	}
	return out
}

// TestFeaturesShardCountInvariance runs the features stage on the same
// users split into 1, 3 and 8 shards: the vocabulary, every user's
// features (TF-IDF top terms, the dense interest vector, behaviour) and the
// global statistics are identical.
func TestFeaturesShardCountInvariance(t *testing.T) {
	if testing.Short() {
		t.Skip("generates users")
	}
	cfg := synth.Config{Users: 3000, Seed: 8}
	var base []features.Row
	var baseSum *FeaturesSummary
	for _, shards := range []int{1, 3, 8} {
		store := blob.NewMem()
		run := fmt.Sprintf("inv-%d", shards)
		end := putShards(t, store, run, cfg, shards)
		res := runStages(t, store, RegenerateInput{RunID: run, Inputs: []string{"x"}, Shards: shards, Seed: 3, K: 4, Window: 8}, end)
		rows := readScores(t, store, run, shards)
		slices.SortFunc(rows, func(a, b features.Row) int {
			switch {
			case a.UserID < b.UserID:
				return -1
			case a.UserID > b.UserID:
				return 1
			}
			return 0
		})
		fs := res.Summary.Features
		if shards == 1 {
			base, baseSum = rows, fs
			if fs.Vocabulary == 0 || len(rows) != cfg.Users || len(rows[0].Terms) == 0 {
				t.Fatalf("vocabulary %d, %d rows, first user's terms %v", fs.Vocabulary, len(rows), rows[0].Terms)
			}
			continue
		}
		if fs.Vocabulary != baseSum.Vocabulary || fs.TermsCounted != baseSum.TermsCounted || !reflect.DeepEqual(fs.TopTerms, baseSum.TopTerms) ||
			fs.Sample != baseSum.Sample || !reflect.DeepEqual(fs.Quantiles, baseSum.Quantiles) {
			t.Errorf("%d shards: features summary differs:\n%+v\n%+v", shards, fs, baseSum)
		}
		if len(rows) != len(base) {
			t.Fatalf("%d shards: %d rows, want %d", shards, len(rows), len(base))
		}
		diff := 0
		for i := range rows {
			if !reflect.DeepEqual(rows[i], base[i]) {
				if diff < 3 {
					t.Errorf("%d shards: user %s differs:\n%+v\n%+v", shards, rows[i].UserID, rows[i], base[i])
				}
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%d shards: %d of %d users differ", shards, diff, len(rows))
		}
	}
}
