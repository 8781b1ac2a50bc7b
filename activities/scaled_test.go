package activities

import (
	"context"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestScaledCacheSameResults runs the k-means activities of one shard with
// the worker's cache of standardized points (through the activity
// environment) and without it (direct calls): the same outputs. The entry
// is there after the first read and gone after SegmentAssign.
func TestScaledCacheSameResults(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewGoAllocator()
	store := blob.NewMem()
	rows := make([]features.Row, 500)
	for i := range rows {
		v := make([]float64, len(features.Names))
		for j := range v {
			v[j] = float64((i*31+j*17)%97) / 7
		}
		rows[i] = features.Row{UserID: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Values: v}
	}
	rec := features.Record(rows, false, mem)
	data, err := arrowio.Encode(features.Schema, mem, rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	key := layout.Features("r", 0)
	if err := store.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	m := features.NewMoments(len(features.Names))
	for _, r := range rows {
		m.Add(features.Transform(r.Values))
	}
	scaler, err := features.NewScaler(features.SegmentNames, m, features.QuantilesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	env, acts := newEnv(store)
	exec := activityRunner(t, env)
	var s0 KMeansSampleOutput
	exec(acts.KMeansSample, KMeansSampleInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}, Round: 0, Seed: 1, Scaler: scaler, L: 4}, &s0)
	if len(acts.scaledPts.entries) != 1 {
		t.Fatalf("no cached points after round 0: %d entries", len(acts.scaledPts.entries))
	}
	direct := &Activities{Store: store}
	want, err := direct.KMeansSample(ctx, KMeansSampleInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}, Round: 0, Seed: 1, Scaler: scaler, L: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s0, want) {
		t.Errorf("round 0: cached %+v, direct %+v", s0, want)
	}
	centroids := [][]float64{make([]float64, scaler.Dim()), make([]float64, scaler.Dim())}
	centroids[1][0], centroids[1][3] = 1, -1
	for range 2 { // the second from the cache
		var got kmeans.Partial
		exec(acts.KMeansStep, KMeansStepInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}, Scaler: scaler, Centroids: centroids}, &got)
		want, err := direct.KMeansStep(ctx, KMeansStepInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}, Scaler: scaler, Centroids: centroids})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("step: cached %+v, direct %+v", got, want)
		}
	}
	if len(acts.scaledPts.entries) != 1 {
		t.Fatalf("%d cached entries, want 1", len(acts.scaledPts.entries))
	}
	var as SegmentAssignOutput
	exec(acts.SegmentAssign, SegmentAssignInput{RunID: "r", Block: shard.Block{From: 0, To: 0 + 1}, Scaler: scaler, Centroids: centroids}, &as)
	if len(acts.scaledPts.entries) != 0 || acts.scaledPts.bytes != 0 {
		t.Errorf("after SegmentAssign: %d entries, %d bytes cached", len(acts.scaledPts.entries), acts.scaledPts.bytes)
	}
}

// TestScaledCacheBound checks the byte bound: the oldest entries go first.
func TestScaledCacheBound(t *testing.T) {
	var c scaledCache
	const limit = 3 << 20
	third := int64(limit / 3)
	for _, k := range []string{"a", "b", "c", "d"} {
		c.put(k, &scaledPoints{size: third}, limit)
	}
	if c.get("a") != nil || c.get("b") == nil || c.get("d") == nil || c.bytes != 3*third {
		t.Errorf("entries %v, %d bytes: want b, c, d", c.order, c.bytes)
	}
	c.put("big", &scaledPoints{size: limit + 1}, limit)
	if c.get("big") != nil || len(c.order) != 3 {
		t.Errorf("an entry over the bound was cached: %v", c.order)
	}
	c.put("c", &scaledPoints{size: 1}, limit) // replaces
	if c.bytes != 2*third+1 {
		t.Errorf("after replacing: %d bytes, want %d", c.bytes, 2*third+1)
	}
}

// TestScaledLimitShared: the points may use the shared bound less what the
// events and scored caches hold, never less than their own floor.
func TestScaledLimitShared(t *testing.T) {
	tests := []struct {
		name           string
		events, scored int64
		want           int64
	}{
		{"others empty", 0, 0, scaledCacheShared},
		{"events cached", 100 << 20, 0, scaledCacheShared - 100<<20},
		{"both cached", 100 << 20, 100 << 20, scaledCacheShared - 200<<20},
		{"others full", DefaultEventsCacheBytes, DefaultScoredCacheBytes, scaledCacheMin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Activities
			a.events.bytes = tt.events
			a.scored.size = tt.scored
			if got := a.scaledLimit(); got != tt.want {
				t.Errorf("limit %d MiB, want %d", got>>20, tt.want>>20)
			}
		})
	}
}
