package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/shard"
)

// countingStore counts the objects read.
type countingStore struct {
	*blob.Mem
	gets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Mem.Get(ctx, key)
}

// writePlan stores plan rows of users u0..u(users-1) for a run of n
// shards, every third user control and every fifth without an offer, and
// returns the contacted users.
func writePlan(t *testing.T, store Store, run string, n, users int) []string {
	t.Helper()
	rows := make([][]plan.Row, n)
	var contacted []string
	for k := range users {
		id := fmt.Sprintf("u%d", k)
		r := plan.Row{UserID: id, Offer: "coupon5", Channel: "email", Source: campaign.None, HoldoutOffer: campaign.None, Control: k%3 == 0}
		if k%5 == 0 {
			r.Offer = campaign.None
		}
		if !r.Control && r.Offer != campaign.None {
			contacted = append(contacted, id)
		}
		i := shard.Of(id, n)
		rows[i] = append(rows[i], r)
	}
	acts := &Activities{Store: store}
	for i := range n {
		rec := plan.Record(rows[i], memory.DefaultAllocator)
		must(t, acts.writeArrow(context.Background(), layout.Scores(run, i), plan.Schema, rec))
		rec.Release()
	}
	slices.Sort(contacted)
	return contacted
}

// TestRecordContactsPartitioned: the contact list is written one
// partition per shard, each holding only its shard's contacted users; a
// later run's shard reads only the partitions its users can be in, and
// finds the same users as filtering the whole list, whatever its shard
// count; a re-publication with another shard count replaces the list.
func TestRecordContactsPartitioned(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Mem: blob.NewMem()}
	const p = 4
	contacted := writePlan(t, store, "r", p, 300)
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	env, acts := newEnv(store)
	v, err := env.ExecuteActivity(acts.RecordContacts, RecordContactsInput{Campaign: "c1", Start: start, RunID: "r", Shards: p})
	must(t, err)
	var key string
	must(t, v.Get(&key))
	if want := layout.ContactsList(start, "c1", p); key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	dir := layout.ContactsDir(layout.ContactsName(start, "c1"), p)
	var all []string
	for j := range p {
		data, err := store.Mem.Get(ctx, layout.ContactsPart(dir, j))
		must(t, err)
		for _, id := range strings.Fields(string(data)) {
			if shard.Of(id, p) != j {
				t.Errorf("%s in partition %d", id, j)
			}
			all = append(all, id)
		}
	}
	slices.Sort(all)
	if !slices.Equal(all, contacted) {
		t.Fatalf("partitions hold %d users, want the %d contacted", len(all), len(contacted))
	}
	// A legacy list of the same campaign is superseded; a later run finds
	// one list per campaign.
	must(t, store.Put(ctx, ContactsKey(start, "c1"), []byte("stale\n")))
	keys, err := acts.recentContacts(ctx, "c2", start.AddDate(0, 0, 1), 3)
	must(t, err)
	if !slices.Equal(keys, []string{key}) {
		t.Fatalf("recent lists %v, want [%s]", keys, key)
	}
	for _, tc := range []struct {
		n     int
		b     shard.Block
		parts int64 // partitions read
	}{
		{n: 4, b: shard.Block{From: 2, To: 3}, parts: 1},
		{n: 8, b: shard.Block{From: 5, To: 6}, parts: 1},
		{n: 8, b: shard.Block{From: 0, To: 2}, parts: 2},
		{n: 2, b: shard.Block{From: 1, To: 2}, parts: 2},
		{n: 3, b: shard.Block{From: 0, To: 1}, parts: 4},
		{n: 1024, b: shard.Block{From: 16, To: 32}, parts: 4},
	} {
		var got, want []string
		for _, id := range contacted {
			if s := shard.Of(id, tc.n); s >= tc.b.From && s < tc.b.To {
				want = append(want, id)
			}
		}
		before := store.gets.Load()
		must(t, acts.eachContact(ctx, key, tc.b, tc.n, func(id string) { got = append(got, id) }))
		slices.Sort(got)
		if reads := store.gets.Load() - before; reads != tc.parts {
			t.Errorf("n=%d %v: %d partitions read, want %d", tc.n, tc.b, reads, tc.parts)
		}
		if !slices.Equal(got, want) {
			t.Errorf("n=%d %v: %d users, want %d", tc.n, tc.b, len(got), len(want))
		}
	}
	// Published again over 2 shards: the 4-partition list is gone.
	writePlan(t, store, "r", 2, 300)
	v, err = env.ExecuteActivity(acts.RecordContacts, RecordContactsInput{Campaign: "c1", Start: start, RunID: "r", Shards: 2})
	must(t, err)
	must(t, v.Get(&key))
	keys, err = acts.recentContacts(ctx, "c2", start.AddDate(0, 0, 1), 3)
	must(t, err)
	if want := layout.ContactsList(start, "c1", 2); !slices.Equal(keys, []string{want}) {
		t.Errorf("after re-publication: %v, want [%s]", keys, want)
	}
	if left, err := store.List(ctx, dir); err != nil || len(left) != 0 {
		t.Errorf("old partitions left: %v %v", left, err)
	}
}

// TestRecordContactsLegacy: a workflow from before partitioned lists
// (ScoreKeys, no run) still gets the one object, and it is still read.
func TestRecordContactsLegacy(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	contacted := writePlan(t, store, "r", 2, 50)
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	env, acts := newEnv(store)
	v, err := env.ExecuteActivity(acts.RecordContacts, RecordContactsInput{Campaign: "c1", Start: start,
		ScoreKeys: []string{layout.Scores("r", 0), layout.Scores("r", 1)}})
	must(t, err)
	var key string
	must(t, v.Get(&key))
	if key != ContactsKey(start, "c1") {
		t.Fatalf("key %q", key)
	}
	var got []string
	must(t, acts.eachContact(ctx, key, shard.Block{From: 0, To: 3}, 3, func(id string) { got = append(got, id) }))
	slices.Sort(got)
	if !slices.Equal(got, contacted) {
		t.Errorf("read %d users, want %d", len(got), len(contacted))
	}
}
