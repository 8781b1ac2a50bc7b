package features

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/canon"
)

// spillEvents are the hand-made history and 200,000 random events of 5,000
// users (several chunks), in arrival order.
func spillEvents() []canon.Event {
	evs := history()
	rng := rand.New(rand.NewPCG(7, 7))
	types := []string{canon.View, canon.Search, canon.Cart, canon.Purchase, canon.Return, "bogus"}
	for k := range 200_000 {
		item := fmt.Sprintf("i%d", rng.IntN(300))
		evs = append(evs, canon.Event{UserID: fmt.Sprintf("u%d", rng.IntN(5000)), TS: at(float64(rng.IntN(40)), float64(rng.IntN(24)), float64(rng.IntN(60))),
			Type: types[rng.IntN(len(types))], ItemID: item, Category: "c" + item[1:2], Text: "word " + item,
			OrderID: fmt.Sprintf("o%d", k/3), Quantity: 1 + int64(rng.IntN(3)), Price: float64(rng.IntN(100)), Channel: "app"})
	}
	return evs
}

// TestSpillRoundTrip checks that events read back from a spill give the
// same profile, rows and recommender histories as the events spilled, read
// before and after grouping, and that events added afterwards get the same
// ids.
func TestSpillRoundTrip(t *testing.T) {
	all := spillEvents()
	p := params()
	for _, grouped := range []bool{false, true} {
		var evs Events
		for _, e := range all[:len(all)-10] {
			evs.Add(e)
		}
		if grouped {
			evs.Profile(p.Interest, p.End)
		}
		var buf bytes.Buffer
		if err := evs.Spill(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := Unspill(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if back.Len() != evs.Len() || back.Users() != evs.Users() || back.Skipped != evs.Skipped || back.Skipped == 0 || len(back.chunks) < 3 {
			t.Fatalf("grouped %v: %d events, %d users, %d skipped in %d chunks; spilled %d, %d, %d",
				grouped, back.Len(), back.Users(), back.Skipped, len(back.chunks), evs.Len(), evs.Users(), evs.Skipped)
		}
		for _, e := range all[len(all)-10:] {
			evs.Add(e)
			back.Add(e)
		}
		if !reflect.DeepEqual(back.Profile(p.Interest, p.End), evs.Profile(p.Interest, p.End)) {
			t.Errorf("grouped %v: profiles differ", grouped)
		}
		s1, t1 := evs.Rows(p)
		s2, t2 := back.Rows(p)
		if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(t1, t2) || len(s1) < 5000 {
			t.Errorf("grouped %v: rows differ (%d, %d scoring rows)", grouped, len(s1), len(s2))
		}
		histories := func(e *Events) string {
			var b strings.Builder
			e.EachItemHistory(p.End.UnixMilli(), func(user string, evs []ItemEvent) error {
				fmt.Fprintln(&b, user, evs)
				return nil
			})
			return b.String()
		}
		if histories(back) != histories(&evs) {
			t.Errorf("grouped %v: item histories differ", grouped)
		}
	}
	if _, err := Unspill(strings.NewReader("PFEVSPL0")); err == nil {
		t.Error("a wrong header was read")
	}
	var evs Events
	evs.Add(all[0])
	var buf bytes.Buffer
	if err := evs.Spill(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Unspill(bytes.NewReader(buf.Bytes()[:buf.Len()-3])); err == nil {
		t.Error("a truncated spill was read")
	}
}
