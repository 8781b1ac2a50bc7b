// Package segment describes k-means segments to marketers: size, mean
// behaviour, top interests, and a name derived from how the segment's
// centroid ranks against the other segments.
package segment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
)

// Profile is what a marketer reads about a segment; the summary JSON's
// segments: [{id, name, size, profile, top_terms, ...}].
type Profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Share is Size over all users.
	Share float64 `json:"share"`
	// Mean is the mean raw value of every behaviour feature.
	Mean map[string]float64 `json:"profile"`
	// Traits say where the centroid stands out: "high monetary (+1.4 sd)".
	Traits        []string `json:"traits"`
	TopTerms      []Term   `json:"top_terms"`
	TopCategories []Term   `json:"top_categories,omitempty"`
}

// Term is a segment's interest: its mean weight over the segment's users
// and its lift, the mean weight in the segment over the mean weight of all
// users.
type Term struct {
	Term   string  `json:"term"`
	Weight float64 `json:"weight"`
	Lift   float64 `json:"lift"`
}

// Sums accumulates raw feature sums per segment; mergeable across shards.
type Sums struct {
	Count []int64     `json:"count"`
	Sum   [][]float64 `json:"sum"`
}

// NewSums returns empty sums for k segments over features.Names.
func NewSums(k int) Sums {
	s := Sums{Count: make([]int64, k), Sum: make([][]float64, k)}
	for i := range s.Sum {
		s.Sum[i] = make([]float64, len(features.Names))
	}
	return s
}

// Add counts one user with raw values (features.Names order) in segment seg.
func (s *Sums) Add(seg int, raw []float64) {
	s.Count[seg]++
	for j, v := range raw {
		s.Sum[seg][j] += v
	}
}

// Merge adds o into s.
func (s *Sums) Merge(o Sums) error {
	if len(o.Count) != len(s.Count) || len(o.Sum) != len(s.Sum) {
		return fmt.Errorf("segment sums: %d segments, want %d", len(o.Count), len(s.Count))
	}
	for i := range s.Count {
		if len(o.Sum[i]) != len(s.Sum[i]) {
			return fmt.Errorf("segment sums: %d features, want %d", len(o.Sum[i]), len(s.Sum[i]))
		}
		s.Count[i] += o.Count[i]
		for j := range s.Sum[i] {
			s.Sum[i][j] += o.Sum[i][j]
		}
	}
	return nil
}

// Profiles turns sums into profiles named by names (from Names), in
// segment order, with the mean of every behaviour feature.
func (s Sums) Profiles(names []string) []Profile {
	var total int64
	for _, n := range s.Count {
		total += n
	}
	out := make([]Profile, len(s.Count))
	for i := range out {
		out[i] = Profile{ID: i, Name: names[i], Size: s.Count[i], Mean: map[string]float64{}}
		if total > 0 {
			out[i].Share = float64(s.Count[i]) / float64(total)
		}
		for j, name := range features.Behaviour {
			if s.Count[i] > 0 {
				out[i].Mean[name] = s.Sum[i][j] / float64(s.Count[i])
			}
		}
	}
	return out
}

// rule is one segment name: a score from the centroid's centred ranks (-1
// the lowest of the segments on a feature, +1 the highest) and a guard on
// its standardized coordinates (0 is the average user), so that a name is
// only given to a segment that is what the name says in absolute terms too.
type rule struct {
	name  string
	score func(rank func(string) float64) float64
	guard func(z func(string) float64) bool
}

// rules are the names, from the most to the least specific: each goes, in
// this order, to the best-scoring segment not yet named whose guard holds.
var rules = []rule{
	{"new", func(r func(string) float64) float64 { return -r("tenure_days") },
		func(z func(string) float64) bool { return z("tenure_days") < -0.5 }},
	{"champions", func(r func(string) float64) float64 { return r("monetary") + r("frequency") - r("recency_days") },
		func(z func(string) float64) bool {
			return z("monetary") > 0 && z("frequency") > 0 && z("recency_days") < 0
		}},
	{"at risk", func(r func(string) float64) float64 { return r("recency_days") + r("frequency") + 0.5*r("monetary") },
		func(z func(string) float64) bool { return z("frequency") > 0 && z("recency_days") > 0 }},
	{"bargain hunters", func(r func(string) float64) float64 { return 2*r("discount_share") - r("avg_order_value") },
		func(z func(string) float64) bool { return z("discount_share") > 0.25 }},
	{"browsers", func(r func(string) float64) float64 {
		return r("views_per_week") + r("searches_per_week") - r("frequency")
	}, func(z func(string) float64) bool { return z("views_per_week") > 0 && z("frequency") < 0 }},
	{"loyal", func(r func(string) float64) float64 { return r("frequency") - r("recency_days") + 0.5*r("tenure_days") },
		func(z func(string) float64) bool { return z("frequency") > 0 && z("recency_days") < 0 }},
	{"returners", func(r func(string) float64) float64 { return r("return_rate") },
		func(z func(string) float64) bool { return z("return_rate") > 1 }},
	{"hibernating", func(r func(string) float64) float64 {
		return r("recency_days") - r("frequency") - r("sessions_per_week")
	}, func(z func(string) float64) bool { return z("recency_days") > 0 }},
	{"cart abandoners", func(r func(string) float64) float64 { return 2*r("cart_abandonment") - r("frequency") },
		func(z func(string) float64) bool { return z("cart_abandonment") > 0.5 }},
}

// Fallback is the name of a segment no rule fits.
const Fallback = "occasional"

// Names names segments from their centroids in standardized space, whose
// coordinates are the features names (features.Scaler.Names). The rules
// go in order (new, champions, at risk, bargain hunters, browsers, loyal,
// returners, hibernating, cart abandoners); each names the segment, among
// those not yet named and whose coordinates pass its guard, that scores
// best on its ranks among the segments (ties to the lower id). A segment
// left without a name is "occasional"; a repeated name gets a number
// ("occasional 2"). Ranks make names relative (the best spenders are this
// segmentation's champions), guards keep them honest (a segment that spends
// less than the average user is no champion, whatever its rank). The result
// depends only on the centroids' coordinates and order.
func Names(names []string, centroids [][]float64) []string {
	col := map[string]int{}
	for j, n := range names {
		col[n] = j
	}
	k := len(centroids)
	ranks := make([]map[string]float64, k)
	for i := range ranks {
		ranks[i] = map[string]float64{}
	}
	for name, j := range col {
		vals := make([]float64, k)
		for i, c := range centroids {
			vals[i] = c[j]
		}
		for i, r := range centredRanks(vals) {
			ranks[i][name] = r
		}
	}
	out := make([]string, k)
	for _, rl := range rules {
		best, bestScore := -1, math.Inf(-1)
		for i, c := range centroids {
			if out[i] != "" {
				continue
			}
			z := func(f string) float64 {
				if j, ok := col[f]; ok {
					return c[j]
				}
				return 0
			}
			if !rl.guard(z) {
				continue
			}
			if s := rl.score(func(f string) float64 { return ranks[i][f] }); s > bestScore {
				best, bestScore = i, s
			}
		}
		if best >= 0 {
			out[best] = rl.name
		}
	}
	n := 0
	for i := range out {
		if out[i] != "" {
			continue
		}
		n++
		out[i] = Fallback
		if n > 1 {
			out[i] = fmt.Sprintf("%s %d", Fallback, n)
		}
	}
	return out
}

// centredRanks maps values to ranks in [-1, 1] (-1 the lowest), ties
// sharing their mean rank; a single value ranks 0.
func centredRanks(v []float64) []float64 {
	n := len(v)
	out := make([]float64, n)
	if n < 2 {
		return out
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(v[a], v[b]) })
	for i := 0; i < n; {
		j := i + 1
		for j < n && v[idx[j]] == v[idx[i]] {
			j++
		}
		mean := float64(i+j-1) / 2
		for _, t := range idx[i:j] {
			out[t] = 2*mean/float64(n-1) - 1
		}
		i = j
	}
	return out
}

// Traits describes where a centroid (standardized coordinates over names)
// stands out: the features at least half a standard deviation from the
// average user, strongest first, at most max of them.
func Traits(names []string, centroid []float64, max int) []string {
	idx := make([]int, 0, len(names))
	for j := range names {
		if math.Abs(centroid[j]) >= 0.5 {
			idx = append(idx, j)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(centroid[b]), math.Abs(centroid[a])) })
	if len(idx) > max {
		idx = idx[:max]
	}
	out := make([]string, len(idx))
	for i, j := range idx {
		dir := "high"
		if centroid[j] < 0 {
			dir = "low"
		}
		out[i] = fmt.Sprintf("%s %s (%+.1f sd)", dir, names[j], centroid[j])
	}
	return out
}

// TermSums accumulates users' interests per segment: the sum of each
// term's TF-IDF weight and of each category's affinity. Mergeable across
// shards (in shard order, for identical float sums).
type TermSums struct {
	Users      []int64              // users per segment
	Terms      []map[string]float64 // per segment
	Categories []map[string]float64 // per segment
}

// NewTermSums returns empty sums for k segments.
func NewTermSums(k int) TermSums {
	t := TermSums{Users: make([]int64, k), Terms: make([]map[string]float64, k), Categories: make([]map[string]float64, k)}
	for i := range k {
		t.Terms[i], t.Categories[i] = map[string]float64{}, map[string]float64{}
	}
	return t
}

// Add counts one user of segment seg with their top terms and categories.
func (t *TermSums) Add(seg int, terms, cats []interest.Term) {
	t.Users[seg]++
	for _, x := range terms {
		t.Terms[seg][x.Term] += x.Weight
	}
	for _, x := range cats {
		t.Categories[seg][x.Term] += x.Weight
	}
}

// Merge adds o into t.
func (t *TermSums) Merge(o TermSums) error {
	if len(o.Users) != len(t.Users) {
		return fmt.Errorf("segment term sums: %d segments, want %d", len(o.Users), len(t.Users))
	}
	for i := range t.Users {
		t.Users[i] += o.Users[i]
		for k, v := range o.Terms[i] {
			t.Terms[i][k] += v
		}
		for k, v := range o.Categories[i] {
			t.Categories[i][k] += v
		}
	}
	return nil
}

// Top returns, for every segment, the n terms and the n categories that
// characterise it best: ranked by mean weight × log2(1 + lift), so that a
// term must be both strong in the segment and more typical of it than of
// everyone. Ties go by term.
func (t TermSums) Top(n int) (terms, cats [][]Term) {
	return top(t.Users, t.Terms, n), top(t.Users, t.Categories, n)
}

func top(users []int64, sums []map[string]float64, n int) [][]Term {
	var all int64
	global := map[string]float64{}
	for i, m := range sums {
		all += users[i]
		for k, v := range m {
			global[k] += v
		}
	}
	out := make([][]Term, len(sums))
	for i, m := range sums {
		if users[i] == 0 {
			continue
		}
		type scored struct {
			Term
			score float64
		}
		var s []scored
		for k, v := range m {
			mean := v / float64(users[i])
			lift := mean / (global[k] / float64(all))
			s = append(s, scored{Term{k, mean, lift}, mean * math.Log2(1+lift)})
		}
		slices.SortFunc(s, func(a, b scored) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.Term.Term, b.Term.Term)
		})
		// Keep the terms that add a word (interest.Distinct).
		seen := map[string]bool{}
		for j := 0; j < len(s) && len(out[i]) < n; j++ {
			words := strings.Fields(s[j].Term.Term)
			covered := len(out[i]) > 0
			for _, w := range words {
				covered = covered && seen[w]
			}
			if covered {
				continue
			}
			for _, w := range words {
				seen[w] = true
			}
			out[i] = append(out[i], s[j].Term)
		}
	}
	return out
}

// TermSumsSchema stores TermSums: one row per segment, kind ("users",
// "term" or "category") and term, sorted.
var TermSumsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "segment", Type: arrow.PrimitiveTypes.Int32},
	{Name: "kind", Type: arrow.BinaryTypes.String},
	{Name: "term", Type: arrow.BinaryTypes.String},
	{Name: "weight", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// Record encodes t as a record of TermSumsSchema. The caller must Release
// it.
func (t TermSums) Record(mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, TermSumsSchema)
	defer b.Release()
	seg := b.Field(0).(*array.Int32Builder)
	kind := b.Field(1).(*array.StringBuilder)
	term := b.Field(2).(*array.StringBuilder)
	weight := b.Field(3).(*array.Float64Builder)
	add := func(i int, k, t string, w float64) {
		seg.Append(int32(i))
		kind.Append(k)
		term.Append(t)
		weight.Append(w)
	}
	for i := range t.Users {
		add(i, "users", "", float64(t.Users[i]))
		for _, kv := range []struct {
			kind string
			m    map[string]float64
		}{{"category", t.Categories[i]}, {"term", t.Terms[i]}} {
			keys := make([]string, 0, len(kv.m))
			for k := range kv.m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				add(i, kv.kind, k, kv.m[k])
			}
		}
	}
	return b.NewRecord()
}

// ReadTermSums adds the rows of a record of TermSumsSchema to t.
func ReadTermSums(rec arrow.Record, t *TermSums) error {
	if !rec.Schema().Equal(TermSumsSchema) {
		return fmt.Errorf("segment term sums: schema %v, want %v", rec.Schema(), TermSumsSchema)
	}
	seg := rec.Column(0).(*array.Int32)
	kind := rec.Column(1).(*array.String)
	term := rec.Column(2).(*array.String)
	weight := rec.Column(3).(*array.Float64)
	for r := 0; r < int(rec.NumRows()); r++ {
		i := int(seg.Value(r))
		if i < 0 || i >= len(t.Users) {
			return fmt.Errorf("segment term sums: segment %d of %d", i, len(t.Users))
		}
		k := string([]byte(term.Value(r)))
		switch kind.Value(r) {
		case "users":
			t.Users[i] += int64(weight.Value(r))
		case "term":
			t.Terms[i][k] += weight.Value(r)
		case "category":
			t.Categories[i][k] += weight.Value(r)
		default:
			return fmt.Errorf("segment term sums: unknown kind %q", kind.Value(r))
		}
	}
	return nil
}
