// Package interest identifies what users are interested in from the words
// of their events: TF-IDF over each user's search queries and the titles
// and categories of the items they viewed, carted and bought, weighted by
// event type.
//
// The computation is split the way a sharded map-reduce needs it. Each
// shard counts document frequencies (Counts: in how many users' documents a
// term occurs); the counts of all shards are merged (integer sums, so the
// order and the number of shards do not matter) into a Vocabulary that
// prunes rare and ubiquitous terms and holds the global inverse document
// frequencies. Every shard then turns each user's weighted term counts
// (Doc) into an L2-normalised TF-IDF vector (Vocabulary.Vector), its top
// terms (Vocabulary.Top), and a dense vector of fixed width for models
// (Projection). The package knows nothing of storage or Temporal.
//
// The weights, as written in docs/FEATURES.md:
//
//	tf(t, u)  = Σ over u's events e of weight(type of e) × occurrences of t in e
//	w(t, u)   = ln(1 + tf(t, u)) × idf(t)            (sublinear term frequency)
//	idf(t)    = ln((1 + N) / (1 + df(t))) + 1        (smoothed, as scikit-learn)
//	x(u)      = w(·, u) / ‖w(·, u)‖₂
//
// where N is the number of documents (users) and df(t) the number of them
// containing t.
package interest

import (
	"cmp"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/promoflow/promoflow/internal/canon"
)

// Config sets the event weights, the vocabulary pruning and the outputs.
type Config struct {
	// Weights of the event types: how much one occurrence of a word in an
	// event of that type counts. Returns count 0: a returned item is no
	// sign of interest.
	View, Search, Cart, Purchase float64
	// MinDF drops terms found in fewer than MinDF users' documents.
	MinDF int64
	// MaxDF drops terms found in more than MaxDF × N documents (0 < MaxDF ≤ 1).
	MaxDF float64
	// MaxTerms keeps at most this many terms, those of highest document
	// frequency (ties by term); 0 means no limit.
	MaxTerms int
	// Top is the number of top terms kept per user.
	Top int
	// Dim is the width of the dense interest vector.
	Dim int
	// Bigrams adds pairs of adjacent terms ("alarm clock") to the words.
	Bigrams bool
}

// Terms appends the terms of text to dst: its words (Tokenize) and, with
// Bigrams, every pair of adjacent words joined by a space.
func (c Config) Terms(text string, dst []string) []string {
	start := len(dst)
	dst = Tokenize(text, dst)
	if c.Bigrams {
		end := len(dst)
		for i := start; i+1 < end; i++ {
			dst = append(dst, dst[i]+" "+dst[i+1])
		}
	}
	return dst
}

// DefaultConfig returns the weights and limits promoflow uses: a purchase
// counts three times a view, a search or a cart twice; words and pairs of
// adjacent words; terms must occur in at least 3 users' documents and at
// most 80% of them; at most 50,000 terms; 10 top terms per user; a dense
// vector of 16.
func DefaultConfig() Config {
	return Config{View: 1, Search: 2, Cart: 2, Purchase: 3, MinDF: 3, MaxDF: 0.8, MaxTerms: 50000, Top: 10, Dim: 16, Bigrams: true}
}

// Weight returns the weight of an event type (canon.View, ...); 0 for
// returns and unknown types.
func (c Config) Weight(eventType string) float64 {
	switch eventType {
	case canon.View:
		return c.View
	case canon.Search:
		return c.Search
	case canon.Cart:
		return c.Cart
	case canon.Purchase:
		return c.Purchase
	}
	return 0
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	for _, w := range []float64{c.View, c.Search, c.Cart, c.Purchase} {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("interest config: event weight %v, want finite and non-negative", w)
		}
	}
	switch {
	case c.MinDF < 1:
		return fmt.Errorf("interest config: MinDF = %d, want at least 1", c.MinDF)
	case !(c.MaxDF > 0 && c.MaxDF <= 1):
		return fmt.Errorf("interest config: MaxDF = %v, want (0, 1]", c.MaxDF)
	case c.MaxTerms < 0 || c.Top < 0 || c.Dim < 0:
		return fmt.Errorf("interest config: MaxTerms %d, Top %d, Dim %d: want non-negative", c.MaxTerms, c.Top, c.Dim)
	}
	return nil
}

// Counts are document frequencies: for each term, the number of documents
// (users) that contain it. Counts of disjoint sets of users merge by
// addition.
type Counts map[string]int64

// AddDoc counts one document whose distinct terms are terms. The caller
// passes each term once.
func (c Counts) AddDoc(terms []string) {
	for _, t := range terms {
		c[t]++
	}
}

// Merge adds o into c.
func (c Counts) Merge(o Counts) {
	for t, n := range o {
		c[t] += n
	}
}

// Vocabulary is the pruned set of terms with their global document
// frequencies and inverse document frequencies. Terms are sorted, so a
// term's index depends only on the vocabulary, not on how it was counted.
type Vocabulary struct {
	Docs  int64     // N: documents counted
	Terms []string  // sorted
	DF    []int64   // document frequency of Terms[i]
	IDF   []float64 // inverse document frequency of Terms[i]
	index map[string]int32
	// sorted: Terms are strictly increasing, as NewVocabulary and
	// FromCounts make them, so that term order is index order.
	sorted bool

	wordsOnce sync.Once
	words     *termWords // Top's numbers of the terms' words
}

// NewVocabulary prunes df (counted over docs documents) by cfg.MinDF,
// cfg.MaxDF and cfg.MaxTerms and computes the IDFs.
func NewVocabulary(df Counts, docs int64, cfg Config) *Vocabulary {
	maxDF := cfg.MaxDF * float64(docs)
	type tc struct {
		t string
		n int64
	}
	var kept []tc
	for t, n := range df {
		if n >= cfg.MinDF && float64(n) <= maxDF {
			kept = append(kept, tc{t, n})
		}
	}
	if cfg.MaxTerms > 0 && len(kept) > cfg.MaxTerms {
		slices.SortFunc(kept, func(a, b tc) int {
			if c := cmp.Compare(b.n, a.n); c != 0 {
				return c
			}
			return cmp.Compare(a.t, b.t)
		})
		kept = kept[:cfg.MaxTerms]
	}
	slices.SortFunc(kept, func(a, b tc) int { return cmp.Compare(a.t, b.t) })
	terms := make([]string, len(kept))
	dfs := make([]int64, len(kept))
	for i, k := range kept {
		terms[i], dfs[i] = k.t, k.n
	}
	return FromTerms(terms, dfs, docs)
}

// FromTerms rebuilds a vocabulary from its sorted terms, their document
// frequencies and the number of documents, as stored by a previous
// NewVocabulary. It panics if the lengths differ.
func FromTerms(terms []string, df []int64, docs int64) *Vocabulary {
	if len(terms) != len(df) {
		panic(fmt.Sprintf("interest.FromTerms: %d terms, %d frequencies", len(terms), len(df)))
	}
	v := &Vocabulary{Docs: docs, Terms: terms, DF: df, IDF: make([]float64, len(terms)), index: make(map[string]int32, len(terms)), sorted: true}
	for i, t := range terms {
		if i > 0 && terms[i-1] >= t {
			v.sorted = false
		}
		v.IDF[i] = IDF(df[i], docs)
		v.index[t] = int32(i)
	}
	return v
}

// IDF is the smoothed inverse document frequency of a term found in df of
// docs documents: ln((1+docs)/(1+df)) + 1.
func IDF(df, docs int64) float64 {
	return math.Log(float64(1+docs)/float64(1+df)) + 1
}

// Len is the number of terms.
func (v *Vocabulary) Len() int { return len(v.Terms) }

// Index returns the index of term, or -1 if it is not in the vocabulary.
func (v *Vocabulary) Index(term string) int32 {
	if i, ok := v.index[term]; ok {
		return i
	}
	return -1
}

// Doc accumulates one user's weighted term counts by vocabulary index.
// The zero Doc is ready to use; Reset reuses it for the next user.
//
// Counts are held densely by index, with the list of indices touched: a
// user's document is rebuilt for every user of a shard, and a slice
// indexed by term is several times cheaper than a map. Each term's weights
// are summed in the order they were added, as a map's would be.
type Doc struct {
	tf      []float64 // by vocabulary index; grows to the largest index added
	in      []uint64  // bit set of the indices in touched
	touched []int32   // indices added since Reset, in first-added order
}

// Add adds weight w to term i (a vocabulary index; negative is ignored).
func (d *Doc) Add(i int32, w float64) {
	if i < 0 || w == 0 {
		return
	}
	if int(i) >= len(d.tf) {
		n := max(int(i)+1, 2*len(d.tf), 64)
		n = (n + 63) &^ 63
		d.tf = append(d.tf, make([]float64, n-len(d.tf))...)
		d.in = append(d.in, make([]uint64, n/64-len(d.in))...)
	}
	if m := uint64(1) << (i & 63); d.in[i>>6]&m == 0 {
		d.in[i>>6] |= m
		d.touched = append(d.touched, i)
	}
	d.tf[i] += w
}

// Len is the number of distinct terms added.
func (d *Doc) Len() int { return len(d.touched) }

// Reset empties d, keeping its storage.
func (d *Doc) Reset() {
	for _, i := range d.touched {
		d.tf[i], d.in[i>>6] = 0, 0
	}
	d.touched = d.touched[:0]
}

// Sparse is a sparse vector over a vocabulary: ascending indices and their
// weights.
type Sparse struct {
	Index  []int32
	Weight []float64
}

// Vector returns d's L2-normalised TF-IDF vector: ln(1+tf) × idf per term,
// divided by the vector's norm. An empty document gives an empty vector.
// Sums run in index order, so the result does not depend on the order in
// which terms were added, up to the floating-point sums inside tf.
func (v *Vocabulary) Vector(d *Doc) Sparse {
	var s Sparse
	v.VectorTo(d, &s)
	return s
}

// VectorTo is Vector into s, reusing its storage: s is valid until the
// next call with it.
func (v *Vocabulary) VectorTo(d *Doc, s *Sparse) {
	// The indices in ascending order: from the bit set when the document
	// is large for it (a scan of its words is cheaper than a sort), else
	// sorted.
	if len(d.in) < 16*len(d.touched) {
		s.Index = s.Index[:0]
		for k, word := range d.in {
			for word != 0 {
				s.Index = append(s.Index, int32(k<<6+bits.TrailingZeros64(word)))
				word &= word - 1
			}
		}
	} else {
		s.Index = append(s.Index[:0], d.touched...)
		slices.Sort(s.Index)
	}
	s.Weight = slices.Grow(s.Weight[:0], len(s.Index))[:len(s.Index)]
	var norm float64
	for k, i := range s.Index {
		w := math.Log1p(d.tf[i]) * v.IDF[i]
		s.Weight[k] = w
		norm += w * w
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for k := range s.Weight {
			s.Weight[k] /= norm
		}
	}
}

// Term is a term with a weight: a user's or a segment's interest.
type Term struct {
	Term   string  `json:"term"`
	Weight float64 `json:"weight"`
}

// Top returns the n heaviest terms of s, heaviest first (ties by term),
// skipping terms whose words all appear in heavier terms (see Distinct).
func (v *Vocabulary) Top(s Sparse, n int) []Term {
	if !v.sorted {
		out := make([]Term, len(s.Index))
		for k, i := range s.Index {
			out[k] = Term{v.Terms[i], s.Weight[k]}
		}
		return Distinct(TopTerms(out, len(out)), n)
	}
	// The terms are sorted and distinct, so ties by term are ties by index:
	// the sort compares numbers, not strings, and the words of a term are
	// numbers too (termWords). The result is that of the general path
	// above, TopTerms then Distinct.
	words := v.termWords()
	order := make([]weighted, len(s.Index))
	for k, i := range s.Index {
		order[k] = weighted{s.Weight[k], i}
	}
	// Usually the first few terms in order give the n distinct ones: only
	// the heaviest 4n are sorted first, the rest when they are needed.
	// The order is total (indices differ), so this is the full sort's order.
	sorted := len(order)
	if m := 4 * n; m < len(order) {
		selectHeaviest(order, m)
		sorted = m
	}
	sortHeaviest(order[:sorted])
	var out []Term
	var seen wordSet
	for k, o := range order {
		if len(out) == n {
			break
		}
		if k == sorted {
			sortHeaviest(order[k:])
			sorted = len(order)
		}
		ws := words.of(o.i)
		if len(out) > 0 && seen.covers(ws) {
			continue
		}
		seen.add(ws)
		out = append(out, Term{v.Terms[o.i], o.w})
	}
	return out
}

// weighted is a term's index and weight in Top.
type weighted struct {
	w float64
	i int32
}

// heavier orders weighted terms heaviest first, then by index: a total
// order (weights are never NaN).
func heavier(a, b weighted) bool { return a.w > b.w || a.w == b.w && a.i < b.i }

// sortHeaviest sorts a by heavier: an insertion sort for the few dozen
// terms Top sorts first, else the library's.
func sortHeaviest(a []weighted) {
	if len(a) > 64 {
		slices.SortFunc(a, func(x, y weighted) int {
			if heavier(x, y) {
				return -1
			}
			return 1 // never equal: indices differ
		})
		return
	}
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && heavier(a[j], a[j-1]); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// selectHeaviest reorders a so that a[:m] holds its m heaviest terms, in
// no particular order (quickselect, median-of-three pivots).
func selectHeaviest(a []weighted, m int) {
	lo, hi := 0, len(a)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		// Median of three to a[hi-1], the pivot.
		if heavier(a[mid], a[lo]) {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if heavier(a[hi-1], a[lo]) {
			a[hi-1], a[lo] = a[lo], a[hi-1]
		}
		if heavier(a[mid], a[hi-1]) {
			a[mid], a[hi-1] = a[hi-1], a[mid]
		}
		p := a[hi-1]
		i := lo
		for j := lo; j < hi-1; j++ {
			if heavier(a[j], p) {
				a[i], a[j] = a[j], a[i]
				i++
			}
		}
		a[i], a[hi-1] = a[hi-1], a[i] // the pivot at its place i
		switch {
		case m <= i:
			hi = i
		case m == i+1:
			return
		default:
			lo = i + 1
		}
	}
}

// termWords are a vocabulary's terms as numbers of their words (fields),
// so that Top compares words as numbers: equal words, equal numbers.
type termWords struct {
	at    []int32 // term i's words are words[at[i]:at[i+1]]
	words []int32
}

// of returns the numbers of term i's words.
func (tw *termWords) of(i int32) []int32 { return tw.words[tw.at[i]:tw.at[i+1]] }

// termWords numbers the vocabulary's words once, on first use.
func (v *Vocabulary) termWords() *termWords {
	v.wordsOnce.Do(func() {
		ids := map[string]int32{}
		tw := &termWords{at: make([]int32, 1, len(v.Terms)+1)}
		for _, t := range v.Terms {
			for f := range fields(t) {
				id, ok := ids[f]
				if !ok {
					id = int32(len(ids))
					ids[f] = id
				}
				tw.words = append(tw.words, id)
			}
			tw.at = append(tw.at, int32(len(tw.words)))
		}
		v.words = tw
	})
	return v.words
}

// wordSet is the set of words of the terms Top kept so far: a short list,
// searched linearly (a user's top terms have a few dozen words at most),
// and a map beyond that.
type wordSet struct {
	list []int32
	set  map[int32]bool
}

func (w *wordSet) has(word int32) bool {
	if w.set != nil {
		return w.set[word]
	}
	return slices.Contains(w.list, word)
}

// covers reports whether every word of ws is in w (true for a term
// without words, as in Distinct).
func (w *wordSet) covers(ws []int32) bool {
	for _, x := range ws {
		if !w.has(x) {
			return false
		}
	}
	return true
}

func (w *wordSet) add(ws []int32) {
	for _, x := range ws {
		if w.has(x) {
			continue
		}
		if w.set == nil && len(w.list) == 32 {
			w.set = make(map[int32]bool, 64)
			for _, y := range w.list {
				w.set[y] = true
			}
		}
		if w.set != nil {
			w.set[x] = true
		} else {
			w.list = append(w.list, x)
		}
	}
}

// fields is strings.FieldsSeq, with a fast path for ASCII terms (all
// terms Tokenize makes from ASCII text): ASCII space characters are the
// only ones below 0x80 that unicode.IsSpace reports.
func fields(s string) iter.Seq[string] {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.FieldsSeq(s)
		}
	}
	return func(yield func(string) bool) {
		start := -1
		for i := 0; i <= len(s); i++ {
			space := i == len(s)
			if !space {
				switch s[i] {
				case ' ', '\t', '\n', '\v', '\f', '\r':
					space = true
				}
			}
			switch {
			case space && start >= 0:
				if !yield(s[start:i]) {
					return
				}
				start = -1
			case !space && start < 0:
				start = i
			}
		}
	}
}

// Distinct returns the first n of terms (in their order) that add a word:
// a term all of whose words appear in the terms kept before it ("bag"
// after "jumbo bag") is skipped, so a list of unigrams and bigrams reads
// without repeats.
func Distinct(terms []Term, n int) []Term {
	var out []Term
	seen := map[string]bool{}
	for _, t := range terms {
		if len(out) == n {
			break
		}
		words := strings.Fields(t.Term)
		covered := true
		for _, w := range words {
			covered = covered && seen[w]
		}
		if covered && len(out) > 0 {
			continue
		}
		for _, w := range words {
			seen[w] = true
		}
		out = append(out, t)
	}
	return out
}

// TopTerms sorts terms heaviest first (ties by term) and returns the first
// n of them. It reorders terms.
func TopTerms(terms []Term, n int) []Term {
	slices.SortFunc(terms, func(a, b Term) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a.Term, b.Term)
	})
	if len(terms) > n {
		terms = terms[:n]
	}
	return terms
}

// CountsTo writes d's raw weighted term counts into s, ascending by index
// (topic models read counts, not TF-IDF): s is valid until the next call
// with it.
func (d *Doc) CountsTo(s *Sparse) {
	s.Index = append(s.Index[:0], d.touched...)
	slices.Sort(s.Index)
	s.Weight = slices.Grow(s.Weight[:0], len(s.Index))[:len(s.Index)]
	for k, i := range s.Index {
		s.Weight[k] = d.tf[i]
	}
}
