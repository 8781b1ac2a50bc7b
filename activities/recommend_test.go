package activities

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/recommend"
	"github.com/promoflow/promoflow/internal/shard"
)

// TestRecommendPipeline runs the recommendation step's activities in
// workflow order on two shards of hand-made purchases, then fills plan
// rows from a shard's lists.
func TestRecommendPipeline(t *testing.T) {
	ctx := context.Background()
	store := &openCounter{Mem: blob.NewMem()}
	env, acts := newEnv(store)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const shards = 2
	mem := memory.NewGoAllocator()
	builders := [shards]*canon.EventBuilder{canon.NewEventBuilder(mem), canon.NewEventBuilder(mem)}
	// Items p1..p4 are party items, k1..k4 kitchen; every user buys a few,
	// and a view that must not count as bought.
	items := []string{"p1", "p2", "p3", "p4", "k1", "k2", "k3", "k4"}
	cat := func(it string) string {
		if it[0] == 'p' {
			return "party"
		}
		return "kitchen"
	}
	bought := map[string]map[string]bool{}
	for u := range 40 {
		id := string(rune('a'+u%26)) + string(rune('a'+u/26))
		bought[id] = map[string]bool{}
		for j := range 3 {
			it := items[(u+j*(1+u%3))%len(items)]
			bought[id][it] = true
			builders[shard.Of(id, shards)].Append(canon.Event{UserID: id, TS: end.Add(-time.Duration(u+j) * time.Hour),
				Type: canon.Purchase, ItemID: it, Category: cat(it), Text: "gift " + it, Quantity: 1, Price: 2, OrderID: id})
		}
		builders[shard.Of(id, shards)].Append(canon.Event{UserID: id, TS: end.Add(-time.Hour), Type: canon.View,
			ItemID: "k4", Category: "kitchen", Text: "gift k4", Quantity: 1, Price: 2})
	}
	for i, data := range encodeEvents(t, mem, builders[:]) {
		if err := store.Put(ctx, layout.EventsPart("r", i, "000-x"), data); err != nil {
			t.Fatal(err)
		}
	}
	exec := activityRunner(t, env)
	var model RecommendModelOutput
	exec(acts.RecommendModel, RecommendModelInput{RunID: "r", Shards: shards, End: end, Rate: 1, Seed: 7, Config: recommend.DefaultConfig()}, &model)
	if model.Users != 40 || model.Items != len(items) || model.Key != layout.RecommendModel("r") {
		t.Fatalf("model %+v: want 40 users, %d items", model, len(items))
	}
	// A model on the first shard only trains on that shard's users.
	shard0 := 0
	for u := range bought {
		if shard.Of(u, shards) == 0 {
			shard0++
		}
	}
	var one RecommendModelOutput
	exec(acts.RecommendModel, RecommendModelInput{RunID: "r", Shards: shards, SampleShards: 1, End: end, Seed: 7, Config: recommend.DefaultConfig()}, &one)
	if one.Users != shard0 || shard0 == 0 || shard0 == 40 {
		t.Fatalf("model of shard 0: %d users, want %d", one.Users, shard0)
	}
	// One block of both shards.
	var out RecommendOutput
	exec(acts.Recommend, RecommendInput{RunID: "r", Block: shard.Block{From: 0, To: shards}, End: end, Lists: Lists{ModelKey: model.Key, K: 4, Categories: []string{"party"}}}, &out)
	keys, users := out.Keys, out.Users
	if len(keys) != shards || keys[1] != layout.Recommendations("r", 1) {
		t.Fatalf("keys %v: want one per shard", keys)
	}
	listed := 0
	byShard := make([]map[string]map[string][]recommend.Pick, shards)
	for i, key := range keys {
		lists := readLists(t, acts, key)
		byShard[i] = lists
		featured, err := acts.featuredLists(ctx, layout.Featured("r", i), true)
		if err != nil {
			t.Fatal(err)
		}
		// Runs from before the featured lists read the lists themselves.
		if old, err := acts.featuredLists(ctx, key, false); err != nil || !reflect.DeepEqual(old, featured) {
			t.Errorf("shard %d: featured lists %v differ from those read from the lists %v (%v)", i, featured, old, err)
		}
		if len(featured) != len(lists) {
			t.Errorf("shard %d: %d users featured, %d listed", i, len(featured), len(lists))
		}
		listed += len(lists)
		if len(lists) == 0 {
			t.Errorf("shard %d: no lists", i)
		}
		for u, l := range lists {
			if len(l[""]) != 4 || len(l["party"]) == 0 {
				t.Errorf("user %s: lists %v, want 4 general picks and a party list", u, l)
			}
			for name, picks := range l {
				for _, p := range picks {
					if bought[u][p.Item] {
						t.Errorf("user %s, list %q: %s was bought", u, name, p.Item)
					}
					if name == "party" && p.Category != "party" {
						t.Errorf("user %s: party list features %s (%s)", u, p.Item, p.Category)
					}
				}
			}
		}
		// Plan rows take the list of their offer's category, else the
		// general one.
		var rows []plan.Row
		for u := range lists {
			rows = append(rows, plan.Row{UserID: u, Offer: "bundle"}, plan.Row{UserID: u, Offer: "coupon"})
		}
		rows = append(rows, plan.Row{UserID: "nobody", Offer: "coupon"})
		feature(rows, featured, map[string]string{"bundle": "party"})
		for _, r := range rows {
			want, wantCat := "", ""
			if l := lists[r.UserID]; l != nil {
				picks := l[""]
				if r.Offer == "bundle" {
					picks = l["party"]
				}
				want, wantCat = recommend.Joined(picks), recommend.Category(picks)
			}
			if r.RecommendedItems != want || r.RecommendedCategory != wantCat {
				t.Errorf("user %s, offer %s: featured %q (%q), want %q (%q)", r.UserID, r.Offer, r.RecommendedItems, r.RecommendedCategory, want, wantCat)
			}
			if r.Offer == "bundle" && r.RecommendedCategory != "party" {
				t.Errorf("user %s: bundle's category %q, want party", r.UserID, r.RecommendedCategory)
			}
		}
	}
	if users != 40 || listed != 40 {
		t.Errorf("%d users recommended, %d with lists, want 40", users, listed)
	}
	// The features pass writes the same lists from the events it holds.
	var vocab VocabularyOutput
	var profile ProfileOutput
	exec(acts.Profile, ProfileInput{RunID: "r", Block: shard.Block{From: 0, To: shards}, End: end, Interest: interest.DefaultConfig(), Window: shards}, &profile)
	// The model trained from the events the profile pass left in the
	// worker's cache is the one trained from the bucket (by a worker
	// with an empty cache); the model of shard 0 is put back after.
	oneBytes, err := store.Get(ctx, model.Key)
	if err != nil {
		t.Fatal(err)
	}
	full := RecommendModelInput{RunID: "r", Shards: shards, End: end, Rate: 1, Seed: 7, Config: recommend.DefaultConfig()}
	trained := func(env *testsuite.TestActivityEnvironment, acts *Activities) []byte {
		var out RecommendModelOutput
		activityRunner(t, env)(acts.RecommendModel, full, &out)
		b, err := store.Get(ctx, out.Key)
		if err != nil || out.Users != 40 {
			t.Fatalf("model %+v: %v", out, err)
		}
		return b
	}
	opens := store.opens.Load()
	fromCache := trained(env, acts)
	if n := store.opens.Load() - opens; n != 0 {
		t.Errorf("the model read %d event objects, want none: the profile pass left them in the cache", n)
	}
	env2, acts2 := newEnv(store)
	if fromBucket := trained(env2, acts2); !bytes.Equal(fromCache, fromBucket) {
		t.Error("the model trained from the cached events differs from the one trained from the bucket")
	}
	if store.opens.Load() == opens {
		t.Error("a worker without the events cached read no event objects")
	}
	if err := store.Put(ctx, model.Key, oneBytes); err != nil {
		t.Fatal(err)
	}
	exec(acts.Vocabulary, VocabularyInput{RunID: "r", Interest: interest.DefaultConfig(), Top: 5, Docs: profile.Users,
		TermsKeys: []string{profile.TermsKey}, PricesKeys: []string{profile.PricesKey}}, &vocab)
	var feats FeaturesOutput
	exec(acts.Features, FeaturesInput{RunID: "r", Block: shard.Block{From: 0, To: shards}, Cutoff: end.Add(-7 * 24 * time.Hour), LabelEnd: end, End: end,
		VocabularyKey: vocab.Key, Docs: vocab.Docs, PricesKey: vocab.PricesKey, Seed: 7, SampleRate: 1,
		Lists: &Lists{ModelKey: model.Key, K: 4, Categories: []string{"party"}}}, &feats)
	if feats.Listed != users || !reflect.DeepEqual(feats.Sources, out.Sources) {
		t.Errorf("features pass: %d users listed, sources %v; Recommend: %d, %v", feats.Listed, feats.Sources, users, out.Sources)
	}
	for i, key := range keys {
		if got := readLists(t, acts, key); !reflect.DeepEqual(got, byShard[i]) {
			t.Errorf("shard %d: the features pass's lists differ from Recommend's:\n%v\n%v", i, got, byShard[i])
		}
	}
	var table RecommendationsTableOutput
	exec(acts.RecommendationsTable, RecommendationsTableInput{RunID: "r", Keys: keys}, &table)
	if table.Rows < 40*5 {
		t.Errorf("table %+v: want at least 4 general and 1 party row per user", table)
	}
	if _, err := store.Get(ctx, layout.RecommendationsTable("r")); err != nil {
		t.Error(err)
	}
}

// readLists reads a shard's recommendations whole: user -> list -> picks.
func readLists(t *testing.T, acts *Activities, key string) map[string]map[string][]recommend.Pick {
	t.Helper()
	out := map[string]map[string][]recommend.Pick{}
	err := acts.readArrow(context.Background(), key, recommend.Schema, func(rec arrow.Record) error {
		return recommend.EachList(rec, func(l recommend.List) error {
			if out[l.User] == nil {
				out[l.User] = map[string][]recommend.Pick{}
			}
			out[l.User][l.List] = l.Picks
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
