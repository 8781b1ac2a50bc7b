package workflows

import (
	"math"
	"reflect"
	"testing"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/synth"
)

// TestStagesOverBlocks runs the features and segment stages on the same 8
// shards with one shard per activity and with blocks of three (at most
// three activities per fan-out): the per-user features, the vocabulary,
// the sample and its quantiles do not depend on the blocks (integer sums,
// rows in shard order); the segments agree up to the order of float sums
// (k, iterations, sizes, centroids within 1e-9).
func TestStagesOverBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("generates users")
	}
	cfg := synth.Config{Users: 3000, Seed: 8}
	const shards = 8
	var res [2]stagesResult
	for i, blocks := range []int{shards, 3} {
		store := blob.NewMem()
		end := putShards(t, store, "blk", cfg, shards)
		res[i] = runStages(t, store, RegenerateInput{RunID: "blk", Inputs: []string{"x"}, Shards: shards, ShardBlocks: blocks, Seed: 3, K: 4, Window: 8}, end)
	}
	one, blk := res[0], res[1]
	f1, fb := one.Summary.Features, blk.Summary.Features
	if f1.Users != fb.Users || f1.Events != fb.Events || f1.TrainRows != fb.TrainRows || f1.Positives != fb.Positives ||
		f1.Vocabulary != fb.Vocabulary || f1.TermsCounted != fb.TermsCounted || !reflect.DeepEqual(f1.TopTerms, fb.TopTerms) ||
		f1.Sample != fb.Sample || !reflect.DeepEqual(f1.Quantiles, fb.Quantiles) {
		t.Errorf("features summary differs over blocks:\n%+v\n%+v", f1, fb)
	}
	if f1.Users != int64(cfg.Users) || f1.Sample == 0 {
		t.Errorf("%d users, sample %d", f1.Users, f1.Sample)
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }
	for i := range one.Scaler.Mean {
		if !close(one.Scaler.Mean[i], blk.Scaler.Mean[i]) || !close(one.Scaler.Std[i], blk.Scaler.Std[i]) {
			t.Errorf("scaler %s: mean %v / %v, std %v / %v", one.Scaler.Names[i], one.Scaler.Mean[i], blk.Scaler.Mean[i], one.Scaler.Std[i], blk.Scaler.Std[i])
		}
	}
	s1, sb := one.Seg, blk.Seg
	if s1.K != sb.K || s1.Iterations != sb.Iterations || s1.Init.Candidates != sb.Init.Candidates || !close(s1.Cost, sb.Cost) {
		t.Fatalf("segments differ over blocks: k %d/%d, iterations %d/%d, candidates %d/%d, cost %v/%v",
			s1.K, sb.K, s1.Iterations, sb.Iterations, s1.Init.Candidates, sb.Init.Candidates, s1.Cost, sb.Cost)
	}
	for j := range s1.Centroids {
		for d := range s1.Centroids[j] {
			if !close(s1.Centroids[j][d], sb.Centroids[j][d]) {
				t.Errorf("centroid %d[%d]: %v / %v", j, d, s1.Centroids[j][d], sb.Centroids[j][d])
			}
		}
	}
	for j, p := range one.Summary.Segments {
		if q := blk.Summary.Segments[j]; p.Size != q.Size || p.Name != q.Name {
			t.Errorf("segment %d: %s of %d users / %s of %d", j, p.Name, p.Size, q.Name, q.Size)
		}
	}
}

func TestRecommendSampleShards(t *testing.T) {
	for _, c := range []struct {
		users  int64
		shards int
		want   int
	}{
		{0, 8, 8},
		{RecommendSampleSize, 8, 8},
		{300_000, 8, 6},    // 225,000 users
		{1_000_000, 16, 4}, // 250,000 users
		{1_000_000_000, 1024, 1},
		{400_000, 1, 1},
	} {
		if got := recommendSampleShards(c.users, c.shards); got != c.want {
			t.Errorf("%d users, %d shards: %d sample shards, want %d", c.users, c.shards, got, c.want)
		}
	}
}
