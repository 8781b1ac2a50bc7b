package activities

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/strategy"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/dbscan"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestDBSCANFitAndAssign writes two shards of feature rows (two dense
// groups of frequency and monetary, and three far users), fits DBSCAN on
// them as the sample, assigns every user and reads the dense objects
// back: the far users, and only they, are outliers, farthest first; and
// DecideScore with ExcludeOutliers suppresses them, and only them.
func TestDBSCANFitAndAssign(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	env, acts := newEnv(store)
	exec := activityRunner(t, env)
	mem := memory.NewGoAllocator()
	freq, mon := features.Index("frequency"), features.Index("monetary")
	const shards = 2
	rows := make([][]features.Row, shards)
	far := map[string]bool{}
	add := func(id string, f, m float64) {
		v := make([]float64, len(features.Names))
		v[freq], v[mon] = f, m
		i := shard.Of(id, shards)
		rows[i] = append(rows[i], features.Row{UserID: id, Values: v})
	}
	for j := range 60 {
		jitter := float64(j) * 0.002
		add(string(rune('a'+j%26))+"-lo-"+string(rune('0'+j/26)), 2+jitter, 20+jitter)
		add(string(rune('a'+j%26))+"-hi-"+string(rune('0'+j/26)), 10+jitter, 100+jitter)
	}
	for k, x := range [][2]float64{{40, 900}, {0, 400}, {25, 20}} {
		id := "far-" + string(rune('0'+k))
		far[id] = true
		add(id, x[0], x[1])
	}
	var keys []string
	for i := range shards {
		rec := features.Record(rows[i], false, mem)
		data, err := arrowio.Encode(features.Schema, mem, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		key := layout.Features("r", i)
		if err := store.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	// The identity on frequency and monetary, over 10 (so the groups are
	// 8 and 8 apart, neighbours 0.002·√1.01 apart).
	scaler := features.Scaler{Names: []string{"frequency", "monetary"}, Cols: []int{freq, mon}, Log: []bool{false, false},
		Lo: []float64{-math.MaxFloat64, -math.MaxFloat64}, Hi: []float64{math.MaxFloat64, math.MaxFloat64}, Mean: []float64{0, 0}, Std: []float64{1, 10}}
	var fit DBSCANFitOutput
	exec(acts.DBSCANFit, DBSCANFitInput{RunID: "r", SampleKeys: keys, Scaler: scaler, TailCut: 0.01, Seed: 1}, &fit)
	if fit.Clusters != 2 || fit.SampleNoise != 3 || fit.Points != 123 || fit.MinPts != dbscan.DefaultMinPts(2) || fit.Key != layout.DBSCANModel("r") {
		t.Fatalf("fit %+v: want 2 clusters and the 3 far users as noise, of 123", fit)
	}
	var sizes []int64
	var farKeys []string
	for i := range shards {
		var as DBSCANAssignOutput
		exec(acts.DBSCANAssign, DBSCANAssignInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Scaler: scaler, Model: fit.Key, Top: 2}, &as)
		if len(as.Sums.Count) != 3 || as.FarthestKey != layout.DenseFarthest("r", i) {
			t.Fatalf("shard %d: %d sums, farthest at %q", i, len(as.Sums.Count), as.FarthestKey)
		}
		if sizes == nil {
			sizes = make([]int64, 3)
		}
		for c, n := range as.Sums.Count {
			sizes[c] += n
		}
		farKeys = append(farKeys, as.FarthestKey)
		var outliers []string
		if err := acts.outliersOf(ctx, "r", i, func(id string) { outliers = append(outliers, id) }); err != nil {
			t.Fatal(err)
		}
		for _, id := range outliers {
			if !far[id] {
				t.Errorf("shard %d: %s is an outlier", i, id)
			}
		}
		for _, r := range rows[i] {
			if far[r.UserID] && !slices.Contains(outliers, r.UserID) {
				t.Errorf("shard %d: far user %s is not an outlier", i, r.UserID)
			}
		}
	}
	if !slices.Equal(sizes, []int64{60, 60, 3}) {
		t.Errorf("cluster sizes %v, want [60 60 3]", sizes)
	}
	// The farthest of all: (40, 900) is 80 from the high group, then
	// (0, 400) 30 from the high group; the table has their ids.
	var far2 DBSCANOutliersOutput
	exec(acts.DBSCANOutliers, DBSCANOutliersInput{RunID: "r", Keys: farKeys, Top: 2}, &far2)
	if len(far2.Distances) != 2 || math.Abs(far2.Distances[0]-math.Hypot(30, 80)) > 0.1 || far2.Distances[1] > far2.Distances[0] ||
		far2.Mean["monetary"] != (900+400)/2.0 || far2.Key != layout.DenseOutliers("r") {
		t.Errorf("farthest %+v", far2)
	}
	table, err := store.Get(ctx, far2.Key)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(table)), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "far-0,") || !strings.HasPrefix(lines[2], "far-1,") {
		t.Errorf("outliers table:\n%s", table)
	}
	// A template that excludes outliers: DecideScore suppresses exactly
	// the far users, with the reason "outlier".
	scored := decideWithOutliers(t, store, env, acts, rows)
	for id, why := range scored {
		if want := map[bool]string{true: strategy.Outlier}[far[id]]; why != want {
			t.Errorf("user %s suppressed for %q, want %q", id, why, want)
		}
	}
	if len(scored) != 123 {
		t.Errorf("%d users scored, want 123", len(scored))
	}
	// Fewer sampled users than minPts: no model, no error.
	var tiny DBSCANFitOutput
	exec(acts.DBSCANFit, DBSCANFitInput{RunID: "r", SampleKeys: keys, Scaler: scaler, MinPts: 200}, &tiny)
	if tiny.Key != "" || tiny.Points != 123 || tiny.Clusters != 0 {
		t.Errorf("fit of 123 users at minPts 200: %+v, want no model", tiny)
	}
	// A missing model fails the assignment, not silently.
	if _, err := env.ExecuteActivity(acts.DBSCANAssign, DBSCANAssignInput{RunID: "r", Block: shard.Block{From: 0, To: 1}, Scaler: scaler, Model: "nope"}); err == nil {
		t.Error("assignment without a model succeeded")
	}
}

// decideWithOutliers scores shards 0 and 1 of run "r" under the weekly
// template with ExcludeOutliers and returns every user's suppression
// reason ("" for none). The propensity model is a booster fitted on the
// users' features with alternating labels: any model does.
func decideWithOutliers(t *testing.T, store Store, env *testsuite.TestActivityEnvironment, acts *Activities, rows [][]features.Row) map[string]string {
	t.Helper()
	ctx := context.Background()
	var x [][]float64
	var y []float64
	for _, shardRows := range rows {
		for i, r := range shardRows {
			x, y = append(x, r.Values), append(y, float64(i%2))
		}
	}
	bins, err := forest.ExactBins(x, len(features.Names), 16)
	if err != nil {
		t.Fatal(err)
	}
	m, err := forest.NewMatrix(x, features.Names, bins)
	if err != nil {
		t.Fatal(err)
	}
	model, err := boost.Fit(m, y, nil, boost.Params{Rounds: 2, MinLeaf: 5})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, layout.Booster("r"), buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	spec, cat, err := campaign.Load(deploy.Campaigns, "offers.yaml", "templates", "weekly")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	p := strategy.Params{
		Template: spec.Name, Objective: spec.Objective, Margin: spec.Margin, Offers: cat.Resolve(spec.Offers), Audience: spec.Audience,
		ControlShare: spec.ControlShare, Salt: "c", Campaign: "c", Start: start, End: start.AddDate(0, 0, 7), DefaultBasket: 50,
	}
	d := len(features.SegmentNames)
	scaler := features.Scaler{Names: features.SegmentNames, Log: make([]bool, d), Lo: make([]float64, d), Hi: make([]float64, d), Mean: make([]float64, d), Std: make([]float64, d)}
	for k, n := range features.SegmentNames {
		scaler.Cols = append(scaler.Cols, features.Index(n))
		scaler.Lo[k], scaler.Hi[k], scaler.Std[k] = -math.MaxFloat64, math.MaxFloat64, 1
	}
	v, err := env.ExecuteActivity(acts.DecideScore, DecideScoreInput{
		RunID: "r", Shards: len(rows), Block: shard.Block{From: 0, To: len(rows)}, Scaler: scaler,
		Centroids: [][]float64{make([]float64, d)}, SegmentNames: []string{"all"}, ForestKey: layout.Booster("r"),
		Params: p, ExcludeOutliers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out DecideScoreOutput
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	data, err := store.Get(ctx, out.Key)
	if err != nil {
		t.Fatal(err)
	}
	users, err := strategy.DecodeScored(data)
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, u := range users {
		why[u.UserID] = ""
		if u.Status == strategy.Suppressed {
			why[u.UserID] = u.Why
		}
	}
	return why
}
