package activities

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestFeaturesPipeline runs the features stage's activities in workflow
// order on two shards of hand-made events, then assigns segments and
// publishes the per-user table, and reads the Parquet back.
func TestFeaturesPipeline(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	env, acts := newEnv(store)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const shards = 2
	words := []string{"red heart lantern", "jumbo bag red", "heart t-light holder", "lunch bag", "red heart lantern"}
	mem := memory.NewGoAllocator()
	builders := [shards]*canon.EventBuilder{canon.NewEventBuilder(mem), canon.NewEventBuilder(mem)}
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	for i, u := range users {
		for j := 0; j <= i%3; j++ {
			w := words[(i+j)%len(words)]
			builders[shard.Of(u, shards)].Append(canon.Event{
				UserID: u, TS: end.Add(-time.Duration(10*i+j) * 24 * time.Hour), Type: canon.Purchase,
				ItemID: w, Category: "home", Text: w, Quantity: 1, Price: 2 + float64(j), OrderID: u + "-" + w,
			})
		}
	}
	for i, data := range encodeEvents(t, mem, builders[:]) {
		if err := store.Put(ctx, layout.EventsPart("r", i, "000-x"), data); err != nil {
			t.Fatal(err)
		}
	}
	cfg := interest.DefaultConfig()
	cfg.MinDF = 2
	exec := activityRunner(t, env)
	vin := VocabularyInput{RunID: "r", Interest: cfg, Top: 3}
	for i := range shards {
		var p ProfileOutput
		exec(acts.Profile, ProfileInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, End: end, Interest: cfg}, &p)
		vin.Docs += p.Users
		vin.TermsKeys, vin.PricesKeys = append(vin.TermsKeys, p.TermsKey), append(vin.PricesKeys, p.PricesKey)
	}
	var vocab VocabularyOutput
	exec(acts.Vocabulary, vin, &vocab)
	if vocab.Docs != 6 || vocab.Terms == 0 || vocab.Terms >= vocab.Counted || vocab.Items != len(words)-1 {
		t.Fatalf("vocabulary %+v", vocab)
	}
	for _, tt := range vocab.TopTerms {
		if tt.Term == "home" || tt.Weight > cfg.MaxDF {
			t.Errorf("top terms %+v: the category is in every document and must be pruned (MaxDF %v)", vocab.TopTerms, cfg.MaxDF)
		}
	}
	var samples []string
	moments := features.NewMoments(len(features.Names))
	for i := range shards {
		var f FeaturesOutput
		exec(acts.Features, FeaturesInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Cutoff: end.Add(-28 * 24 * time.Hour), LabelEnd: end, End: end,
			VocabularyKey: vocab.Key, Docs: vocab.Docs, PricesKey: vocab.PricesKey, Interest: cfg, Seed: 1, SampleRate: 1, SketchTrain: true}, &f)
		samples = append(samples, f.SampleKey)
		// The pass's sketches of the training rows are SketchShard's.
		sketched, err := acts.Store.Get(ctx, layout.TrainSketch("r", i))
		if err != nil {
			t.Fatal(err)
		}
		exec(acts.SketchShard, SketchInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}}, nil)
		if again, err := acts.Store.Get(ctx, layout.TrainSketch("r", i)); err != nil || !bytes.Equal(again, sketched) || f.TrainRows == 0 {
			t.Errorf("shard %d: the features pass's training sketches (%d bytes, %d rows) differ from SketchShard's (%d bytes, %v)", i, len(sketched), f.TrainRows, len(again), err)
		}
		if f.SampleRows != f.Users {
			t.Errorf("shard %d: %d sampled of %d at rate 1", i, f.SampleRows, f.Users)
		}
		if err := moments.Merge(f.Moments); err != nil {
			t.Fatal(err)
		}
	}
	var q features.Quantiles
	exec(acts.Quantiles, QuantilesInput{Keys: samples}, &q)
	if q.N != len(users) {
		t.Fatalf("quantiles over %d users, want %d", q.N, len(users))
	}
	scaler, err := features.NewScaler(features.SegmentNames, moments, q)
	if err != nil {
		t.Fatal(err)
	}
	centroids := [][]float64{make([]float64, scaler.Dim()), make([]float64, scaler.Dim())}
	centroids[1][0] = 1 // recency: the second segment holds the long-ago buyers
	var termKeys []string
	assigned := make([]int64, len(centroids)) // users per segment, as assigned
	for i := range shards {
		var as SegmentAssignOutput
		exec(acts.SegmentAssign, SegmentAssignInput{RunID: "r", Block: shard.Block{From: i, To: i + 1}, Scaler: scaler, Centroids: centroids}, &as)
		termKeys = append(termKeys, as.TermsKey)
		for j, n := range as.Sums.Count {
			assigned[j] += n
		}
	}
	var st SegmentTermsOutput
	exec(acts.SegmentTerms, SegmentTermsInput{Keys: termKeys, K: 2, Top: 5}, &st)
	if len(st.Terms) != 2 || len(st.Terms[0])+len(st.Terms[1]) == 0 {
		t.Errorf("segment terms %+v", st)
	}
	var pub PublishFeaturesOutput
	exec(acts.PublishFeatures, PublishFeaturesInput{RunID: "r", Shards: shards, SegmentNames: []string{"a", "b"}}, &pub)
	if pub.Rows != int64(len(users)) || pub.URL != "mem://runs/r/features.parquet" {
		t.Fatalf("published %+v", pub)
	}

	data, err := store.Get(ctx, pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != int64(len(users)) || tbl.NumCols() != int64(len(features.TableSchema.Fields())) {
		t.Errorf("table %d rows x %d columns, want %d x %d", tbl.NumRows(), tbl.NumCols(), len(users), len(features.TableSchema.Fields()))
	}
	for i, name := range []string{"user_id", "segment", "segment_name", "recency_days"} {
		if got := tbl.Schema().Field(i).Name; got != name {
			t.Errorf("column %d is %q, want %q", i, got, name)
		}
	}
	if got := tbl.Schema().Field(int(tbl.NumCols()) - 2).Name; got != "top_terms" {
		t.Errorf("next to last column %q, want top_terms", got)
	}
	// Every user once, in the segment they were assigned, under its name.
	names := []string{"a", "b"}
	published := make([]int64, len(centroids))
	seen := map[string]bool{}
	ids, segs, segNames := tbl.Column(0).Data().Chunks(), tbl.Column(1).Data().Chunks(), tbl.Column(2).Data().Chunks()
	for c := range ids {
		id, seg, name := ids[c].(*array.String), segs[c].(*array.Int32), segNames[c].(*array.String)
		for r := range id.Len() {
			s := seg.Value(r)
			if s < 0 || int(s) >= len(names) || name.Value(r) != names[s] {
				t.Errorf("user %s: segment %d named %q", id.Value(r), s, name.Value(r))
				continue
			}
			published[s]++
			seen[id.Value(r)] = true
		}
	}
	if len(seen) != len(users) || !slices.Equal(published, assigned) {
		t.Errorf("published %d distinct users, %v per segment; assigned %d, %v", len(seen), published, len(users), assigned)
	}
}
