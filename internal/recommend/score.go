package recommend

import (
	"slices"
)

// Options are one user's constraints.
type Options struct {
	// K is how many items to return.
	K int
	// AllowRepeats lets items the user bought be featured (consumables).
	AllowRepeats bool
	// Category, when set, restricts the picks to items of that category
	// (an offer restricted to a category features items of it).
	Category string
}

// Pick is one featured item.
type Pick struct {
	Item     string
	Category string // the item's category; "" when unknown
	Score    float64
	Source   string // SourceCoPurchase, SourceText, SourceEmbedding or SourcePopularity
}

// sources names the blend's parts, in Blend's order.
var sources = [4]string{SourceCoPurchase, SourceText, SourceEmbedding, SourcePopularity}

// Scorer scores users' histories against a model. It holds per-user
// scratch space, so use one Scorer per goroutine.
type Scorer struct {
	m            *Model
	co, txt, emb []float64
	touched      []int32
	seen         []bool
	taste        []float32
	weight       map[int32]float64
	cands        []cand
	top          []cand // the K best of cands, reused
}

// cand is a candidate of Recommend: an item, its blend score and the
// index of its main source.
type cand struct {
	item  int32
	src   uint8
	score float64
}

// NewScorer returns a scorer over m.
func NewScorer(m *Model) *Scorer {
	n := len(m.Items)
	return &Scorer{m: m, co: make([]float64, n), txt: make([]float64, n), emb: make([]float64, n), seen: make([]bool, n),
		taste: make([]float32, m.Dim), weight: map[int32]float64{}}
}

// Recommend returns up to opt.K picks for a user with history h as of
// asOf (Unix ms), best first: the blend of co-purchase neighbours of the
// user's items, the cosine between the user's taste vector and each
// candidate's embedding, and recent popularity, each scaled to [0, 1] for
// the user. Candidates are the co-purchase neighbours, the nearest items
// to the taste vector and the most popular items; users the model knows
// nothing about get the most popular items (cold start). Ties break by
// popularity, then item name, so the result is deterministic.
func (s *Scorer) Recommend(h []Event, asOf int64, opt Options) []Pick {
	m, cfg := s.m, s.m.Config
	clear(s.weight)
	bought := map[int32]bool{}
	for _, e := range h {
		i := m.Index(e.Item)
		if i < 0 || e.Kind >= nKinds {
			continue
		}
		s.weight[i] += cfg.KindWeights[e.Kind] * decay(e.Time, asOf, cfg.HalfLifeDays)
		if e.Kind == Bought {
			bought[i] = true
		}
	}
	allowed := func(i int32) bool {
		return (opt.AllowRepeats || !bought[i]) && (opt.Category == "" || m.Categories[i] == opt.Category)
	}
	mark := func(i int32) {
		if !s.seen[i] {
			s.seen[i] = true
			s.touched = append(s.touched, i)
		}
	}
	// Co-purchase scores and the taste vector, in item order so that
	// float sums do not depend on map order.
	items := make([]int32, 0, len(s.weight))
	for i := range s.weight {
		items = append(items, i)
	}
	slices.Sort(items)
	clear(s.taste)
	for _, i := range items {
		w := s.weight[i]
		for _, nb := range m.Neighbours[i] {
			s.co[nb.Item] += w * float64(nb.Sim)
			mark(nb.Item)
		}
		if m.TextNeighbours != nil {
			for _, nb := range m.TextNeighbours[i] {
				s.txt[nb.Item] += w * float64(nb.Sim)
				mark(nb.Item)
			}
		}
		if m.Dim > 0 {
			v := m.Vectors[int(i)*m.Dim : int(i+1)*m.Dim]
			for x := range v {
				s.taste[x] += float32(w) * v[x]
			}
		}
	}
	hasTaste := m.Dim > 0 && len(items) > 0 && dot(s.taste, s.taste) > 0
	if hasTaste {
		normalize(s.taste, m.Dim)
		// Every item's cosine with the taste vector: Dim multiplications an
		// item, cheap beside reading the user's events for catalogues of a
		// few ten thousand items.
		for i := range m.Items {
			c := float64(dot(s.taste, m.Vectors[i*m.Dim:(i+1)*m.Dim]))
			if c > 0 {
				s.emb[i] = c
			}
		}
	}
	pool := min(len(m.ByPopularity), max(200, 4*opt.K))
	for _, i := range m.ByPopularity[:pool] {
		mark(i)
	}
	if hasTaste {
		for i := range m.Items {
			if s.emb[i] > 0 {
				mark(int32(i))
			}
		}
	}
	maxCo, maxTxt, maxEmb := 0.0, 0.0, 0.0
	for _, i := range s.touched {
		if allowed(i) {
			maxCo, maxTxt, maxEmb = max(maxCo, s.co[i]), max(maxTxt, s.txt[i]), max(maxEmb, s.emb[i])
		}
	}
	b := cfg.Blend
	// Candidates are kept as indices and scores; only the K best become
	// Picks (copying every candidate's strings was most of the time).
	cands := s.cands[:0]
	for _, i := range s.touched {
		if !allowed(i) {
			continue
		}
		// In the order of sources, so that ties go to the first.
		parts := [4]float64{}
		if maxCo > 0 {
			parts[0] = b.CoPurchase * s.co[i] / maxCo
		}
		if maxTxt > 0 {
			parts[1] = b.Text * s.txt[i] / maxTxt
		}
		if maxEmb > 0 {
			parts[2] = b.Embedding * s.emb[i] / maxEmb
		}
		parts[3] = b.Popularity * float64(m.Popularity[i])
		best := 3
		for p := 2; p >= 0; p-- {
			if parts[p] > 0 && parts[p] >= parts[best] {
				best = p
			}
		}
		cands = append(cands, cand{item: i, src: uint8(best), score: parts[0] + parts[1] + parts[2] + parts[3]})
	}
	for _, i := range s.touched {
		s.co[i], s.txt[i], s.emb[i], s.seen[i] = 0, 0, 0, false
	}
	s.touched = s.touched[:0]
	if hasTaste {
		clear(s.emb)
	}
	// The K best candidates, best first: a bounded insertion, since most
	// candidates lose to the K-th best at once (sorting every candidate was
	// most of a run's recommendation time). Ties (a cold-start user's zeros
	// when popularity has no weight) go to the more popular item, then by
	// name: a total order, so the K picked are those a full sort would give.
	better := func(x, y cand) bool {
		if x.score != y.score {
			return x.score > y.score
		}
		if px, py := m.Popularity[x.item], m.Popularity[y.item]; px != py {
			return px > py
		}
		return m.Items[x.item] < m.Items[y.item]
	}
	top := s.top[:0]
	for _, c := range cands {
		if len(top) == opt.K && !better(c, top[len(top)-1]) {
			continue
		}
		if len(top) < opt.K {
			top = append(top, c)
		} else {
			top[len(top)-1] = c
		}
		for j := len(top) - 1; j > 0 && better(top[j], top[j-1]); j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	s.top = top[:0]
	picks := make([]Pick, 0, opt.K)
	for _, c := range top {
		picks = append(picks, Pick{Item: m.Items[c.item], Category: m.Categories[c.item], Score: c.score, Source: sources[c.src]})
	}
	s.cands = cands[:0]
	// Fewer candidates than K (a narrow category): fill with that
	// category's most popular items.
	if len(picks) < opt.K {
		have := map[string]bool{}
		for _, p := range picks {
			have[p.Item] = true
		}
		for _, i := range m.ByPopularity {
			if len(picks) == opt.K {
				break
			}
			if allowed(i) && !have[m.Items[i]] {
				picks = append(picks, Pick{Item: m.Items[i], Category: m.Categories[i], Score: b.Popularity * float64(m.Popularity[i]), Source: SourcePopularity})
			}
		}
	}
	return picks
}

// Category is the most frequent category among picks (ties: the first
// reached), or "" when none of them has one.
func Category(picks []Pick) string {
	count := map[string]int{}
	best, bestN := "", 0
	for _, p := range picks {
		if p.Category == "" {
			continue
		}
		count[p.Category]++
		if count[p.Category] > bestN {
			best, bestN = p.Category, count[p.Category]
		}
	}
	return best
}
