package recommend

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/synth"
)

// synthUsers is the histories of n generated users (internal/synth, seed
// 7), read as the Recommend activity reads events: purchases bought, views
// and carts viewed; and the end of their history in Unix ms.
func synthUsers(tb testing.TB, n int) ([][]Event, int64) {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Users: n, Seed: 7}); err != nil {
		tb.Fatal(err)
	}
	kinds := map[string]Kind{canon.Purchase: Bought, canon.View: Viewed, canon.Cart: Viewed}
	r := csv.NewReader(&buf)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		tb.Fatal(err)
	}
	var users [][]Event
	last := ""
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		k, ok := kinds[rec[2]]
		if !ok || rec[3] == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339, rec[1])
		if err != nil {
			tb.Fatal(err)
		}
		if rec[0] != last {
			users, last = append(users, nil), rec[0]
		}
		u := &users[len(users)-1]
		*u = append(*u, Event{Item: rec[3], Category: rec[4], Text: rec[5], Kind: k, Time: ts.UnixMilli(), Basket: rec[8]})
	}
	return users, synth.DefaultEnd.UnixMilli()
}

// benchUsers is how many generated users the benchmarks train on:
// production trains on up to 200,000 (RecommendSampleSize).
var benchUsers = flag.Int("recommend.users", 20_000, "generated users the benchmarks train and score on")

var synthOnce = sync.OnceValues(func() ([][]Event, int64) { return synthUsers(nil, *benchUsers) })

// BenchmarkTrainSynth trains the default model on -recommend.users
// generated users.
func BenchmarkTrainSynth(b *testing.B) {
	users, asOf := synthOnce()
	b.ResetTimer()
	for range b.N {
		if _, err := Train(users, asOf, DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(users)), "ns/user")
}

// BenchmarkRecommendSynth scores generated users' general lists with the
// default model: the per-user cost of the Recommend activity.
func BenchmarkRecommendSynth(b *testing.B) {
	users, asOf := synthOnce()
	m, err := Train(users, asOf, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	s := NewScorer(m)
	b.ResetTimer()
	for i := range b.N {
		s.Recommend(users[i%len(users)], asOf, Options{K: 10})
	}
}

// BenchmarkRecord encodes a shard's lists at 1,000,000 users in 16
// shards: 62,500 users, each a general list of 10 picks.
func BenchmarkRecord(b *testing.B) {
	lists := make([]List, 62_500)
	for u := range lists {
		lists[u] = List{User: fmt.Sprintf("u%07d", u)}
		for k := range 10 {
			lists[u].Picks = append(lists[u].Picks, Pick{Item: fmt.Sprintf("item-%04d", (u*7+k)%1920), Category: "electronics", Score: 0.5, Source: SourceCoPurchase})
		}
	}
	mem := memory.NewGoAllocator()
	b.ReportAllocs()
	for b.Loop() {
		Record(lists, mem).Release()
	}
}
