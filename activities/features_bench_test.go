package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/synth"
)

// benchShardUsers is the size of the one shard the features benchmarks
// work on: 62,500 users is one of 16 shards of the 1,000,000-user scale
// benchmark. PROMOFLOW_BENCH_SHARD_USERS changes it.
func benchShardUsers() int {
	if n, err := strconv.Atoi(os.Getenv("PROMOFLOW_BENCH_SHARD_USERS")); err == nil && n > 0 {
		return n
	}
	return 62500
}

// pieceStore is a memory store whose event pieces open without a copy, as
// an S3 download streams: the benchmark counts only what the activity holds.
type pieceStore struct {
	*blob.Mem
	pieces map[string][]byte
}

func (s *pieceStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if d, ok := s.pieces[key]; ok {
		return io.NopCloser(bytes.NewReader(d)), nil
	}
	return s.Mem.Open(ctx, key)
}

// Size and OpenRange read pieces by ranges, as from S3, without a copy.
func (s *pieceStore) Size(ctx context.Context, key string) (int64, error) {
	if d, ok := s.pieces[key]; ok {
		return int64(len(d)), nil
	}
	return s.Mem.Size(ctx, key)
}

func (s *pieceStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	d, ok := s.pieces[key]
	if !ok {
		return s.Mem.OpenRange(ctx, key, off, n)
	}
	d = d[min(off, int64(len(d))):]
	if n >= 0 && n < int64(len(d)) {
		d = d[:n]
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

// Get copies, as an S3 download into memory does.
func (s *pieceStore) Get(ctx context.Context, key string) ([]byte, error) {
	if d, ok := s.pieces[key]; ok {
		return slices.Clone(d), nil
	}
	return s.Mem.Get(ctx, key)
}

func (s *pieceStore) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for k := range s.pieces {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	more, err := s.Mem.List(ctx, prefix)
	keys = append(keys, more...)
	slices.Sort(keys)
	return keys, err
}

// benchShard writes the synthetic events of users users as one shard's
// event pieces, as ingest writes them: record batches of 16,384 rows, one
// piece per 1,000,000 events.
func benchShard(b *testing.B, users int) (*pieceStore, time.Time) {
	b.Helper()
	store := &pieceStore{Mem: blob.NewMem(), pieces: map[string][]byte{}}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		_, err := synth.Write(bw, synth.Config{Users: users, Seed: 1})
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	r := csv.NewReader(bufio.NewReaderSize(pr, 1<<20))
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	var end time.Time
	piece := 0
	eb := canon.NewEventBuilder(mem)
	var buf bytes.Buffer
	var w *arrowio.Writer
	flush := func(last bool) {
		if eb.Len() > 0 {
			if w == nil {
				var err error
				if w, err = arrowio.NewWriter(&buf, canon.EventSchema, mem); err != nil {
					b.Fatal(err)
				}
			}
			rec := eb.NewRecord()
			err := w.Write(rec)
			rec.Release()
			if err != nil {
				b.Fatal(err)
			}
		}
		if w != nil && (last || w.Rows() >= 1000000) {
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			store.pieces[layout.EventsPart("bench", 0, fmt.Sprintf("%03d-bench", piece))] = slices.Clone(buf.Bytes())
			buf.Reset()
			w = nil
			piece++
		}
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339, row[1])
		if err != nil {
			b.Fatal(err)
		}
		q, _ := strconv.ParseInt(row[6], 10, 64)
		p, _ := strconv.ParseFloat(row[7], 64)
		eb.Append(canon.Event{UserID: row[0], TS: ts, Type: row[2], ItemID: row[3], Category: row[4], Text: row[5],
			Quantity: q, Price: p, OrderID: row[8], Channel: row[9]})
		if ts.After(end) {
			end = ts
		}
		if eb.Len() == 16384 {
			flush(false)
		}
	}
	flush(true)
	eb.Release()
	return store, end
}

// peakHeap samples the heap while it runs and returns the highest values
// above the heap at its start, in MiB: live (what the activity needs, as
// of the latest collection) and objects (live and not yet collected: what
// the process holds, about twice live under GOGC=100).
type peakHeap struct {
	stop       chan struct{}
	done       sync.WaitGroup
	base       [2]uint64
	peak       [2]uint64
	liveMiB    float64
	objectsMiB float64
}

func heapBytes() [2]uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return [2]uint64{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

func startPeakHeap() *peakHeap {
	runtime.GC()
	p := &peakHeap{stop: make(chan struct{}), base: heapBytes()}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.sample()
			}
		}
	}()
	return p
}

func (p *peakHeap) sample() {
	h := heapBytes()
	p.peak[0], p.peak[1] = max(p.peak[0], h[0]), max(p.peak[1], h[1])
}

func (p *peakHeap) end() {
	close(p.stop)
	p.done.Wait()
	p.sample()
	mib := func(i int) float64 { return float64(p.peak[i]-min(p.peak[i], p.base[i])) / (1 << 20) }
	p.liveMiB, p.objectsMiB = mib(0), mib(1)
}

// BenchmarkFeaturesShard runs the features stage's activities (Profile,
// Vocabulary, Features) on one shard of synthetic users and reports, for
// each, the peak heap above the stored objects: the memory one in-flight
// shard costs a worker. The stored objects are in the heap too, so the
// garbage the collector allows (heap-MiB) is larger than in a worker. go test -run X -bench FeaturesShard -benchtime 1x ./activities
func BenchmarkFeaturesShard(b *testing.B) {
	users := benchShardUsers()
	store, end := benchShard(b, users)
	env, acts := newEnv(store)
	cfg := interest.DefaultConfig()
	var prof ProfileOutput
	var vocab VocabularyOutput
	run := func(name string, fn, in, out any) {
		b.Run(name, func(b *testing.B) {
			var live, objects float64
			for range b.N {
				p := startPeakHeap()
				v, err := env.ExecuteActivity(fn, in)
				if err == nil {
					err = v.Get(out)
				}
				p.end()
				live, objects = max(live, p.liveMiB), max(objects, p.objectsMiB)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(live, "live-MiB")
			b.ReportMetric(objects, "heap-MiB")
			b.ReportMetric(float64(users), "users")
		})
	}
	run("Profile", acts.Profile, ProfileInput{RunID: "bench", Block: shard.Block{From: 0, To: 0 + 1}, End: end, Interest: cfg}, &prof)
	run("Vocabulary", acts.Vocabulary, VocabularyInput{RunID: "bench", TermsKeys: []string{prof.TermsKey},
		PricesKeys: []string{prof.PricesKey}, Docs: prof.Users, Interest: cfg, Top: 20}, &vocab)
	var fout FeaturesOutput
	run("Features", acts.Features, FeaturesInput{RunID: "bench", Block: shard.Block{From: 0, To: 0 + 1}, Cutoff: end.Add(-28 * 24 * time.Hour), LabelEnd: end, End: end,
		VocabularyKey: vocab.Key, Docs: vocab.Docs, PricesKey: vocab.PricesKey, Interest: cfg, Seed: 1, SampleRate: 0.02}, &fout)
	if fout.Users == 0 || fout.Users != prof.Users {
		b.Fatalf("features of %d users, profile counted %d", fout.Users, prof.Users)
	}
}
