package interest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/shard"
)

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"WHITE HANGING HEART T-LIGHT HOLDER", []string{"white", "hanging", "heart", "t-light", "holder"}},
		{"Set of 3 Cake Tins, Pantry Design!", []string{"set", "cake", "tins", "pantry", "design"}},
		{"children's 12-pack 4k tv 3.5 2011", []string{"children", "12-pack", "4k", "tv"}},
		{"don't -sale- it's the offer", []string{"sale", "offer"}},
		{"  Crème brûlée  ", []string{"crème", "brûlée"}},
		{"x a 7 -- ''", nil},
		{"usb-c, wi-fi; anti—aging", []string{"usb-c", "wi-fi", "anti", "aging"}},
	} {
		if got := Tokenize(tc.in, nil); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// event is one event of the tiny corpus.
type event struct {
	typ, text string
}

// docs turns users' events into documents and their distinct terms.
func docs(cfg Config, users [][]event, v *Vocabulary) []*Doc {
	out := make([]*Doc, len(users))
	for u, evs := range users {
		d := &Doc{}
		for _, e := range evs {
			for _, term := range Tokenize(e.text, nil) {
				d.Add(v.Index(term), cfg.Weight(e.typ))
			}
		}
		out[u] = d
	}
	return out
}

func countsOf(users [][]event) Counts {
	cfg := DefaultConfig()
	c := Counts{}
	for _, evs := range users {
		seen := map[string]bool{}
		var terms []string
		for _, e := range evs {
			if cfg.Weight(e.typ) == 0 {
				continue
			}
			for _, term := range Tokenize(e.text, nil) {
				if !seen[term] {
					seen[term] = true
					terms = append(terms, term)
				}
			}
		}
		c.AddDoc(terms)
	}
	return c
}

// TestTFIDFHandComputed checks the weights against values computed by hand
// (python3: math.log) for a corpus of three users.
func TestTFIDFHandComputed(t *testing.T) {
	users := [][]event{
		{{canon.Search, "red shoes"}, {canon.View, "Red dress"}},     // red 2+1, shoes 2, dress 1
		{{canon.Purchase, "blue dress"}, {canon.Return, "blue hat"}}, // blue 3, dress 3; the return counts 0
		{{canon.View, "red hat"}},                                    // red 1, hat 1
	}
	cfg := Config{View: 1, Search: 2, Cart: 2, Purchase: 3, MinDF: 1, MaxDF: 1, Top: 2}
	v := NewVocabulary(countsOf(users), 3, cfg)
	if want := []string{"blue", "dress", "hat", "red", "shoes"}; !reflect.DeepEqual(v.Terms, want) {
		t.Fatalf("terms %q, want %q", v.Terms, want)
	}
	// The return's "hat" does not count: documents hold the terms of events
	// with a positive weight.
	if want := []int64{1, 2, 1, 2, 1}; !reflect.DeepEqual(v.DF, want) {
		t.Fatalf("df %v, want %v", v.DF, want)
	}
	// idf(df=1) = ln(4/2)+1, idf(df=2) = ln(4/3)+1.
	for i, want := range []float64{1.6931471805599454, 1.2876820724517808, 1.6931471805599454, 1.2876820724517808, 1.6931471805599454} {
		if math.Abs(v.IDF[i]-want) > 1e-12 {
			t.Errorf("idf(%s) = %v, want %v", v.Terms[i], v.IDF[i], want)
		}
	}
	want := []map[string]float64{
		{"red": 0.6543078158141831, "shoes": 0.6818002659911415, "dress": 0.32715390790709153},
		{"blue": 0.7959605415681652, "dress": 0.6053485081062916},
		{"hat": 0.7959605415681652, "red": 0.6053485081062916},
	}
	for u, d := range docs(cfg, users, v) {
		s := v.Vector(d)
		got := map[string]float64{}
		for k, i := range s.Index {
			got[v.Terms[i]] = s.Weight[k]
		}
		if len(got) != len(want[u]) {
			t.Errorf("user %d: terms %v, want %v", u, got, want[u])
		}
		for term, w := range want[u] {
			if math.Abs(got[term]-w) > 1e-12 {
				t.Errorf("user %d: w(%s) = %v, want %v", u, term, got[term], w)
			}
		}
		top := v.Top(s, cfg.Top)
		if len(top) != min(2, len(want[u])) || top[0].Weight < top[len(top)-1].Weight {
			t.Errorf("user %d: top %v", u, top)
		}
	}
}

func TestVocabularyPruning(t *testing.T) {
	df := Counts{"rare": 1, "ok": 3, "common": 8, "everywhere": 10, "also": 3}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"min df", Config{MinDF: 2, MaxDF: 1}, []string{"also", "common", "everywhere", "ok"}},
		{"max df", Config{MinDF: 2, MaxDF: 0.8}, []string{"also", "common", "ok"}},
		{"max terms, ties by term", Config{MinDF: 1, MaxDF: 0.8, MaxTerms: 2}, []string{"also", "common"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewVocabulary(df, 10, tc.cfg).Terms; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("terms %q, want %q", got, tc.want)
			}
		})
	}
}

// corpus returns a deterministic synthetic corpus of n users.
func corpus(n int) ([]string, [][]event) {
	words := []string{"red", "blue", "green", "dress", "shoe", "bag", "lamp", "candle", "heart", "vintage", "retro", "party", "sale", "cake", "tin"}
	for k := range 60 {
		words = append(words, fmt.Sprintf("item%d", k))
	}
	types := []string{canon.View, canon.Search, canon.Cart, canon.Purchase, canon.Return}
	ids := make([]string, n)
	users := make([][]event, n)
	x := uint64(1)
	next := func(k int) int { x = splitmix64(x); return int(x % uint64(k)) }
	for u := range users {
		ids[u] = fmt.Sprintf("u%05d", u)
		for range 1 + next(12) {
			text := words[next(len(words))] + " " + words[next(len(words))]
			if next(3) == 0 {
				text += " " + words[next(len(words))]
			}
			users[u] = append(users[u], event{types[next(len(types))], text})
		}
		// Everyone's first event is a search for "red" and a word of their own.
		users[u] = append(users[u], event{canon.Search, fmt.Sprintf("red uniq%d", u)})
	}
	return ids, users
}

// TestShardCountInvariance counts document frequencies over 1, 2, 3 and 8
// shards (users routed as in production) and checks that the vocabulary,
// every user's vector, top terms and dense vector are identical.
func TestShardCountInvariance(t *testing.T) {
	ids, users := corpus(500)
	cfg := DefaultConfig()
	cfg.MinDF = 2
	cfg.MaxDF = 0.5
	type result struct {
		v     *Vocabulary
		top   [][]Term
		dense [][]float64
	}
	run := func(shards int) result {
		per := make([][][]event, shards)
		for u, evs := range users {
			s := shard.Of(ids[u], shards)
			per[s] = append(per[s], evs)
		}
		total := Counts{}
		var docsN int64
		for _, p := range per {
			c := countsOf(p) // a shard's map
			total.Merge(c)
			docsN += int64(len(p))
		}
		v := NewVocabulary(total, docsN, cfg)
		proj := NewProjection(v, cfg.Dim, 42)
		r := result{v: v}
		for _, d := range docs(cfg, users, v) {
			s := v.Vector(d)
			r.top = append(r.top, v.Top(s, cfg.Top))
			r.dense = append(r.dense, proj.Apply(s, nil))
		}
		return r
	}
	base := run(1)
	if base.v.Len() < 50 || base.v.Index("red") >= 0 || base.v.Index("uniq7") >= 0 {
		t.Fatalf("vocabulary of %d terms (red %d, uniq7 %d): want most words, without the ubiquitous and the unique",
			base.v.Len(), base.v.Index("red"), base.v.Index("uniq7"))
	}
	for _, n := range []int{2, 3, 8} {
		r := run(n)
		if !reflect.DeepEqual(r.v.Terms, base.v.Terms) || !reflect.DeepEqual(r.v.DF, base.v.DF) || !slices.Equal(r.v.IDF, base.v.IDF) {
			t.Errorf("%d shards: vocabulary differs", n)
		}
		if !reflect.DeepEqual(r.top, base.top) || !reflect.DeepEqual(r.dense, base.dense) {
			t.Errorf("%d shards: user vectors differ", n)
		}
	}
}

func TestProjection(t *testing.T) {
	_, users := corpus(300)
	cfg := DefaultConfig()
	cfg.MinDF, cfg.MaxDF = 1, 1
	v := NewVocabulary(countsOf(users), 300, cfg)
	p := NewProjection(v, 64, 7)
	q := NewProjection(v, 64, 8)
	ds := docs(cfg, users, v)
	var ratio, n float64
	for i := 1; i < len(ds); i++ {
		a, b := v.Vector(ds[i-1]), v.Vector(ds[i])
		dot := sparseDot(a, b)
		pa, pb := p.Apply(a, nil), p.Apply(b, nil)
		// Norms are preserved in expectation: ‖Px‖² ≈ ‖x‖² = 1.
		ratio += dense(pa, pa)
		n++
		if math.Abs(dense(pa, pb)-dot) > 0.6 {
			t.Errorf("users %d,%d: projected inner product %v, sparse %v", i-1, i, dense(pa, pb), dot)
		}
	}
	if m := ratio / n; math.Abs(m-1) > 0.1 {
		t.Errorf("mean squared norm after projection %v, want about 1", m)
	}
	a := v.Vector(ds[0])
	if slices.Equal(p.Apply(a, nil), q.Apply(a, nil)) {
		t.Error("different seeds give the same projection")
	}
	if !slices.Equal(p.Apply(a, nil), NewProjection(v, 64, 7).Apply(a, nil)) {
		t.Error("the same seed gives different projections")
	}
}

func sparseDot(a, b Sparse) float64 {
	m := map[int32]float64{}
	for k, i := range a.Index {
		m[i] = a.Weight[k]
	}
	var s float64
	for k, i := range b.Index {
		s += m[i] * b.Weight[k]
	}
	return s
}

func dense(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestCountsRecordRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	c := Counts{"b": 2, "a": 5, "ü": 1}
	rec := CountsRecord(c, mem)
	got := Counts{"a": 1}
	if err := ReadCounts(rec, got); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if want := (Counts{"a": 6, "b": 2, "ü": 1}); !reflect.DeepEqual(got, want) {
		t.Errorf("read %v, want %v (added to the existing counts)", got, want)
	}
	v := NewVocabulary(c, 10, Config{MinDF: 2, MaxDF: 1})
	rec = v.Record(mem)
	back := Counts{}
	if err := ReadCounts(rec, back); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	w := FromCounts(back, 10)
	if !reflect.DeepEqual(w.Terms, v.Terms) || !slices.Equal(w.IDF, v.IDF) {
		t.Errorf("vocabulary round trip: %+v, want %+v", w, v)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	for _, c := range []Config{
		{View: -1, MinDF: 1, MaxDF: 1},
		{MinDF: 0, MaxDF: 1},
		{MinDF: 1, MaxDF: 0},
		{MinDF: 1, MaxDF: 1.5},
		{MinDF: 1, MaxDF: 1, Dim: -1},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
}

func BenchmarkTokenize(b *testing.B) {
	var dst []string
	for b.Loop() {
		dst = Tokenize("WHITE HANGING HEART T-LIGHT HOLDER, set of 3 (children's)", dst[:0])
	}
}

func BenchmarkVectorProject(b *testing.B) {
	_, users := corpus(2000)
	cfg := DefaultConfig()
	cfg.MinDF, cfg.MaxDF = 1, 1
	v := NewVocabulary(countsOf(users), 2000, cfg)
	p := NewProjection(v, 16, 1)
	ds := docs(cfg, users, v)
	dst := make([]float64, 16)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := v.Vector(ds[i%len(ds)])
		p.Apply(s, dst)
	}
}

// TestTopMatchesDistinct checks Top's sort by index on a sorted vocabulary
// against the general path (TopTerms by term, then Distinct) on vectors
// with many tied weights, unigrams and bigrams, for several n; and a
// vocabulary whose terms are not sorted, which takes the general path.
func TestTopMatchesDistinct(t *testing.T) {
	words := []string{"bag", "jumbo", "red", "retro", "spot", "tea", "set", "mug", "lunch", "box"}
	df := Counts{}
	for _, a := range words {
		df[a] = 5
		for _, b := range words {
			if a != b {
				df[a+" "+b] = 5
			}
		}
	}
	v := FromCounts(df, 100)
	unsorted := FromTerms(slices.Clone(v.Terms), slices.Clone(v.DF), 100)
	slices.Reverse(unsorted.Terms)
	unsorted = FromTerms(unsorted.Terms, unsorted.DF, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		var s Sparse
		for i := range int32(v.Len()) {
			if rng.IntN(2+trial%3) == 0 {
				s.Index = append(s.Index, i)
				s.Weight = append(s.Weight, float64(rng.IntN(5))/4) // many ties
			}
		}
		for _, n := range []int{0, 1, 3, 10, 40, 1000} {
			for _, voc := range []*Vocabulary{v, unsorted} {
				want := make([]Term, len(s.Index))
				for k, i := range s.Index {
					want[k] = Term{voc.Terms[i], s.Weight[k]}
				}
				want = Distinct(TopTerms(want, len(want)), n)
				if got := voc.Top(s, n); !slices.Equal(got, want) {
					t.Fatalf("trial %d, n %d, sorted %v: Top %v, want %v", trial, n, voc.sorted, got, want)
				}
			}
		}
	}
	if unsorted.sorted || !v.sorted {
		t.Fatalf("sorted flags: %v, %v", v.sorted, unsorted.sorted)
	}
}

// TestSelectHeaviest checks that selectHeaviest leaves the m heaviest
// first, for every m, on shuffled and already ordered inputs with ties of
// weight (broken by index).
func TestSelectHeaviest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 10, 57} {
		for _, shuffle := range []bool{false, true} {
			for m := 0; m <= n; m++ {
				a := make([]weighted, n)
				for i := range a {
					a[i] = weighted{w: float64(n-i) / 4, i: int32(i)} // heaviest first
					a[i].w = float64(int(a[i].w))                     // ties
				}
				if shuffle {
					rng.Shuffle(n, func(i, j int) { a[i], a[j] = a[j], a[i] })
				}
				selectHeaviest(a, m)
				first := slices.Clone(a[:m])
				sortHeaviest(first)
				for i, x := range first {
					if x.i != int32(i) {
						t.Fatalf("n %d, m %d, shuffled %v: first %v", n, m, shuffle, a[:m])
					}
				}
			}
		}
	}
}

// TestFields checks fields against strings.Fields, ASCII and not.
func TestFields(t *testing.T) {
	for _, s := range []string{"", " ", "a", "jumbo bag", "  a  b\tc\nd\v\fe\r ", "t-light holder", "café crème", "a\u00a0b c", "\u0085x y"} {
		got := slices.Collect(fields(s))
		if want := strings.Fields(s); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("fields(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestDocIndicesAscending checks that Vector lists a document's terms in
// ascending order with the weights summed per term, for documents small
// (sorted) and large (read from the bit set) against the vocabulary, and
// after Reset.
func TestDocIndicesAscending(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 5000
	df := make([]int64, n)
	terms := make([]string, n)
	for i := range terms {
		terms[i], df[i] = fmt.Sprintf("t%05d", i), 1+int64(i%7)
	}
	v := FromTerms(terms, df, 100)
	var d Doc
	for _, k := range []int{1, 5, 30, 400, 3000, 10} {
		d.Reset()
		tf := map[int32]float64{}
		for range k {
			i, w := int32(rng.IntN(n)), float64(1+rng.IntN(3))
			d.Add(i, w)
			tf[i] += w
		}
		s := v.Vector(&d)
		want := make([]int32, 0, len(tf))
		for i := range tf {
			want = append(want, i)
		}
		slices.Sort(want)
		if !slices.Equal(s.Index, want) || d.Len() != len(want) {
			t.Fatalf("%d adds: indices %v, want %v", k, s.Index, want)
		}
		for j, i := range s.Index {
			if s.Weight[j] <= 0 || math.IsNaN(s.Weight[j]) || d.tf[i] != tf[i] {
				t.Fatalf("%d adds: term %d weight %v, tf %v want %v", k, i, s.Weight[j], d.tf[i], tf[i])
			}
		}
	}
}

// BenchmarkTop is a user's top 10 terms among about 150 of a 20,000-term
// vocabulary of unigrams and bigrams (a features row's Terms).
func BenchmarkTop(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	df := Counts{}
	word := func() string { return fmt.Sprintf("w%03d", rng.IntN(400)) }
	for len(df) < 20000 {
		if rng.IntN(3) == 0 {
			df[word()] = 5
		} else {
			df[word()+" "+word()] = 5
		}
	}
	v := FromCounts(df, 100)
	vecs := make([]Sparse, 256)
	for k := range vecs {
		for i := range int32(v.Len()) {
			if rng.IntN(130) == 0 {
				vecs[k].Index = append(vecs[k].Index, i)
				vecs[k].Weight = append(vecs[k].Weight, rng.Float64())
			}
		}
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		v.Top(vecs[k%len(vecs)], 10)
		k++
	}
}
