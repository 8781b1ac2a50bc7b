package features

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/interest"
)

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// at is day d plus h hours and m minutes after day0.
func at(d, h, m float64) time.Time {
	return day0.Add(time.Duration(((d*24+h)*60 + m) * float64(time.Minute)))
}

// history is user a's purchase history of the hand-computed case, plus two
// other users.
func history() []canon.Event {
	return []canon.Event{
		// Session 1 (day 0): a deal search, an order of two lines.
		{UserID: "a", TS: at(0, 10, 0), Type: canon.View, ItemID: "s1", Category: "shoes", Text: "Red leather boot", Quantity: 1, Price: 100, Channel: "app"},
		{UserID: "a", TS: at(0, 10, 5), Type: canon.Search, Text: "boots sale", Channel: "app"},
		{UserID: "a", TS: at(0, 10, 10), Type: canon.Cart, ItemID: "s1", Category: "shoes", Text: "Red leather boot", Quantity: 1, Price: 100, Channel: "EMAIL"},
		{UserID: "a", TS: at(0, 10, 12), Type: canon.Purchase, OrderID: "o1", ItemID: "s1", Category: "shoes", Text: "Red leather boot", Quantity: 1, Price: 100},
		{UserID: "a", TS: at(0, 10, 12), Type: canon.Purchase, OrderID: "o1", ItemID: "b1", Category: "bags", Text: "Tote bag", Quantity: 2, Price: 20},
		// Session 2 (day 5): a return.
		{UserID: "a", TS: at(5, 9, 0), Type: canon.Return, OrderID: "o1", ItemID: "s1", Category: "shoes", Text: "Red leather boot", Quantity: -1, Price: 100},
		// Session 3 (day 10): an abandoned cart.
		{UserID: "a", TS: at(10, 12, 0), Type: canon.View, ItemID: "s2", Category: "shoes", Text: "Black boot", Quantity: 1, Price: 50},
		{UserID: "a", TS: at(10, 12, 5), Type: canon.Cart, ItemID: "s2", Category: "shoes", Text: "Black boot", Quantity: 1, Price: 50},
		// Session 4 (day 20): s2 below its reference price of 50.
		{UserID: "a", TS: at(20, 8, 0), Type: canon.Purchase, OrderID: "o2", ItemID: "s2", Category: "shoes", Text: "Black boot", Quantity: 1, Price: 45},
		// Session 5 (day 26).
		{UserID: "a", TS: at(26, 0, 0), Type: canon.Purchase, OrderID: "o3", ItemID: "h1", Category: "home", Text: "Vase", Quantity: 1, Price: 30},
		// After the cutoff (day 30), in the label window.
		{UserID: "a", TS: at(35, 0, 0), Type: canon.Purchase, OrderID: "o4", ItemID: "h1", Category: "home", Text: "Vase", Quantity: 1, Price: 30},
		{UserID: "b", TS: at(10, 0, 0), Type: canon.View, ItemID: "h1", Category: "home", Text: "Vase", Quantity: 1, Price: 30},
		{UserID: "c", TS: at(33, 0, 0), Type: canon.View, ItemID: "h1", Category: "home", Text: "Vase", Quantity: 1, Price: 30}, // new after the cutoff
		{UserID: "a", TS: at(50, 0, 0), Type: canon.Purchase, OrderID: "o5", Quantity: 1, Price: 1e6},                           // after End: ignored
		{UserID: "", TS: at(10, 0, 0), Type: canon.View},                                                                        // no user: skipped
	}
}

func params() Params {
	return Params{Cutoff: at(30, 0, 0), LabelEnd: at(40, 0, 0), End: at(40, 0, 0), Interest: interest.DefaultConfig(),
		Prices: map[string]float64{"s1": 100, "s2": 50, "b1": 20, "h1": 30}}
}

func value(t *testing.T, r Row, name string) float64 {
	t.Helper()
	j := Index(name)
	if j < 0 {
		t.Fatalf("no feature %q", name)
	}
	return r.Values[j]
}

func TestRowsHandComputed(t *testing.T) {
	var evs Events
	for _, e := range history() {
		evs.Add(e)
	}
	if evs.Skipped != 1 {
		t.Errorf("skipped %d events, want 1 (no user id)", evs.Skipped)
	}
	score, train := evs.Rows(params())
	if len(train) != 2 || train[0].UserID != "a" || train[1].UserID != "b" {
		t.Fatalf("train rows %+v, want a and b", train)
	}
	// a as of day 30: orders o1 (day 0 10:12), o2 (day 20 8:00), o3 (day 26).
	first := 10.0 / 24 // day of the first event
	o1, o2, o3 := 0+10.2/24, 20+8.0/24, 26.0
	tenure := 30 - first
	weeks := tenure / 7
	want := map[string]float64{
		"recency_days":        30 - o3,
		"frequency":           3,
		"monetary":            (100 + 2*20 + 45 + 30) - 100, // returns are net
		"avg_order_value":     115.0 / 3,
		"tenure_days":         tenure,
		"interpurchase_days":  (o3 - o1) / 2,
		"interpurchase_trend": math.Log((o3 - o2 + 1) / (o2 - o1 + 1)),
		"return_rate":         1.0 / 5, // 1 of 5 units bought
		"discount_share":      2.0 / 3, // o1 after a deal search, o2 below the reference price
		"categories":          3,       // shoes, bags, home
		"sessions_per_week":   5 / weeks,
		"views_per_week":      2 / weeks,
		"searches_per_week":   1 / weeks,
		"carts_per_week":      2 / weeks,
		"cart_abandonment":    0.5, // of the two sessions with a cart, day 10 ended without an order
		"view_price":          (100 + 50) / 2.0,
		"deal_searches":       1,
		"app_share":           2.0 / 10, // of a's 10 events before the cutoff
		"email_share":         1.0 / 10, // channel names are matched without case
	}
	for name, w := range want {
		if got := value(t, train[0], name); math.Abs(got-w) > 1e-9 {
			t.Errorf("train a %s = %v, want %v", name, got, w)
		}
	}
	if train[0].Label != 1 || train[1].Label != 0 {
		t.Errorf("labels a=%v b=%v, want 1, 0", train[0].Label, train[1].Label)
	}
	b := train[1]
	if value(t, b, "recency_days") != MaxRecency || value(t, b, "frequency") != 0 ||
		value(t, b, "interpurchase_days") != value(t, b, "tenure_days") || value(t, b, "tenure_days") != 20 {
		t.Errorf("non-buyer b = %v", b.Values)
	}
	if len(score) != 3 {
		t.Fatalf("score rows = %d, want 3 (a, b, c)", len(score))
	}
	// a as of day 40: o4 on day 35 too.
	if got := score[0]; value(t, got, "recency_days") != 5 || value(t, got, "frequency") != 4 || value(t, got, "monetary") != 145 {
		t.Errorf("score a = %v", got.Values)
	}
	if len(train[0].Categories) != 0 || len(score[0].Categories) != 3 || score[0].Categories[0].Term != "shoes" {
		t.Errorf("categories: train %v (want none), score %v (want shoes first)", train[0].Categories, score[0].Categories)
	}
	var share float64
	for _, c := range score[0].Categories {
		share += c.Weight
	}
	if math.Abs(share-1) > 1e-12 {
		t.Errorf("category shares sum to %v, want 1", share)
	}
}

// TestTrainingRowsSeeOnlyEventsBeforeCutoff checks that nothing at or
// after the cutoff reaches a training row: with later events of every kind
// (kept words, a new category, a deal search, carts, a return, an order),
// the training rows' features, interest vector included, equal those
// computed from the events before the cutoff alone, while the scoring rows
// change.
func TestTrainingRowsSeeOnlyEventsBeforeCutoff(t *testing.T) {
	p := params()
	cut := p.Cutoff
	later := []canon.Event{
		{UserID: "a", TS: cut, Type: canon.Search, Text: "garden lantern sale"}, // at the cutoff: not before it
		{UserID: "a", TS: cut.Add(time.Minute), Type: canon.Cart, ItemID: "g1", Category: "garden", Text: "Garden lantern", Quantity: 2, Price: 15},
		{UserID: "a", TS: cut.Add(2 * time.Minute), Type: canon.Purchase, OrderID: "o9", ItemID: "g1", Category: "garden", Text: "Garden lantern", Quantity: 2, Price: 12},
		{UserID: "a", TS: cut.Add(48 * time.Hour), Type: canon.Return, OrderID: "o2", ItemID: "s2", Category: "shoes", Text: "Black boot", Quantity: -1, Price: 45},
		{UserID: "b", TS: cut.Add(time.Hour), Type: canon.View, ItemID: "g1", Category: "garden", Text: "Garden lantern", Quantity: 1, Price: 15},
		{UserID: "b", TS: cut.Add(2 * time.Hour), Type: canon.Cart, ItemID: "g1", Category: "garden", Text: "Garden lantern", Quantity: 1, Price: 15},
	}
	var all, before Events
	for _, e := range append(history(), later...) {
		all.Add(e)
		if !e.TS.Before(cut) {
			continue
		}
		before.Add(e)
	}
	// One vocabulary for both, keeping every word, so that a leak of a
	// later word would show in the interest vector.
	prof := all.Profile(p.Interest, p.End)
	cfg := p.Interest
	cfg.MinDF, cfg.MaxDF = 1, 1
	p.Vocab = interest.NewVocabulary(prof.DF, prof.Users, cfg)
	p.Proj = interest.NewProjection(p.Vocab, InterestDim, 1)
	if p.Vocab.Index("lantern") < 0 || p.Vocab.Index("garden") < 0 {
		t.Fatal("the later words are not in the vocabulary: the test would prove nothing")
	}
	sAll, tAll := all.Rows(p)
	sBefore, tBefore := before.Rows(p)
	if len(tAll) != 2 || len(tBefore) != 2 {
		t.Fatalf("training rows: %d with later events, %d without; want 2 (a, b)", len(tAll), len(tBefore))
	}
	for i := range tAll {
		if tAll[i].UserID != tBefore[i].UserID || !slices.Equal(tAll[i].Values, tBefore[i].Values) {
			t.Errorf("training row of %s sees events after the cutoff:\n with %v\n w/o  %v", tAll[i].UserID, tAll[i].Values, tBefore[i].Values)
		}
	}
	// The later events do reach the scoring rows (a and b), in behaviour
	// and in interests.
	for i, user := range []string{"a", "b"} {
		if sAll[i].UserID != user || sBefore[i].UserID != user {
			t.Fatalf("scoring rows %s, %s; want %s", sAll[i].UserID, sBefore[i].UserID, user)
		}
		if slices.Equal(sAll[i].Values[:len(Behaviour)], sBefore[i].Values[:len(Behaviour)]) ||
			slices.Equal(sAll[i].Values[len(Behaviour):], sBefore[i].Values[len(Behaviour):]) {
			t.Errorf("scoring row of %s ignores the later events", user)
		}
	}
}

// TestRowsInterests checks that rows carry the TF-IDF top terms and the
// projected vector of the vocabulary they are given.
func TestRowsInterests(t *testing.T) {
	var evs Events
	for _, e := range history() {
		evs.Add(e)
	}
	p := params()
	prof := evs.Profile(p.Interest, p.End)
	if prof.Users != 3 || prof.DF["boot"] != 1 || prof.DF["vase"] != 3 || prof.DF["sale"] != 1 || prof.DF["home"] != 3 {
		t.Fatalf("profile %+v", prof)
	}
	cfg := p.Interest
	cfg.MinDF, cfg.MaxDF = 1, 0.9
	p.Vocab = interest.NewVocabulary(prof.DF, prof.Users, cfg)
	p.Proj = interest.NewProjection(p.Vocab, InterestDim, 1)
	if p.Vocab.Index("vase") >= 0 {
		t.Errorf("vase is in every document but survived MaxDF")
	}
	score, train := evs.Rows(p)
	a := score[0]
	if len(a.Terms) == 0 || a.Terms[0].Term != "boot" {
		t.Errorf("a's top terms %v, want boot first", a.Terms)
	}
	var norm float64
	for _, x := range a.Values[len(Behaviour):] {
		norm += x * x
	}
	if math.Abs(norm-1) > 0.5 {
		t.Errorf("a's interest vector has squared norm %v, want about 1", norm)
	}
	if !slices.Equal(train[0].Values[len(Behaviour):], a.Values[len(Behaviour):]) {
		t.Error("a's training and scoring interest vectors differ, but a's only later event is about a pruned word")
	}
	if c := score[2]; len(c.Terms) != 0 || slices.ContainsFunc(c.Values[len(Behaviour):], func(x float64) bool { return x != 0 }) {
		t.Errorf("c only saw pruned words: terms %v, vector %v", c.Terms, c.Values[len(Behaviour):])
	}
}

func TestRowsDoNotDependOnEventOrder(t *testing.T) {
	evs := history()
	var fwd, rev Events
	for _, e := range evs {
		fwd.Add(e)
	}
	// Reversed, except that the two lines of o1 (same time) keep their
	// order, as they do in any shard.
	for i := len(evs) - 1; i >= 0; i-- {
		switch i {
		case 3:
			rev.Add(evs[3])
			rev.Add(evs[4])
		case 4:
		default:
			rev.Add(evs[i])
		}
	}
	s1, t1 := fwd.Rows(params())
	s2, t2 := rev.Rows(params())
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(t1, t2) {
		t.Error("rows depend on the order events were added in")
	}
}

func TestAddRecord(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := canon.NewEventBuilder(mem)
	var direct Events
	for _, e := range history() {
		b.Append(e)
		direct.Add(e)
	}
	rec := b.NewRecord()
	b.Release()
	var fromRec Events
	if err := fromRec.AddRecord(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	s1, t1 := direct.Rows(params())
	s2, t2 := fromRec.Rows(params())
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(t1, t2) || fromRec.Skipped != direct.Skipped {
		t.Error("AddRecord and Add give different rows")
	}
}

func TestRefPrices(t *testing.T) {
	p := PriceCounts{{"a", 2.55}: 10, {"a", 2.29}: 3, {"a", 2.95}: 10, {"b", 1}: 1}
	o := PriceCounts{{"b", 0.5}: 2}
	p.Merge(o)
	got := RefPrices(p)
	if want := map[string]float64{"a": 2.95, "b": 0.5}; !reflect.DeepEqual(got, want) {
		t.Errorf("reference prices %v, want %v (most frequent; ties to the higher)", got, want)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := PricesRecord(p, mem)
	back := PriceCounts{}
	if err := ReadPrices(rec, back); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if !reflect.DeepEqual(back, p) {
		t.Errorf("prices round trip %v, want %v", back, p)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	v := make([]float64, len(Names))
	for i := range v {
		v[i] = float64(i) + 0.5
	}
	rows := []Row{
		{UserID: "a", Values: v, Label: 1, Terms: []interest.Term{{Term: "boot", Weight: 0.8}, {Term: "red", Weight: 0.6}}, Categories: []interest.Term{{Term: "shoes", Weight: 1}}},
		{UserID: "b", Values: make([]float64, len(Names))},
	}
	for _, withLabel := range []bool{false, true} {
		rec := Record(rows, withLabel, mem)
		got, err := Rows(rec)
		var ids []string
		if err := EachValues(rec, func(id string, vals []float64) {
			ids = append(ids, id)
			if !slices.Equal(vals, rows[len(ids)-1].Values) {
				t.Errorf("EachValues row %d = %v", len(ids)-1, vals)
			}
		}); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			want := r
			if withLabel {
				want.Terms, want.Categories = nil, nil
			} else {
				want.Label = 0
			}
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("withLabel=%v row %d = %+v, want %+v", withLabel, i, got[i], want)
			}
		}
		if !slices.Equal(ids, []string{"a", "b"}) {
			t.Errorf("EachValues ids %v", ids)
		}
	}
}

func TestMomentsQuantilesScaler(t *testing.T) {
	// Four users; frequency 0, 1, 3, 7 (log1p: k ln 2 for k = 0..3) and a
	// constant return rate.
	raw := make([][]float64, 4)
	whole := NewMoments(len(Names))
	a, b := NewMoments(len(Names)), NewMoments(len(Names))
	fi, ri := Index("frequency"), Index("return_rate")
	for i, f := range []float64{0, 1, 3, 7} {
		raw[i] = make([]float64, len(Names))
		raw[i][fi], raw[i][ri] = f, 0.5
		x := Transform(raw[i])
		whole.Add(x)
		if i < 2 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.N != whole.N || math.Abs(a.Sum[fi]-whole.Sum[fi]) > 1e-12 || math.Abs(a.SumSq[fi]-whole.SumSq[fi]) > 1e-12 {
		t.Errorf("merged %+v != whole %+v", a, whole)
	}
	q := QuantilesOf(raw)
	if med, _ := q.At("frequency", 0.5); med != 2 {
		t.Errorf("median frequency %v, want 2 (between 1 and 3)", med)
	}
	if hi, _ := q.At("frequency", ClipHi); math.Abs(hi-(3+0.997*4)) > 1e-12 {
		t.Errorf("frequency at %v = %v", ClipHi, hi)
	}
	s, err := NewScaler([]string{"frequency", "return_rate"}, whole, q)
	if err != nil {
		t.Fatal(err)
	}
	// mean 1.5 ln2, std sqrt(1.25) ln2 (population).
	if math.Abs(s.Mean[0]-1.5*math.Ln2) > 1e-12 || math.Abs(s.Std[0]-math.Sqrt(1.25)*math.Ln2) > 1e-12 {
		t.Errorf("scaler %+v", s)
	}
	if s.Std[1] != 1 || s.Apply(raw[0])[1] != 0 {
		t.Errorf("constant feature: std %v, scaled %v", s.Std[1], s.Apply(raw[0]))
	}
	// A wholesaler far above the 99.9th percentile is clipped to it.
	big := slices.Clone(raw[3])
	big[fi] = 1e6
	if got, want := s.Apply(big)[0], (math.Log1p(3+0.997*4)-s.Mean[0])/s.Std[0]; math.Abs(got-want) > 1e-12 {
		t.Errorf("clipped %v, want %v", got, want)
	}
	if got := s.Raw(s.Apply(raw[2]))["frequency"]; math.Abs(got-3) > 1e-9 {
		t.Errorf("Raw(Apply(3)) = %v", got)
	}
	if _, err := NewScaler([]string{"nope"}, whole, q); err == nil {
		t.Error("scaler of an unknown feature")
	}
	if err := a.Merge(NewMoments(3)); err == nil {
		t.Error("merge of 3 features into all succeeded")
	}
	if e := QuantilesOf(nil); len(e.Values) != 0 {
		t.Errorf("quantiles of nothing %+v", e)
	}
}

func BenchmarkRows(b *testing.B) {
	var evs Events
	base := history()
	for u := range 2000 {
		for _, e := range base[:13] {
			e.UserID = e.UserID + string(rune('A'+u%26)) + string(rune('a'+u/26%26)) + string(rune('0'+u/676))
			evs.Add(e)
		}
	}
	p := params()
	prof := evs.Profile(p.Interest, p.End)
	cfg := p.Interest
	cfg.MinDF = 1
	p.Vocab = interest.NewVocabulary(prof.DF, prof.Users, cfg)
	p.Proj = interest.NewProjection(p.Vocab, InterestDim, 1)
	b.ResetTimer()
	for b.Loop() {
		evs.Rows(p)
	}
	b.ReportMetric(float64(evs.Len())*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
