package recommend

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
)

func buy(item string, day int64) Event {
	return Event{Item: item, Kind: Bought, Time: day * 86_400_000}
}

// plain is a configuration whose scores can be computed by hand: cosine
// co-purchases, no decay worth speaking of, no text, no embeddings, no
// popularity in the blend.
func plain() Config {
	c := DefaultConfig()
	c.UserDamping, c.HalfLifeDays, c.PopularityHalfLifeDays = 0, 1e9, 1e9
	c.Blend = Blend{CoPurchase: 1}
	return c
}

func TestNeighboursCosine(t *testing.T) {
	// Buyers: a {1,2,3}, b {1,2}, c {1,4}. co(a,b)=2, co(a,c)=1;
	// cosine(a,b) = 2/sqrt(3*2), cosine(a,c) = 1/sqrt(3*1).
	users := [][]Event{
		{buy("a", 1), buy("b", 1), buy("c", 1)},
		{buy("a", 1), buy("b", 1)},
		{buy("a", 1)},
	}
	m, err := Train(users, 10*86_400_000, plain())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Items, []string{"a", "b", "c"}) {
		t.Fatalf("items %v", m.Items)
	}
	want := []Neighbour{{1, float32(2 / math.Sqrt(6))}, {2, float32(1 / math.Sqrt(3))}}
	got := m.Neighbours[0]
	if len(got) != 2 || got[0].Item != 1 || got[1].Item != 2 ||
		math.Abs(float64(got[0].Sim-want[0].Sim)) > 1e-6 || math.Abs(float64(got[1].Sim-want[1].Sim)) > 1e-6 {
		t.Errorf("neighbours of a: %v, want %v", got, want)
	}
	if got := m.ByPopularity; !reflect.DeepEqual(got, []int32{0, 1, 2}) {
		t.Errorf("by popularity %v, want [0 1 2]", got)
	}
	if m.Popularity[0] != 1 || math.Abs(float64(m.Popularity[1])-2.0/3) > 1e-6 {
		t.Errorf("popularity %v, want [1 0.667 0.333]", m.Popularity)
	}
}

func TestUserDamping(t *testing.T) {
	// With damping 1 a pair from a user of 3 items counts 1/3, from a user
	// of 2 items 1/2: co(a,b) = 1/3 + 1/2.
	users := [][]Event{
		{buy("a", 1), buy("b", 1), buy("c", 1)},
		{buy("a", 1), buy("b", 1)},
	}
	c := plain()
	c.UserDamping = 1
	m, err := Train(users, 0, c)
	if err != nil {
		t.Fatal(err)
	}
	got := float64(m.Neighbours[0][0].Sim)
	if want := (1.0/3 + 1.0/2) / math.Sqrt(2*2); math.Abs(got-want) > 1e-6 {
		t.Errorf("sim(a,b) = %v, want %v", got, want)
	}
}

func TestRecommend(t *testing.T) {
	users := [][]Event{
		{buy("a", 1), buy("b", 1), buy("c", 1)},
		{buy("a", 1), buy("b", 1)},
		{buy("a", 1), buy("d", 1)},
		{buy("e", 1)}, {buy("e", 1)}, {buy("e", 1)}, {buy("e", 1)},
	}
	m, err := Train(users, 2*86_400_000, plain())
	if err != nil {
		t.Fatal(err)
	}
	s := NewScorer(m)
	// A buyer of a: b (co 2/sqrt(3*2)=0.816) before c and d (1/sqrt(3)=0.577,
	// tie broken by name); e, never bought with a, comes from popularity.
	got := s.Recommend([]Event{buy("a", 1)}, 2*86_400_000, Options{K: 4})
	items := names(got)
	if !reflect.DeepEqual(items, []string{"b", "c", "d", "e"}) {
		t.Fatalf("picks %v, want [b c d e]", items)
	}
	if got[0].Source != SourceCoPurchase || math.Abs(got[0].Score-1) > 1e-12 || got[3].Source != SourcePopularity {
		t.Errorf("picks %+v: want b from co-purchase at 1 (the user's best), e from popularity", got)
	}
	if want := 1 / math.Sqrt(3) / (2 / math.Sqrt(6)); math.Abs(got[1].Score-want) > 1e-6 {
		t.Errorf("c's score %v, want %v (scaled by the best co-purchase score)", got[1].Score, want)
	}
	// Bought items are excluded unless repeats are allowed.
	for _, p := range s.Recommend([]Event{buy("a", 1), buy("b", 1)}, 2*86_400_000, Options{K: 10}) {
		if p.Item == "a" || p.Item == "b" {
			t.Errorf("bought item %s recommended", p.Item)
		}
	}
	rep := names(s.Recommend([]Event{buy("a", 1), buy("b", 1)}, 2*86_400_000, Options{K: 10, AllowRepeats: true}))
	if len(rep) != 5 {
		t.Errorf("with repeats: %v, want all 5 items", rep)
	}
	// Cold start: the most popular items.
	if got := names(s.Recommend(nil, 0, Options{K: 2})); !reflect.DeepEqual(got, []string{"e", "a"}) {
		t.Errorf("cold start %v, want [e a]", got)
	}
	// The same history gives the same picks from a fresh scorer (no state
	// leaks between users).
	again := NewScorer(m).Recommend([]Event{buy("a", 1)}, 2*86_400_000, Options{K: 4})
	if first := s.Recommend([]Event{buy("a", 1)}, 2*86_400_000, Options{K: 4}); !reflect.DeepEqual(first, again) {
		t.Errorf("scorer state leaks: %v then %v", first, again)
	}
}

func TestCategoryRestriction(t *testing.T) {
	ev := func(item, cat string) Event { return Event{Item: item, Category: cat, Kind: Bought} }
	users := [][]Event{
		{ev("a", "party"), ev("b", "kitchen"), ev("c", "party")},
		{ev("a", "party"), ev("b", "kitchen")},
		{ev("d", "party")}, {ev("d", "party")}, {ev("d", "party")},
	}
	m, err := Train(users, 0, plain())
	if err != nil {
		t.Fatal(err)
	}
	got := NewScorer(m).Recommend([]Event{ev("a", "party")}, 0, Options{K: 3, Category: "party"})
	// c from co-purchase, then the category's popular d; b is kitchen.
	if items := names(got); !reflect.DeepEqual(items, []string{"c", "d"}) {
		t.Errorf("party picks %v, want [c d]", items)
	}
	if c := Category(got); c != "party" {
		t.Errorf("category %q, want party", c)
	}
}

func TestTextNeighbours(t *testing.T) {
	texts := []string{"LUNCH BAG RED RETROSPOT", "LUNCH BAG PINK POLKADOT", "JUMBO BAG RED RETROSPOT",
		"WHITE METAL LANTERN", "PINK POLKADOT CUP"}
	nb := textNeighbours(texts, 10)
	// Terms on one item only (idf 0 by construction: df 1) do not link
	// items; "lantern" links nothing.
	if len(nb[3]) != 0 {
		t.Errorf("lantern has neighbours %v", nb[3])
	}
	// Item 0 shares "lunch" and "bag" with 1 and "bag", "red",
	// "retrospot" with 2: both are neighbours; every similarity is
	// symmetric and in (0, 1].
	if len(nb[0]) != 2 {
		t.Errorf("neighbours of item 0: %v, want items 1 and 2", nb[0])
	}
	for i := range nb {
		for _, n := range nb[i] {
			found := false
			for _, back := range nb[n.Item] {
				if back.Item == int32(i) && math.Abs(float64(back.Sim-n.Sim)) < 1e-6 {
					found = true
				}
			}
			if !found {
				t.Errorf("text similarity %d->%d not symmetric", i, n.Item)
			}
			if n.Sim <= 0 || n.Sim > 1+1e-6 {
				t.Errorf("text similarity %d->%d = %v, want in (0, 1]", i, n.Item, n.Sim)
			}
		}
	}
}

func TestItem2vecDeterministicAndLearns(t *testing.T) {
	// Two worlds of 20 items that never meet in a sequence: items 0..19
	// and 20..39. Embeddings of the same world end up closer.
	const n, d = 40, 16
	var seqs [][]int32
	for r := 0; r < 300; r++ {
		for w := int32(0); w < 2; w++ {
			s := make([]int32, 10)
			for k := range s {
				s[k] = w*20 + int32((r*7+k*3+k*k)%20)
			}
			seqs = append(seqs, s)
		}
	}
	c := DefaultConfig()
	c.Dim, c.Epochs, c.MinCount = d, 5, 1
	v := item2vec(n, seqs, c)
	if !reflect.DeepEqual(v, item2vec(n, seqs, c)) {
		t.Fatal("item2vec is not deterministic")
	}
	at := func(i int) []float32 { return v[i*d : i*d+d] }
	var same, other float32
	for i := range 20 {
		for j := range 20 {
			if i != j {
				same += dot(at(i), at(j)) / 380
			}
			other += dot(at(i), at(20+j)) / 400
		}
	}
	if !(same > other+0.2) {
		t.Errorf("mean cosine within a world %v, across %v: want within clearly higher", same, other)
	}
}

func TestValidate(t *testing.T) {
	bad := DefaultConfig()
	bad.HalfLifeDays = 0
	if _, err := Train(nil, 0, bad); err == nil {
		t.Error("half-life 0 accepted")
	}
	if _, err := Train(nil, 0, DefaultConfig()); err != nil {
		t.Errorf("no users: %v", err)
	}
}

func names(p []Pick) []string {
	out := make([]string, len(p))
	for i, x := range p {
		out[i] = x.Item
	}
	return out
}

// TestTrainerOrder checks that the model does not depend on the order
// items are named in or events arrive in within a user: a Trainer fed the
// users' interactions with items named in reverse gives Train's model.
func TestTrainerOrder(t *testing.T) {
	users, asOf := synthUsers(t, 300)
	cfg := DefaultConfig()
	want, err := Train(users, asOf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrainer(asOf, cfg)
	for u := len(users) - 1; u >= 0; u-- {
		for k := len(users[u]) - 1; k >= 0; k-- {
			e := users[u][k]
			tr.Item(e.Item, e.Category, e.Text)
		}
	}
	for _, u := range users {
		var h []Interaction
		for k := len(u) - 1; k >= 0; k-- {
			e := u[k]
			h = append(h, Interaction{Item: tr.Item(e.Item, e.Category, e.Text), Kind: e.Kind, Time: e.Time, Basket: tr.Basket(e.Basket)})
		}
		tr.Add(h)
	}
	got, err := tr.Model()
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Items) < 100 || !reflect.DeepEqual(got.Items, want.Items) || !reflect.DeepEqual(got.Categories, want.Categories) {
		t.Fatalf("catalogues differ: %d and %d items", len(got.Items), len(want.Items))
	}
	if !reflect.DeepEqual(got.Neighbours, want.Neighbours) || !reflect.DeepEqual(got.TextNeighbours, want.TextNeighbours) ||
		!reflect.DeepEqual(got.Popularity, want.Popularity) {
		t.Error("neighbours or popularity differ with the order of items and events")
	}
}

// TestListsMatchRecommend checks that the lists of several options from
// one pass are those of one Recommend call each, and that a bounded
// number of neighbours read changes the lists of long histories only.
func TestListsMatchRecommend(t *testing.T) {
	users, asOf := synthUsers(t, 500)
	m, err := Train(users, asOf, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := NewScorer(m)
	opts := []Options{{K: 10}, {K: 10, Category: "shoes"}, {K: 5, AllowRepeats: true}, {K: 3, Category: "no such category"}}
	for _, u := range users[:100] {
		var h []Interaction
		for _, e := range u {
			h = append(h, Interaction{Item: m.Index(e.Item), Kind: e.Kind, Time: e.Time})
		}
		lists := s.Lists(h, asOf, opts)
		for l, opt := range opts {
			if one := s.Recommend(u, asOf, opt); !reflect.DeepEqual(lists[l], one) {
				t.Fatalf("list %d (%+v): %v from Lists, %v from Recommend", l, opt, names(lists[l]), names(one))
			}
		}
		if len(lists[1]) != 10 || lists[1][0].Category != "shoes" || len(lists[3]) != 0 {
			t.Fatalf("category lists %v, %v: want 10 shoes, none of an unknown category", lists[1], lists[3])
		}
	}
}

// TestEachFeatured checks the plan's reading of a record against the
// picks': the same joined items and category for every (user, list),
// ties of categories going to the first reached.
func TestEachFeatured(t *testing.T) {
	p := func(item, cat string) Pick {
		return Pick{Item: item, Category: cat, Score: 1, Source: SourceCoPurchase}
	}
	lists := []List{
		{User: "u1", Picks: []Pick{p("a", "x"), p("b", "y"), p("c", "y")}},
		{User: "u1", List: "party", Picks: []Pick{p("d", "party")}},
		{User: "u2", Picks: []Pick{p("e", ""), p("f", "z"), p("g", "w"), p("h", "w"), p("i", "z")}}, // tie: w reached 2 first
		{User: "u3", Picks: []Pick{p("j", "")}},
		{User: "u4", List: "party", Picks: []Pick{p("k", "party"), p("l", "party")}},
	}
	rec := Record(lists, memory.NewGoAllocator())
	defer rec.Release()
	type got struct{ user, list, items, cat string }
	var want, have []got
	err := EachList(rec, func(l List) error {
		want = append(want, got{l.User, l.List, Joined(l.Picks), Category(l.Picks)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = EachFeatured(rec, func(user string, f Featured) error {
		have = append(have, got{user, f.List, f.Items, f.Category})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(have, want) || len(have) != len(lists) {
		t.Fatalf("featured %v, want %v", have, want)
	}
	// The compact record (what decide reads) says the same.
	frec := FeaturedRecord(lists, memory.NewGoAllocator())
	defer frec.Release()
	have = have[:0]
	err = EachFeatured(frec, func(user string, f Featured) error {
		have = append(have, got{user, f.List, f.Items, f.Category})
		return nil
	})
	if err != nil || !slices.Equal(have, want) || frec.NumRows() != int64(len(lists)) {
		t.Fatalf("compact record: featured %v (%d rows, %v), want %v", have, frec.NumRows(), err, want)
	}
	if want[0].items != "a|b|c" || want[0].cat != "y" || want[2].cat != "w" || want[3].cat != "" {
		t.Errorf("picks' reading %v", want)
	}
}

// TestRecordBytes checks that Record, which lays its columns out by hand,
// encodes to the same IPC bytes as the same columns built by Arrow's
// builders, with empty strings, several lists a user and no lists at all.
func TestRecordBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	byBuilder := func(lists []List) arrow.Record {
		b := array.NewRecordBuilder(mem, Schema)
		defer b.Release()
		f := b.Fields()
		for _, l := range lists {
			for r, p := range l.Picks {
				f[0].(*array.StringBuilder).Append(l.User)
				f[1].(*array.StringBuilder).Append(l.List)
				f[2].(*array.Int32Builder).Append(int32(r + 1))
				f[3].(*array.StringBuilder).Append(p.Item)
				f[4].(*array.StringBuilder).Append(p.Category)
				f[5].(*array.Float64Builder).Append(p.Score)
				f[6].(*array.StringBuilder).Append(p.Source)
			}
		}
		return b.NewRecord()
	}
	var lists []List
	for u := range 300 {
		for l, name := range []string{"", "tea"} {
			list := List{User: fmt.Sprintf("u%03d", u), List: name}
			for k := range (u + l) % 12 {
				list.Picks = append(list.Picks, Pick{Item: fmt.Sprintf("item-%d", u*k%97), Category: []string{"", "tea", "home"}[k%3], Score: float64(k) / 7, Source: sources[k%4]})
			}
			lists = append(lists, list)
		}
	}
	for _, c := range [][]List{lists, lists[:1], nil} {
		want, got := byBuilder(c), Record(c, mem)
		wb, err := arrowio.Encode(Schema, mem, want)
		if err != nil {
			t.Fatal(err)
		}
		gb, err := arrowio.Encode(Schema, mem, got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, wb) {
			t.Errorf("%d lists: Record encodes to %d bytes unlike the builders' %d", len(c), len(gb), len(wb))
		}
		if !array.RecordEqual(got, want) {
			t.Errorf("%d lists: records differ", len(c))
		}
		want.Release()
		got.Release()
	}
}
