package activities

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/strategy"
)

// testScored is a shard of n scored users, all candidates with two
// options; v shifts the values so versions differ.
func testScored(n int, v float64) []strategy.Scored {
	users := make([]strategy.Scored, n)
	for i := range users {
		users[i] = strategy.Scored{
			UserID: fmt.Sprintf("u%04d", i), Segment: "loyal", Status: strategy.Candidate, Prop: 0.5, Basket: 40, Pick: -1,
			Options: []strategy.Option{
				{Offer: 0, Value: v + float64(i%7), Revenue: 10, Cost: 1 + float64(i%3), Source: "prior"},
				{Offer: 1, Value: v + float64(i%5), Revenue: 12, Cost: 2, Source: "prior"},
			},
		}
	}
	return users
}

// TestScoredCacheExpires: an entry unused for scoredTTL goes; a use keeps
// it.
func TestScoredCacheExpires(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	c := scoredCache{now: func() time.Time { return now }}
	shard := testScored(10, 0)
	c.put(scoredID{"a", "d"}, shard, 1<<30)
	c.put(scoredID{"b", "d"}, shard, 1<<30)
	now = now.Add(scoredTTL / 2)
	if _, ok := c.get(scoredID{"a", "d"}); !ok {
		t.Fatal("a expired before its time")
	}
	now = now.Add(scoredTTL/2 + time.Second)
	if _, ok := c.get(scoredID{"b", "d"}); ok {
		t.Error("b, unused for longer than the TTL, is still cached")
	}
	if _, ok := c.get(scoredID{"a", "d"}); !ok {
		t.Error("a, used half a TTL ago, expired")
	}
	if got, want := c.cachedBytes(), strategy.ScoredSize(shard); got != want {
		t.Errorf("%d bytes cached, want one shard's %d", got, want)
	}
}

// TestScoredCacheBound: the cache keeps its total within the bound,
// evicting the least recently used shard first; a shard larger than the
// bound, or any shard with a negative bound, is not kept.
func TestScoredCacheBound(t *testing.T) {
	shard := testScored(100, 0)
	one := strategy.ScoredSize(shard)
	id := func(i int) scoredID { return scoredID{fmt.Sprint("k", i), "d"} }
	for _, tc := range []struct {
		name  string
		limit int64
		puts  []int // shards put, in order
		gets  []int // shards read between the puts and the last put
		last  int
		want  []int // shards cached at the end
	}{
		{"all fit", 4 * one, []int{0, 1, 2}, nil, 3, []int{0, 1, 2, 3}},
		{"oldest goes", 3 * one, []int{0, 1, 2}, nil, 3, []int{1, 2, 3}},
		{"a read keeps it", 3 * one, []int{0, 1, 2}, []int{0}, 3, []int{0, 2, 3}},
		{"two go", 2*one + 1, []int{0, 1}, nil, 2, []int{1, 2}},
		{"larger than the bound", one - 1, []int{0}, nil, 1, nil},
		{"no cache", -1, []int{0, 1}, nil, 2, nil},
		{"the same shard twice", 2 * one, []int{0, 1, 0}, nil, 0, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c scoredCache
			for _, i := range tc.puts {
				c.put(id(i), shard, tc.limit)
			}
			for _, i := range tc.gets {
				if _, ok := c.get(id(i)); !ok {
					t.Fatalf("shard %d not cached", i)
				}
			}
			c.put(id(tc.last), shard, tc.limit)
			var got []int
			for i := range 5 {
				if _, ok := c.get(id(i)); ok {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("cached %v, want %v", got, tc.want)
			}
			if max(tc.limit, 0) < c.size || c.size != int64(len(c.items))*one {
				t.Errorf("size %d for %d entries of %d, bound %d", c.size, len(c.items), one, tc.limit)
			}
		})
	}
}

// TestLoadScored: a worker that scored a shard, one that reads it cold
// (another process), one without a cache, and one reading the gzip JSON of
// earlier runs all see the same users and the same curve; an entry is only
// used for the version its digest names.
func TestLoadScored(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	users := testScored(500, 0)
	users[3].Options[0].Value = math.Copysign(0, -1)
	data := strategy.EncodeScored(users)
	key, dig := "runs/r/decide/scored/shard=0000.bin", digest(data)
	must(t, store.Put(ctx, key, data))
	var js bytes.Buffer
	zw := gzip.NewWriter(&js)
	must(t, json.NewEncoder(zw).Encode(users))
	must(t, zw.Close())
	legacy := "runs/old/decide/scored/shard=0000.json.gz"
	must(t, store.Put(ctx, legacy, js.Bytes()))

	p := strategy.Params{Objective: "profit", Offers: []campaign.Offer{{ID: "a"}, {ID: "b"}}}
	grid := budget.Grid(0, 10, 16)
	want := p.Curve(users, grid, strategy.Quotas{}, false)
	warm := &Activities{Store: store}
	warm.scored.put(scoredID{key, dig}, users, warm.scoredLimit())
	for _, tc := range []struct {
		name   string
		a      *Activities
		key    string
		digest string
	}{
		{"scored here", warm, key, dig},
		{"cold", &Activities{Store: store}, key, dig},
		{"no cache", &Activities{Store: store, ScoredCacheBytes: -1}, key, dig},
		{"no digest", &Activities{Store: store}, key, ""},
		{"gzip JSON", &Activities{Store: store}, legacy, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second read may come from the cache
				got, err := tc.a.loadScored(ctx, tc.key, tc.digest)
				must(t, err)
				if !reflect.DeepEqual(got, users) || math.Signbit(got[3].Options[0].Value) != true {
					t.Fatal("users differ")
				}
				c := p.Curve(got, grid, strategy.Quotas{}, false)
				if !reflect.DeepEqual(c, want) {
					t.Fatalf("curve %+v, want %+v", c, want)
				}
			}
		})
	}

	// Other bytes under the same key (a rewritten object) are another
	// version: a cached entry of the old one is not used for them.
	other := testScored(500, 1)
	odata := strategy.EncodeScored(other)
	must(t, store.Put(ctx, key, odata))
	got, err := warm.loadScored(ctx, key, digest(odata))
	must(t, err)
	if !reflect.DeepEqual(got, other) {
		t.Error("the new version was served from the old entry")
	}

	// A corrupt object fails as bad input.
	must(t, store.Put(ctx, "runs/r/decide/scored/shard=0001.bin", data[:len(data)-1]))
	if _, err := (&Activities{Store: store}).loadScored(ctx, "runs/r/decide/scored/shard=0001.bin", "x"); err == nil {
		t.Error("a truncated shard decoded")
	}
}

// TestPropensityForestCache: shards share the forest decoded once; other
// bytes at the key are decoded anew.
func TestPropensityForestCache(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	a := &Activities{Store: store}
	encode := func(seed uint64) []byte {
		var x [][]float64
		var y []float64
		for i := range 200 {
			x = append(x, []float64{float64(i % 13), float64(i % 7)})
			y = append(y, float64(i%3%2))
		}
		f, err := forest.Train(x, y, []string{"a", "b"}, forest.Params{Trees: 3, MaxDepth: 3, MinLeaf: 5, MaxFeatures: 2, Bootstrap: true, Seed: seed})
		must(t, err)
		var buf bytes.Buffer
		must(t, f.Save(&buf))
		return buf.Bytes()
	}
	key := "runs/r/models/propensity/forest.json"
	must(t, store.Put(ctx, key, encode(1)))
	first, err := a.propensityForest(ctx, key)
	must(t, err)
	again, err := a.propensityForest(ctx, key)
	must(t, err)
	if first != again {
		t.Error("the same bytes were decoded twice")
	}
	must(t, store.Put(ctx, key, encode(2)))
	other, err := a.propensityForest(ctx, key)
	must(t, err)
	if other == first {
		t.Error("new bytes served from the old forest")
	}
}
