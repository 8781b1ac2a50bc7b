package strategy

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sameScored compares two shards field by field, floats by their bits (so
// NaN equals itself and -0 differs from 0), a nil and an empty Options
// alike.
func sameScored(t *testing.T, want, got []Scored) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d users, want %d", len(got), len(want))
	}
	bits := math.Float64bits
	for i := range want {
		w, g := want[i], got[i]
		if w.UserID != g.UserID || w.Segment != g.Segment || w.Status != g.Status || w.Why != g.Why ||
			w.Group != g.Group || bits(w.Prop) != bits(g.Prop) || bits(w.Basket) != bits(g.Basket) ||
			w.Pick != g.Pick || w.Facts != g.Facts || len(w.Options) != len(g.Options) {
			t.Fatalf("user %d: got %+v, want %+v", i, g, w)
		}
		for j, wo := range w.Options {
			go_ := g.Options[j]
			if wo.Offer != go_.Offer || bits(wo.Value) != bits(go_.Value) || bits(wo.Revenue) != bits(go_.Revenue) ||
				bits(wo.Cost) != bits(go_.Cost) || bits(wo.Face) != bits(go_.Face) || wo.Source != go_.Source ||
				wo.Hopeful != go_.Hopeful {
				t.Fatalf("user %d option %d: got %+v, want %+v", i, j, go_, wo)
			}
		}
	}
}

func TestScoredRoundTrip(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef) // a NaN with a payload
	negZero := math.Copysign(0, -1)
	odd := []Scored{
		{UserID: "u1", Segment: "champions", Status: Candidate, Prop: nan, Basket: math.Inf(1), Pick: -1,
			Facts: [2]string{"low propensity 0.10", ""},
			Options: []Option{
				{Offer: 0, Value: negZero, Revenue: math.Inf(-1), Cost: math.SmallestNonzeroFloat64, Face: math.MaxFloat64, Source: "uplift", Hopeful: true},
				{Offer: math.MaxInt32, Value: -1.5, Revenue: 1e-300, Cost: nan, Face: 0.1, Source: "prior"},
			}},
		{UserID: "", Status: Ineligible, Why: "min orders", Prop: negZero, Pick: -1},
		{UserID: "caf\xc3\xa9 \xff\xfe", Segment: "\x00", Status: Explore, Group: "b", Pick: 1, Options: []Option{}},
		{UserID: "u3", Status: Suppressed, Why: OptedOut, Pick: math.MinInt32, Facts: [2]string{"x", "x"}},
		{UserID: "u4", Status: Status(255), Pick: math.MaxInt64},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := params("profit")
	var realistic []Scored
	for _, u := range randomUsers(rng, 2000) {
		realistic = append(realistic, p.Score(u, nil, nil, nil))
	}
	for _, tc := range []struct {
		name  string
		users []Scored
	}{
		{"nil", nil},
		{"empty", []Scored{}},
		{"special values", odd},
		{"one user without anything", []Scored{{}}},
		{"scored users", realistic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := EncodeScored(tc.users)
			got, err := DecodeScored(data)
			if err != nil {
				t.Fatal(err)
			}
			sameScored(t, tc.users, got)
			if again := EncodeScored(got); !slices.Equal(again, data) {
				t.Fatal("encoding the decoded users gives other bytes")
			}
			// Appending to one user's options must not reach the next
			// user's, which share the backing array.
			for i := range got {
				if len(got[i].Options) > 0 && i+1 < len(got) && len(got[i+1].Options) > 0 {
					next := got[i+1].Options[0]
					_ = append(got[i].Options, Option{Offer: -7})
					if got[i+1].Options[0] != next && !math.IsNaN(next.Cost) {
						t.Fatal("append overwrote the next user's options")
					}
				}
			}
		})
	}
}

// TestScoredMatchesJSON: for what JSON can carry (finite floats, valid
// UTF-8), the binary layout decodes to what the JSON encoding did, so the
// change of format leaves the plan alone.
func TestScoredMatchesJSON(t *testing.T) {
	p := params("revenue")
	var users []Scored
	for _, u := range randomUsers(rand.New(rand.NewPCG(5, 6)), 3000) {
		users = append(users, p.Score(u, nil, nil, nil))
	}
	p.StratifyControl(users)
	data, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON []Scored
	if err := json.Unmarshal(data, &fromJSON); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeScored(EncodeScored(users))
	if err != nil {
		t.Fatal(err)
	}
	sameScored(t, fromJSON, got)
}

func TestScoredCorrupt(t *testing.T) {
	users := []Scored{
		{UserID: "u1", Segment: "s", Status: Candidate, Prop: 0.5, Pick: -1, Facts: [2]string{"a", "b"},
			Options: []Option{{Offer: 1, Value: 2, Cost: 1, Source: "prior"}, {Offer: 2, Value: 3, Cost: 1, Source: "uplift", Hopeful: true}}},
		{UserID: "u22", Segment: "t", Status: Control, Pick: -1},
	}
	data := EncodeScored(users)
	// Every proper prefix fails cleanly (no panic, no huge allocation).
	for n := range len(data) {
		if _, err := DecodeScored(data[:n]); err == nil {
			t.Fatalf("prefix of %d of %d bytes decoded", n, len(data))
		}
	}
	bad := func(f func(b []byte) []byte) []byte { return f(slices.Clone(data)) }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"gzip JSON", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}},
		{"version", bad(func(b []byte) []byte { b[len(ScoredMagic)] = 2; return b })},
		{"trailing byte", append(slices.Clone(data), 0)},
		{"hopeful byte", bad(func(b []byte) []byte {
			// u1's second option ends with its hopeful byte 1, just
			// before u22's id length 3.
			for j := len(b) - 1; j >= 0; j-- {
				if b[j] == 1 && j+1 < len(b) && b[j+1] == 3 {
					b[j] = 2
					return b
				}
			}
			t.Fatal("hopeful byte not found")
			return b
		})},
		{"huge count", bad(func(b []byte) []byte {
			// The string count (right after magic and version) claims
			// 2^62 entries.
			head := append([]byte(ScoredMagic), 1)
			return append(append(head, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40), b[len(head)+1:]...)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeScored(tc.data); err == nil {
				t.Fatal("decoded")
			}
		})
	}
}
