package features

import (
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/interest"
)

// TestEachDoc: a user's document is their events' vocabulary terms,
// weighted by event type, up to end; users whose first event is later are
// left out, and returns count nothing.
func TestEachDoc(t *testing.T) {
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var e Events
	for _, ev := range []canon.Event{
		{UserID: "a", TS: end.Add(-3 * time.Hour), Type: canon.View, ItemID: "i1", Category: "garden", Text: "garden hose"},
		{UserID: "a", TS: end.Add(-2 * time.Hour), Type: canon.Purchase, ItemID: "i1", Category: "garden", Text: "garden hose", Quantity: 1, Price: 5, OrderID: "o1"},
		{UserID: "a", TS: end.Add(-time.Hour), Type: canon.Return, ItemID: "i1", Category: "garden", Text: "garden hose", Quantity: 1, Price: 5},
		{UserID: "a", TS: end.Add(time.Hour), Type: canon.Search, Text: "kettle"},
		{UserID: "b", TS: end.Add(-time.Hour), Type: canon.Search, Text: "kettle kettle unknown"},
		{UserID: "c", TS: end.Add(time.Hour), Type: canon.Search, Text: "kettle"},
	} {
		e.Add(ev)
	}
	cfg := interest.DefaultConfig()
	cfg.Bigrams = false
	v := interest.FromTerms([]string{"garden", "hose", "kettle"}, []int64{1, 1, 2}, 3)
	got := map[string]map[string]float64{}
	err := e.EachDoc(Params{Interest: cfg, Vocab: v}, end, func(user string, d *interest.Doc) error {
		var s interest.Sparse
		d.CountsTo(&s)
		got[user] = map[string]float64{}
		for k, i := range s.Index {
			got[user][v.Terms[i]] = s.Weight[k]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{
		// view 1 + purchase 3, text and category; the return and the
		// search after end count nothing.
		"a": {"garden": 8, "hose": 4},
		"b": {"kettle": 4}, // a search weighs 2, twice
	}
	if len(got) != len(want) {
		t.Fatalf("documents %v, want %v", got, want)
	}
	for u, w := range want {
		for term, x := range w {
			if got[u][term] != x || len(got[u]) != len(w) {
				t.Errorf("user %s: %v, want %v", u, got[u], w)
				break
			}
		}
	}
}
