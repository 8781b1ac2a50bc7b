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
		MaxItemsPerUser: 300,
		HalfLifeDays:    60, PopularityHalfLifeDays: 30,
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

// Train learns a model from users' histories as of asOf (Unix ms). Only
// bought items define the catalogue, co-purchases and popularity; every
// kind enters the embeddings' baskets.
func Train(users [][]Event, asOf int64, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Dim: cfg.Dim, index: map[string]int32{}}
	id := func(e Event) int32 {
		if i, ok := m.index[e.Item]; ok {
			if m.Categories[i] == "" {
				m.Categories[i] = e.Category
			}
			return i
		}
		i := int32(len(m.Items))
		m.index[e.Item] = i
		m.Items = append(m.Items, e.Item)
		m.Categories = append(m.Categories, e.Category)
		return i
	}
	// Items are numbered in sorted order so the model does not depend on
	// the order users arrive in.
	var names []Event
	for _, u := range users {
		for _, e := range u {
			if e.Item != "" {
				names = append(names, e)
			}
		}
	}
	slices.SortFunc(names, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(b.Category, a.Category), cmp.Compare(b.Text, a.Text))
	})
	var texts []string
	for _, e := range names {
		if int(id(e)) == len(texts) {
			texts = append(texts, e.Text)
		}
	}
	n := len(m.Items)
	pop := make([]float64, n)
	pairs := map[uint64]float32{}
	buyers := make([]float32, n)
	seqs := make([][]int32, 0, len(users))
	for _, u := range users {
		bought := recentBought(m, u, cfg.MaxItemsPerUser)
		for _, b := range bought {
			pop[b.item] += decay(b.last, asOf, cfg.PopularityHalfLifeDays)
			buyers[b.item]++
		}
		pw := float32(math.Pow(float64(max(1, len(bought))), -cfg.UserDamping))
		for x := range bought {
			for y := x + 1; y < len(bought); y++ {
				i, j := bought[x].item, bought[y].item
				if i > j {
					i, j = j, i
				}
				pairs[uint64(i)<<32|uint64(j)] += pw
			}
		}
		if s := sequence(m, u); len(s) > 1 {
			seqs = append(seqs, s)
		}
	}
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

type boughtItem struct {
	item int32
	last int64
}

// recentBought is a user's distinct bought items with their last purchase
// time, the max most recent ones, in item order.
func recentBought(m *Model, u []Event, max int) []boughtItem {
	last := map[int32]int64{}
	for _, e := range u {
		if e.Kind != Bought || e.Item == "" {
			continue
		}
		i := m.Index(e.Item)
		if t, ok := last[i]; !ok || e.Time > t {
			last[i] = e.Time
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

// sequence is a user's items in time order (ties by basket, then item),
// consecutive repeats dropped: the "sentence" item2vec learns from.
func sequence(m *Model, u []Event) []int32 {
	evs := slices.Clone(u)
	slices.SortStableFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Basket, b.Basket), cmp.Compare(a.Item, b.Item))
	})
	var s []int32
	for _, e := range evs {
		if e.Item == "" {
			continue
		}
		i := m.Index(e.Item)
		if len(s) > 0 && s[len(s)-1] == i {
			continue
		}
		s = append(s, i)
	}
	return s
}

// neighbours keeps each item's k most similar items: j's similarity to i
// is co(i,j) / (buyers(i)^se buyers(j)^te).
func neighbours(n int, pairs map[uint64]float32, buyers []float32, k int, se, te float64) [][]Neighbour {
	out := make([][]Neighbour, n)
	for key, c := range pairs {
		i, j := int32(key>>32), int32(key&0xffffffff)
		bi, bj := float64(buyers[i]), float64(buyers[j])
		out[i] = append(out[i], Neighbour{j, c / float32(math.Pow(bi, se)*math.Pow(bj, te))})
		out[j] = append(out[j], Neighbour{i, c / float32(math.Pow(bj, se)*math.Pow(bi, te))})
	}
	for i := range out {
		slices.SortFunc(out[i], func(a, b Neighbour) int { return cmp.Or(cmp.Compare(b.Sim, a.Sim), cmp.Compare(a.Item, b.Item)) })
		if len(out[i]) > k {
			out[i] = slices.Clip(out[i][:k])
		}
	}
	return out
}
