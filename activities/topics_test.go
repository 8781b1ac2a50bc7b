package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/lda"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestTopicsPipeline runs the topics step's activities in workflow order
// (vocabulary, init, the schedule's E-steps and M-steps, assignment) on
// two shards of users who are either gardeners or cooks: the two topics
// found are the two vocabularies, every user's dominant topic is their
// group's, and each segment's θ sums say so.
func TestTopicsPipeline(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	env, acts := newEnv(store)
	exec := activityRunner(t, env)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const shards, users = 2, 60
	mem := memory.NewGoAllocator()
	builders := [shards]*canon.EventBuilder{canon.NewEventBuilder(mem), canon.NewEventBuilder(mem)}
	groups := [2][]string{
		{"garden hose", "rake spade", "garden gloves", "flower seeds", "spade hose"},
		{"kettle teapot", "mug spoon", "teapot cosy", "kettle mug", "spoon rest"},
	}
	group := map[string]int{}
	segs := [shards]struct {
		ids []string
		seg []int32
	}{}
	for u := range users {
		id := fmt.Sprintf("u%03d", u)
		g := u % 2
		group[id] = g
		sh := shard.Of(id, shards)
		for j := range 4 {
			text := groups[g][(u/2+j)%len(groups[g])]
			builders[sh].Append(canon.Event{UserID: id, TS: end.Add(-time.Duration(u+j) * time.Hour), Type: canon.View,
				ItemID: fmt.Sprint("i", g, j), Text: text, Quantity: 1, Price: 2})
		}
		// After the end: not read.
		builders[sh].Append(canon.Event{UserID: id, TS: end.Add(time.Hour), Type: canon.Purchase,
			ItemID: "late", Text: groups[1-g][0], Quantity: 1, Price: 2, OrderID: id})
		// Segment = group, except that user 0 sits in segment 1.
		s := int32(g)
		if u == 0 {
			s = 1
		}
		segs[sh].ids, segs[sh].seg = append(segs[sh].ids, id), append(segs[sh].seg, s)
	}
	for i, data := range encodeEvents(t, mem, builders[:]) {
		if err := store.Put(ctx, layout.EventsPart("r", i, "000-x"), data); err != nil {
			t.Fatal(err)
		}
		rec := features.SegmentRecord(segs[i].ids, segs[i].seg, make([]float64, len(segs[i].ids)), mem)
		if err := acts.writeArrow(ctx, layout.Segments("r", i), features.SegmentSchema, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	icfg := interest.DefaultConfig()
	var prof ProfileOutput
	exec(acts.Profile, ProfileInput{RunID: "r", Block: shard.Block{From: 0, To: shards}, End: end, Interest: icfg}, &prof)
	var vocab VocabularyOutput
	exec(acts.Vocabulary, VocabularyInput{RunID: "r", TermsKeys: []string{prof.TermsKey}, PricesKeys: []string{prof.PricesKey}, Docs: prof.Users, Interest: icfg}, &vocab)

	cfg := lda.DefaultConfig(2)
	cfg.Passes, cfg.Seed = 10, 3
	var init TopicsInitOutput
	exec(acts.TopicsInit, TopicsInitInput{RunID: "r", VocabularyKey: vocab.Key, Docs: vocab.Docs, Terms: 12, Config: cfg}, &init)
	if init.Terms != 12 || init.LambdaKey != layout.TopicsLambda("r", 0) {
		t.Fatalf("init %+v: want 12 terms (of %d), λ₀", init, vocab.Terms)
	}
	lambda := init.LambdaKey
	var last TopicsUpdateOutput
	for u, b := range lda.Schedule(shards, 1, cfg.Passes) {
		var e TopicsEStepOutput
		exec(acts.TopicsEStep, TopicsEStepInput{RunID: "r", Block: shard.Block{From: b[0], To: b[1]}, VocabularyKey: init.VocabularyKey,
			Docs: vocab.Docs, LambdaKey: lambda, Update: u, Config: cfg, Interest: icfg, End: end}, &e)
		exec(acts.TopicsUpdate, TopicsUpdateInput{RunID: "r", LambdaKey: lambda, StatsKeys: []string{e.Key}, Update: u, Config: cfg,
			Docs: users, Shards: shards, BatchShards: 1, VocabularyKey: init.VocabularyKey, Top: 3}, &last)
		if last.Docs != e.Docs || e.Docs == 0 {
			t.Fatalf("update %d: %d docs merged, e-step %d", u, last.Docs, e.Docs)
		}
		lambda = last.LambdaKey
	}
	t.Logf("topics %v", last.Topics)
	// Each topic's top words come from one group's texts.
	topicOf := map[int]int{} // group -> topic
	for k, words := range last.Topics {
		g := -1
		for _, w := range words {
			wg := -1
			for gi, texts := range groups {
				if strings.Contains(strings.Join(texts, " "), strings.Fields(w.Term)[0]) {
					wg = gi
				}
			}
			if g >= 0 && wg != g || wg < 0 {
				t.Fatalf("topic %d mixes the groups: %v", k, words)
			}
			g = wg
		}
		topicOf[g] = k
	}
	if len(topicOf) != 2 {
		t.Fatalf("topics %v: want one per group", last.Topics)
	}
	var out TopicsAssignOutput
	exec(acts.TopicsAssign, TopicsAssignInput{RunID: "r", Block: shard.Block{From: 0, To: shards}, VocabularyKey: init.VocabularyKey,
		Docs: vocab.Docs, LambdaKey: lambda, Config: cfg, Interest: icfg, End: end, Segments: 2}, &out)
	if out.Docs != users || out.SegmentDocs[0] != users/2-1 || out.SegmentDocs[1] != users/2+1 {
		t.Fatalf("assign %+v: want %d docs, segments of 29 and 31", out, users)
	}
	// Segment 0 is gardeners only; segment 1 cooks and one gardener.
	if s := out.SegmentTheta[0][topicOf[0]] / float64(out.SegmentDocs[0]); s < 0.9 {
		t.Errorf("segment 0's mean share of the garden topic %.2f, want above 0.9", s)
	}
	if s := out.SegmentTheta[1][topicOf[1]] / float64(out.SegmentDocs[1]); s < 0.85 || s > 1-1.0/31*0.8 {
		t.Errorf("segment 1's mean share of the kitchen topic %.2f, want about 30/31", s)
	}
	rows := 0
	for i := range shards {
		err := acts.readArrow(ctx, layout.Topics("r", i), TopicsSchema, func(rec arrow.Record) error {
			ids := rec.Column(0).(*array.String)
			top := rec.Column(1).(*array.Int32)
			theta := rec.Column(2).(*array.List)
			for r := 0; r < int(rec.NumRows()); r++ {
				rows++
				if int(top.Value(r)) != topicOf[group[ids.Value(r)]] {
					t.Errorf("user %s (group %d): dominant topic %d", ids.Value(r), group[ids.Value(r)], top.Value(r))
				}
				if from, to := theta.ValueOffsets(r); to-from != 2 {
					t.Errorf("user %s: θ of %d topics", ids.Value(r), to-from)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if rows != users {
		t.Errorf("%d θ rows, want %d", rows, users)
	}
}
