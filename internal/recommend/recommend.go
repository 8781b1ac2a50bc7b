// Package recommend picks the products a promotion features for each user:
// co-purchase neighbours of what the user bought, item2vec neighbours of
// the user's taste vector, and recent popularity, blended with weights
// measured on Online Retail (docs/FEATURES.md, "Recommendations").
//
// A Model is trained once per run from a bounded sample of users'
// histories (Train) and then scores any user's history (Model.Recommend);
// training and scoring are deterministic for the same inputs and seed.
package recommend

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Kind is what a user did with an item.
type Kind uint8

// Kinds of interaction, strongest first.
const (
	Bought Kind = iota
	Viewed
	Searched
	nKinds
)

// Event is one interaction of a user with an item.
type Event struct {
	Item     string
	Category string // the item's category; empty when unknown
	Text     string // the item's description or the search's text; may be empty
	Kind     Kind
	Time     int64  // Unix milliseconds
	Basket   string // the order or session; empty when unknown
}

// Sources of a pick: the blend component that contributed most to its
// score.
const (
	SourceCoPurchase = "copurchase"
	SourceText       = "text"
	SourceEmbedding  = "embedding"
	SourcePopularity = "popularity"
)

// Blend weighs the candidate scores, each scaled to [0, 1] per user.
type Blend struct {
	CoPurchase, Text, Embedding, Popularity float64
}

// Config sets training and scoring. DefaultConfig's values are the ones
// measured in docs/FEATURES.md.
type Config struct {
	// Item2vec (skip-gram with negative sampling over baskets).
	Dim, Window, Negatives, Epochs int
	LearningRate                   float64
	Seed                           uint64
	// Neighbours is how many co-purchase neighbours are kept per item.
	Neighbours int
	// SourceExp and TargetExp shape the co-purchase similarity of j to i,
	// co(i,j) / (buyers(i)^SourceExp buyers(j)^TargetExp): 0.5 and 0.5 is
	// the cosine; SourceExp 1 with TargetExp below 1 is RP3beta's
	// random-walk similarity (Paudel et al., 2017): a popular item the user
	// bought says less, a popular candidate is penalized.
	SourceExp, TargetExp float64
	// UserDamping weighs a user's co-purchases by 1/items^UserDamping, so
	// that a wholesale buyer of a thousand items says less about each pair
	// than a customer who bought two.
	UserDamping float64
	// MaxItemsPerUser bounds the distinct items of one user that enter the
	// co-purchase counts (the most recent ones), so a wholesale buyer's
	// thousand items do not cost a million pairs.
	MaxItemsPerUser int
	// ScoreTouches bounds the neighbours read to score one user: each of
	// the user's items reads its ScoreTouches/items most similar (at least
	// 20), so a user with a long history costs no more than a new one; 0
	// reads them all.
	ScoreTouches int
	// HalfLifeDays is the recency decay of a user's history.
	HalfLifeDays float64
	// PopularityHalfLifeDays is the recency decay of item popularity
	// (short: what sells now).
	PopularityHalfLifeDays float64
	// MinCount is how often an item must appear in the baskets to get an
	// embedding; rarer items keep none (their vectors would be noise).
	MinCount int
	// KindWeights weighs a user's bought, viewed and searched items in
	// their taste and co-purchase scores.
	KindWeights [nKinds]float64
	Blend       Blend
}

// DefaultConfig is the configuration measured on Online Retail.
func DefaultConfig() Config {
	return Config{
		Dim: 32, Window: 5, Negatives: 5, Epochs: 5, LearningRate: 0.025, Seed: 7, MinCount: 10,
		Neighbours: 1000, SourceExp: 0.5, TargetExp: 0.5, UserDamping: 0.75,
		MaxItemsPerUser: 300, ScoreTouches: 3000,
		HalfLifeDays: 60, PopularityHalfLifeDays: 30,
		KindWeights: [nKinds]float64{1, 0.3, 0.2},
		// Embeddings off: they lowered recall@10 at every weight tried
		// (docs/FEATURES.md).
		Blend: Blend{CoPurchase: 1, Text: 0.5, Embedding: 0, Popularity: 0.05},
	}
}

// Validate reports a configuration that cannot be trained or scored.
func (c Config) Validate() error {
	switch {
	case c.Dim < 0 || c.Window < 1 || c.Negatives < 1 || c.Epochs < 0:
		return fmt.Errorf("recommend: dim %d, window %d, negatives %d, epochs %d: want dim, epochs >= 0, window, negatives >= 1",
			c.Dim, c.Window, c.Negatives, c.Epochs)
	case c.Neighbours < 1 || c.MaxItemsPerUser < 2:
		return fmt.Errorf("recommend: neighbours %d, max items per user %d: want >= 1 and >= 2", c.Neighbours, c.MaxItemsPerUser)
	case !(c.HalfLifeDays > 0) || !(c.PopularityHalfLifeDays > 0):
		return fmt.Errorf("recommend: half-lives %v, %v days: want > 0", c.HalfLifeDays, c.PopularityHalfLifeDays)
	}
	return nil
}

// Neighbour is a similar item and its similarity.
type Neighbour struct {
	Item int32
	Sim  float32
}

// Model is what Train learns: the item catalogue, each item's recent
// popularity, co-purchase neighbours and embedding. Its fields are
// exported for encoding (encoding/gob); treat them as read-only.
type Model struct {
	Items      []string
	Categories []string
	// Popularity is each item's recency-weighted count of buyers, divided
	// by the largest.
	Popularity []float32
	// Neighbours are each item's co-purchase neighbours (Config.SourceExp),
	// most similar first.
	Neighbours [][]Neighbour
	// TextNeighbours are each item's neighbours by the cosine of their
	// descriptions' TF-IDF vectors, most similar first.
	TextNeighbours [][]Neighbour
	// Vectors are the item embeddings, Dim per item, unit length (empty
	// when Dim is 0).
	Vectors []float32
	Dim     int
	Config  Config
	// ByPopularity is the item indices, most popular first (the cold-start
	// list).
	ByPopularity []int32

	index map[string]int32
}

// Index returns an item's index, or -1 if the model does not know it.
// It only reads the model (the index is built by Train and Decode), so
// scorers on several goroutines can share one model.
func (m *Model) Index(item string) int32 {
	if i, ok := m.index[item]; ok {
		return i
	}
	return -1
}

// buildIndex maps item ids to their indices.
func (m *Model) buildIndex() {
	m.index = make(map[string]int32, len(m.Items))
	for i, s := range m.Items {
		m.index[s] = int32(i)
	}
}

// decay is the weight of something that happened at t, seen at asOf.
func decay(t, asOf int64, halfLifeDays float64) float64 {
	age := float64(asOf-t) / 86_400_000
	if age < 0 {
		age = 0
	}
	return math.Exp2(-age / halfLifeDays)
}

// Train learns a model from users' histories as of asOf (Unix ms): every
// item seen defines the catalogue, bought items the co-purchases and
// popularity, and every kind enters the embeddings' sequences. It is a
// Trainer given the users in order.
func Train(users [][]Event, asOf int64, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := NewTrainer(asOf, cfg)
	var h []Interaction
	for _, u := range users {
		h = h[:0]
		for _, e := range u {
			if e.Item == "" || e.Kind >= nKinds {
				continue
			}
			i := t.Item(e.Item, e.Category, e.Text)
			if t.Keeps(e.Kind) {
				h = append(h, Interaction{Item: i, Kind: e.Kind, Time: e.Time, Basket: t.Basket(e.Basket)})
			}
		}
		t.Add(h)
	}
	return t.Model()
}

// Trainer learns a model from users' histories given one user at a time,
// holding only what the model needs of them: the catalogue (each item's
// category and description), and each user's purchases (and, when the
// blend uses embeddings, every interaction). Users are taken in the order
// given; items may be named in any order (they are numbered by name in
// Model), so the model does not depend on how the events were read.
type Trainer struct {
	cfg   Config
	asOf  int64
	index map[string]int32 // item -> arrival number
	items []string
	meta  []itemMeta
	// baskets number the baskets (for the sequences' order) when
	// embeddings are trained.
	baskets     map[string]int32
	basketNames []string
	users       [][]Interaction
}

// itemMeta is an item's category and description: those of the event
// with the greatest category, then the greatest description, so that they
// do not depend on the events' order.
type itemMeta struct{ category, text string }

// Describes says whether an event's category and description replace
// those kept for its item (the greatest category, then the greatest
// description), so that what is kept does not depend on the events'
// order.
func Describes(category, text, keptCategory, keptText string) bool {
	return category > keptCategory || (category == keptCategory && text > keptText)
}

// NewTrainer returns a trainer for a model as of asOf (Unix ms).
func NewTrainer(asOf int64, cfg Config) *Trainer {
	return &Trainer{cfg: cfg, asOf: asOf, index: map[string]int32{}, baskets: map[string]int32{"": 0}, basketNames: []string{""}}
}

// Item names an item with its category and description and returns its
// number for Add's interactions. The strings are copied when kept, so
// they may point into a buffer the caller reuses.
func (t *Trainer) Item(item, category, text string) int32 {
	i, ok := t.index[item]
	if !ok {
		i = int32(len(t.items))
		item = strings.Clone(item)
		t.index[item] = i
		t.items = append(t.items, item)
		t.meta = append(t.meta, itemMeta{strings.Clone(category), strings.Clone(text)})
		return i
	}
	if m := &t.meta[i]; Describes(category, text, m.category, m.text) {
		*m = itemMeta{strings.Clone(category), strings.Clone(text)}
	}
	return i
}

// Keeps says whether Add needs interactions of kind k: purchases always,
// the other kinds only for the embeddings.
func (t *Trainer) Keeps(k Kind) bool {
	return k == Bought || t.cfg.Blend.Embedding > 0
}

// Basket returns a basket's number for Add's interactions (0 when
// embeddings are off: only their sequences order by basket).
func (t *Trainer) Basket(basket string) int32 {
	if t.cfg.Blend.Embedding <= 0 {
		return 0
	}
	b, ok := t.baskets[basket]
	if !ok {
		b = int32(len(t.basketNames))
		basket = strings.Clone(basket)
		t.baskets[basket] = b
		t.basketNames = append(t.basketNames, basket)
	}
	return b
}

// Add takes one user's interactions, items numbered by Item; it keeps
// its own copy of those Keeps asks for.
func (t *Trainer) Add(h []Interaction) {
	var kept []Interaction
	for _, e := range h {
		if t.Keeps(e.Kind) {
			kept = append(kept, e)
		}
	}
	t.users = append(t.users, kept)
}

// Users is how many users Add took.
func (t *Trainer) Users() int { return len(t.users) }

// Model trains the model on the users added.
func (t *Trainer) Model() (*Model, error) {
	cfg, asOf := t.cfg, t.asOf
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Items are numbered in sorted order so the model does not depend on
	// the order users arrive in.
	n := len(t.items)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(t.items[a], t.items[b]) })
	renum := make([]int32, n)
	m := &Model{Config: cfg, Dim: cfg.Dim, Items: make([]string, n), Categories: make([]string, n)}
	texts := make([]string, n)
	for to, from := range order {
		renum[from] = int32(to)
		m.Items[to], m.Categories[to], texts[to] = t.items[from], t.meta[from].category, t.meta[from].text
	}
	m.buildIndex()
	basketRank := t.basketRanks()
	pop := make([]float64, n)
	pairs := newPairCounts(n)
	buyers := make([]float32, n)
	seqs := make([][]int32, 0, len(t.users))
	for _, u := range t.users {
		for k := range u {
			u[k].Item = renum[u[k].Item]
			u[k].Basket = basketRank[u[k].Basket]
		}
		bought := recentBought(u, cfg.MaxItemsPerUser)
		for _, b := range bought {
			pop[b.item] += decay(b.last, asOf, cfg.PopularityHalfLifeDays)
			buyers[b.item]++
		}
		pw := float32(math.Pow(float64(max(1, len(bought))), -cfg.UserDamping))
		for x := range bought {
			for y := x + 1; y < len(bought); y++ {
				pairs.add(bought[x].item, bought[y].item, pw)
			}
		}
		if cfg.Blend.Embedding > 0 {
			if s := sequence(u); len(s) > 1 {
				seqs = append(seqs, s)
			}
		}
	}
	t.users = nil // renumbered in place: the trainer is spent
	m.Popularity = make([]float32, n)
	top := slices.Max(append(pop, 1e-12))
	for i, p := range pop {
		m.Popularity[i] = float32(p / top)
	}
	m.ByPopularity = make([]int32, n)
	for i := range m.ByPopularity {
		m.ByPopularity[i] = int32(i)
	}
	slices.SortStableFunc(m.ByPopularity, func(a, b int32) int { return cmp.Compare(pop[b], pop[a]) })
	m.Neighbours = neighbours(n, pairs, buyers, cfg.Neighbours, cfg.SourceExp, cfg.TargetExp)
	if cfg.Blend.Embedding > 0 {
		m.Vectors = item2vec(n, seqs, cfg)
	} else {
		m.Dim = 0
	}
	if cfg.Blend.Text > 0 {
		m.TextNeighbours = textNeighbours(texts, cfg.Neighbours)
	}
	return m, nil
}

// basketRanks maps basket numbers to their rank by name.
func (t *Trainer) basketRanks() []int32 {
	order := make([]int32, len(t.basketNames))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(t.basketNames[a], t.basketNames[b]) })
	rank := make([]int32, len(order))
	for r, b := range order {
		rank[b] = int32(r)
	}
	return rank
}

type boughtItem struct {
	item int32
	last int64
}

// recentBought is a user's distinct bought items with their last purchase
// time, the max most recent ones, in item order.
func recentBought(u []Interaction, max int) []boughtItem {
	last := map[int32]int64{}
	for _, e := range u {
		if e.Kind != Bought {
			continue
		}
		if t, ok := last[e.Item]; !ok || e.Time > t {
			last[e.Item] = e.Time
		}
	}
	out := make([]boughtItem, 0, len(last))
	for i, t := range last {
		out = append(out, boughtItem{i, t})
	}
	slices.SortFunc(out, func(a, b boughtItem) int { return cmp.Or(cmp.Compare(b.last, a.last), cmp.Compare(a.item, b.item)) })
	if len(out) > max {
		out = out[:max]
	}
	slices.SortFunc(out, func(a, b boughtItem) int { return cmp.Compare(a.item, b.item) })
	return out
}

// sequence is a user's items in time order (ties by basket, then item:
// both numbered in name order), consecutive repeats dropped: the
// "sentence" item2vec learns from.
func sequence(u []Interaction) []int32 {
	evs := slices.Clone(u)
	slices.SortStableFunc(evs, func(a, b Interaction) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Basket, b.Basket), cmp.Compare(a.Item, b.Item))
	})
	var s []int32
	for _, e := range evs {
		if len(s) > 0 && s[len(s)-1] == e.Item {
			continue
		}
		s = append(s, e.Item)
	}
	return s
}

// pairCounts sums the users' weights of each pair of co-bought items: a
// triangular array when the catalogue is small enough (a map access per
// pair was most of the training time), else a map.
type pairCounts struct {
	n      int
	dense  []float32 // i < j at i*n + j
	sparse map[uint64]float32
}

// maxDensePairs bounds the triangular array (32 MiB of float32: a
// catalogue of up to 2,896 items).
const maxDensePairs = 1 << 23

func newPairCounts(n int) *pairCounts {
	if n*n <= maxDensePairs {
		return &pairCounts{n: n, dense: make([]float32, n*n)}
	}
	return &pairCounts{n: n, sparse: map[uint64]float32{}}
}

func (p *pairCounts) add(i, j int32, w float32) {
	if i > j {
		i, j = j, i
	}
	if p.dense != nil {
		p.dense[int(i)*p.n+int(j)] += w
		return
	}
	p.sparse[uint64(i)<<32|uint64(j)] += w
}

// scale replaces every pair's count c by f(i, j, c).
func (p *pairCounts) scale(f func(i, j int32, c float32) float32) {
	if p.dense == nil {
		for key, c := range p.sparse {
			p.sparse[key] = f(int32(key>>32), int32(key&0xffffffff), c)
		}
		return
	}
	p.each(func(i, j int32, c float32) { p.dense[int(i)*p.n+int(j)] = f(i, j, c) })
}

// each calls f for every pair with a count, i < j.
func (p *pairCounts) each(f func(i, j int32, c float32)) {
	if p.dense == nil {
		for key, c := range p.sparse {
			f(int32(key>>32), int32(key&0xffffffff), c)
		}
		return
	}
	for i := range p.n {
		row := p.dense[i*p.n : (i+1)*p.n]
		for j := i + 1; j < p.n; j++ {
			if row[j] != 0 {
				f(int32(i), int32(j), row[j])
			}
		}
	}
}

// neighbours keeps each item's k most similar items: j's similarity to i
// is co(i,j) / (buyers(i)^se buyers(j)^te).
func neighbours(n int, pairs *pairCounts, buyers []float32, k int, se, te float64) [][]Neighbour {
	out := make([][]Neighbour, n)
	pairs.each(func(i, j int32, c float32) {
		bi, bj := float64(buyers[i]), float64(buyers[j])
		out[i] = append(out[i], Neighbour{j, c / float32(math.Pow(bi, se)*math.Pow(bj, te))})
		out[j] = append(out[j], Neighbour{i, c / float32(math.Pow(bj, se)*math.Pow(bi, te))})
	})
	for i := range out {
		slices.SortFunc(out[i], func(a, b Neighbour) int { return cmp.Or(cmp.Compare(b.Sim, a.Sim), cmp.Compare(a.Item, b.Item)) })
		if len(out[i]) > k {
			out[i] = slices.Clip(out[i][:k])
		}
	}
	return out
}
