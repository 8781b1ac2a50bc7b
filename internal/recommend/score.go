package recommend

import (
	"math"
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

// Interaction is a user's interaction with an item the model knows, by
// the item's index (Model.Index): the compact history Scorer.Lists reads,
// so that a shard's users need not hold their events' strings.
type Interaction struct {
	Item int32
	Kind Kind
	Time int64 // Unix milliseconds
	// Basket is the basket's number from Trainer.Basket (only training
	// reads it).
	Basket int32
}

// sources names the blend's parts, in Blend's order.
var sources = [4]string{SourceCoPurchase, SourceText, SourceEmbedding, SourcePopularity}

// Scorer scores users' histories against a model. It holds per-user
// scratch space over the catalogue, so use one Scorer per goroutine.
type Scorer struct {
	m            *Model
	co, txt, emb []float64
	weight       []float64 // the user's weight of each item
	bought       []bool    // the user bought the item
	seen         []bool    // the item is in touched
	touched      []int32   // candidates: items with a score part
	items        []int32   // items the user interacted with
	taste        []float32
	inPool       []bool // the item is among the popular candidates every user gets
	pool         int    // len of that pool
	top          []cand // the K best of the candidates, reused
	hist         []Interaction
}

// cand is a candidate of a list: an item and its blend score.
type cand struct {
	item  int32
	score float64
}

// NewScorer returns a scorer over m.
func NewScorer(m *Model) *Scorer {
	n := len(m.Items)
	return &Scorer{m: m, co: make([]float64, n), txt: make([]float64, n), emb: make([]float64, n),
		weight: make([]float64, n), bought: make([]bool, n), seen: make([]bool, n), inPool: make([]bool, n),
		taste: make([]float32, m.Dim)}
}

// Recommend returns up to opt.K picks for a user with history h as of
// asOf (Unix ms), best first; items the model does not know are ignored.
// It is Lists for one list; see there.
func (s *Scorer) Recommend(h []Event, asOf int64, opt Options) []Pick {
	s.hist = s.hist[:0]
	for _, e := range h {
		if i := s.m.Index(e.Item); i >= 0 {
			s.hist = append(s.hist, Interaction{Item: i, Kind: e.Kind, Time: e.Time})
		}
	}
	return s.Lists(s.hist, asOf, []Options{opt})[0]
}

// Lists returns a list of picks for each of opts (up to its K, best
// first) for a user with history h as of asOf (Unix ms). The score is the
// blend of co-purchase neighbours of the user's items, their description
// neighbours, the cosine between the user's taste vector and each
// candidate's embedding, and recent popularity, each part scaled to
// [0, 1] over the list's allowed candidates. Candidates are the
// neighbours, the nearest items to the taste vector and the most popular
// items; users the model knows nothing about get the most popular items
// (cold start). Ties break by popularity, then item name, so the result
// is deterministic. The neighbours are summed once for all the lists.
func (s *Scorer) Lists(h []Interaction, asOf int64, opts []Options) [][]Pick {
	m, cfg := s.m, s.m.Config
	for _, e := range h {
		if e.Kind >= nKinds {
			continue
		}
		i := e.Item
		if s.weight[i] == 0 && !slices.Contains(s.items, i) {
			s.items = append(s.items, i)
		}
		s.weight[i] += cfg.KindWeights[e.Kind] * decay(e.Time, asOf, cfg.HalfLifeDays)
		if e.Kind == Bought {
			s.bought[i] = true
		}
	}
	// Co-purchase scores and the taste vector, in item order so that
	// float sums do not depend on the history's order.
	slices.Sort(s.items)
	clear(s.taste)
	per := math.MaxInt // neighbours read per item and kind of neighbour
	if cfg.ScoreTouches > 0 && len(s.items) > 0 {
		per = max(20, cfg.ScoreTouches/len(s.items))
	}
	touches := 0
	for _, i := range s.items {
		touches += min(per, len(m.Neighbours[i]))
		if m.TextNeighbours != nil {
			touches += min(per, len(m.TextNeighbours[i]))
		}
	}
	// When the neighbours reach much of the catalogue, every item is a
	// candidate to look at anyway: scanning them all afterwards is cheaper
	// than remembering which were reached.
	dense := touches >= len(m.Items)
	for _, i := range s.items {
		w := s.weight[i]
		co := m.Neighbours[i]
		co = co[:min(per, len(co))]
		for _, nb := range co {
			s.co[nb.Item] += w * float64(nb.Sim)
		}
		var txt []Neighbour
		if m.TextNeighbours != nil {
			txt = m.TextNeighbours[i]
			txt = txt[:min(per, len(txt))]
			for _, nb := range txt {
				s.txt[nb.Item] += w * float64(nb.Sim)
			}
		}
		if !dense {
			for _, nb := range co {
				s.mark(nb.Item)
			}
			for _, nb := range txt {
				s.mark(nb.Item)
			}
		}
		if m.Dim > 0 {
			v := m.Vectors[int(i)*m.Dim : int(i+1)*m.Dim]
			for x := range v {
				s.taste[x] += float32(w) * v[x]
			}
		}
	}
	hasTaste := m.Dim > 0 && len(s.items) > 0 && dot(s.taste, s.taste) > 0
	if hasTaste {
		normalize(s.taste, m.Dim)
		// Every item's cosine with the taste vector: Dim multiplications an
		// item, cheap beside reading the user's events for catalogues of a
		// few ten thousand items.
		for i := range m.Items {
			if c := float64(dot(s.taste, m.Vectors[i*m.Dim:(i+1)*m.Dim])); c > 0 {
				s.emb[i] = c
			}
		}
	}
	maxK := 0
	for _, o := range opts {
		maxK = max(maxK, o.K)
	}
	s.setPool(min(len(m.ByPopularity), max(200, 4*maxK)))
	if dense {
		// Every item is written and the count advanced when it is a
		// candidate, without a branch: which items the neighbours reached
		// is unpredictable, and mispredicted branches were most of the
		// pass's time.
		n := len(m.Items)
		t := slices.Grow(s.touched[:0], n)[:n]
		co, txt, emb, pool := s.co[:n], s.txt[:n], s.emb[:n], s.inPool[:n]
		k := 0
		for i := range t {
			t[k] = int32(i)
			k += b2i(co[i] > 0) | b2i(txt[i] > 0) | b2i(emb[i] > 0) | b2i(pool[i])
		}
		s.touched = t[:k]
	} else {
		for _, i := range m.ByPopularity[:s.pool] {
			s.mark(i)
		}
		if hasTaste {
			for i := range m.Items {
				if s.emb[i] > 0 {
					s.mark(int32(i))
				}
			}
		}
	}
	out := make([][]Pick, len(opts))
	for l, opt := range opts {
		out[l] = s.list(opt)
	}
	if dense { // nothing was marked seen; emb is cleared below when set
		clear(s.co)
		clear(s.txt)
	} else {
		for _, i := range s.touched {
			s.co[i], s.txt[i], s.emb[i], s.seen[i] = 0, 0, 0, false
		}
	}
	for _, i := range s.items {
		s.weight[i], s.bought[i] = 0, false
	}
	s.touched, s.items = s.touched[:0], s.items[:0]
	if hasTaste {
		clear(s.emb)
	}
	return out
}

// b2i is 1 for true, 0 for false (the compiler makes it a flag set, not
// a branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mark adds item i to the candidates once.
func (s *Scorer) mark(i int32) {
	if !s.seen[i] {
		s.seen[i] = true
		s.touched = append(s.touched, i)
	}
}

// setPool makes the n most popular items the pool of candidates every
// user gets.
func (s *Scorer) setPool(n int) {
	if n == s.pool {
		return
	}
	clear(s.inPool)
	for _, i := range s.m.ByPopularity[:n] {
		s.inPool[i] = true
	}
	s.pool = n
}

// allowed says whether item i may be featured in a list with opt.
func (s *Scorer) allowed(i int32, opt Options) bool {
	return (opt.AllowRepeats || !s.bought[i]) && (opt.Category == "" || s.m.Categories[i] == opt.Category)
}

// list picks one list from the summed candidate scores.
func (s *Scorer) list(opt Options) []Pick {
	m, b := s.m, s.m.Config.Blend
	maxCo, maxTxt, maxEmb := 0.0, 0.0, 0.0
	for _, i := range s.touched {
		if !s.allowed(i, opt) {
			continue
		}
		// Plain comparisons: the parts are never NaN, and the builtin max
		// orders NaNs and signed zeros at a cost (most of this pass).
		if s.co[i] > maxCo {
			maxCo = s.co[i]
		}
		if s.txt[i] > maxTxt {
			maxTxt = s.txt[i]
		}
		if s.emb[i] > maxEmb {
			maxEmb = s.emb[i]
		}
	}
	// scale turns a candidate's raw parts into its blend parts, in the
	// order of sources: each part scaled to [0, 1] over the allowed
	// candidates, times its weight.
	var scale [4]float64
	if maxCo > 0 {
		scale[0] = b.CoPurchase / maxCo
	}
	if maxTxt > 0 {
		scale[1] = b.Text / maxTxt
	}
	if maxEmb > 0 {
		scale[2] = b.Embedding / maxEmb
	}
	scale[3] = b.Popularity
	parts := func(i int32) [4]float64 {
		return [4]float64{scale[0] * s.co[i], scale[1] * s.txt[i], scale[2] * s.emb[i], scale[3] * float64(m.Popularity[i])}
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
	for _, i := range s.touched {
		if !s.allowed(i, opt) {
			continue
		}
		c := cand{item: i, score: scale[0]*s.co[i] + scale[1]*s.txt[i] + scale[2]*s.emb[i] + scale[3]*float64(m.Popularity[i])}
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
	picks := make([]Pick, 0, opt.K)
	for _, c := range top {
		// The source is the part that contributed most; ties go to the
		// first in the order of sources.
		p, best := parts(c.item), 3
		for q := 2; q >= 0; q-- {
			if p[q] > 0 && p[q] >= p[best] {
				best = q
			}
		}
		picks = append(picks, Pick{Item: m.Items[c.item], Category: m.Categories[c.item], Score: c.score, Source: sources[best]})
	}
	s.top = top[:0]
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
			if s.allowed(i, opt) && !have[m.Items[i]] {
				picks = append(picks, Pick{Item: m.Items[i], Category: m.Categories[i], Score: b.Popularity * float64(m.Popularity[i]), Source: SourcePopularity})
			}
		}
	}
	return picks
}

// Category is the most frequent category among picks (ties: the first
// reached), or "" when none of them has one.
func Category(picks []Pick) string {
	return mostFrequent(len(picks), func(i int) string { return picks[i].Category })
}

// mostFrequent is Category's rule over n categories given by cat: the
// most frequent non-empty one, ties to the first reached. Lists are short
// (K items), so the counts are a small slice, not a map.
func mostFrequent(n int, cat func(i int) string) string {
	type count struct {
		cat string
		n   int
	}
	var counts [16]count
	seen := counts[:0]
	best, bestN := "", 0
	for i := range n {
		c := cat(i)
		if c == "" {
			continue
		}
		k := 0
		for k < len(seen) && seen[k].cat != c {
			k++
		}
		if k == len(seen) {
			seen = append(seen, count{cat: c})
		}
		seen[k].n++
		if seen[k].n > bestN {
			best, bestN = c, seen[k].n
		}
	}
	return best
}
