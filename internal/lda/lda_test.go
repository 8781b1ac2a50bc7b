package lda

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// reference is testdata/sklearn.json, written by
// scripts/lda-reference/sklearn_reference.py.
type reference struct {
	K, V        int
	Alpha, Eta  float64
	Tau0, Kappa float64
	Docs        []Doc
	Lambda0     []float64
	Theta       [][]float64
	Lambda1     []float64
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/sklearn.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMatchesScikitLearn compares the E-step's topic proportions and one
// online M-step with scikit-learn's on a tiny corpus from the same λ.
func TestMatchesScikitLearn(t *testing.T) {
	ref := loadReference(t)
	cfg := Config{K: ref.K, Alpha: ref.Alpha, Eta: ref.Eta, Tau0: ref.Tau0, Kappa: ref.Kappa, Passes: 1, MaxDocIter: 2000, Tol: 1e-10}
	m := &Model{K: ref.K, V: ref.V, Lambda: slices.Clone(ref.Lambda0)}
	eb := m.ExpElogBeta()
	s := NewStats(ref.K, ref.V)
	for d, doc := range ref.Docs {
		theta := Theta(EStep(cfg, eb, ref.K, ref.V, doc, s))
		for k := range theta {
			if math.Abs(theta[k]-ref.Theta[d][k]) > 1e-6 {
				t.Errorf("doc %d: theta = %v, scikit-learn %v", d, theta, ref.Theta[d])
				break
			}
		}
	}
	d, err := Resume(cfg, m, int64(len(ref.Docs)), 1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Update(s, eb); err != nil {
		t.Fatal(err)
	}
	for i, l := range d.Model().Lambda {
		if math.Abs(l-ref.Lambda1[i]) > 1e-6*math.Max(1, math.Abs(ref.Lambda1[i])) {
			t.Fatalf("lambda[%d] after one update = %.9g, scikit-learn %.9g", i, l, ref.Lambda1[i])
		}
	}
}

// planted draws docs documents from k topics, each owning a disjoint
// block of wordsPer words, every document mostly about one topic.
func planted(k, wordsPer, docs int, seed uint64) []Doc {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Doc, docs)
	for d := range out {
		main := d % k
		counts := map[int32]float64{}
		for range 30 {
			topic := main
			if r.Float64() < 0.1 {
				topic = r.IntN(k)
			}
			counts[int32(topic*wordsPer+r.IntN(wordsPer))]++
		}
		var doc Doc
		for w := range int32(k * wordsPer) {
			if c := counts[w]; c > 0 {
				doc.Index = append(doc.Index, w)
				doc.Count = append(doc.Count, c)
			}
		}
		out[d] = doc
	}
	return out
}

func split(docs []Doc, shards int) [][]Doc {
	out := make([][]Doc, shards)
	for i, d := range docs {
		out[i%shards] = append(out[i%shards], d)
	}
	return out
}

// TestRecoversPlantedTopics fits a corpus drawn from known topics: every
// topic found puts most of its weight on one planted topic's words, and
// every planted topic is found once.
func TestRecoversPlantedTopics(t *testing.T) {
	const k, per = 4, 10
	docs := planted(k, per, 800, 3)
	for _, batch := range []int{1, 2, 8} {
		cfg := DefaultConfig(k)
		cfg.Seed = 11
		m, err := Fit(cfg, k*per, split(docs, 8), batch)
		if err != nil {
			t.Fatal(err)
		}
		found := map[int]bool{}
		for topic := range k {
			mass := make([]float64, k)
			for _, w := range m.Topic(topic, k*per) {
				mass[int(w.Index)/per] += w.Weight
			}
			best := 0
			for p := range k {
				if mass[p] > mass[best] {
					best = p
				}
			}
			if mass[best] < 0.8 { // 10% of the words are noise
				t.Errorf("batches of %d shards: topic %d spreads over planted topics %.2f", batch, topic, mass)
			}
			found[best] = true
		}
		if len(found) != k {
			t.Errorf("batches of %d shards: found planted topics %v, want all %d", batch, found, k)
		}
		// Documents about planted topic p get most of their weight on
		// the topic that found p.
		eb := m.ExpElogBeta()
		theta := Theta(EStep(cfg, eb, k, k*per, docs[0], nil))
		if slices.Max(theta) < 0.7 {
			t.Errorf("batches of %d shards: document 0's theta %.2f, want one topic above 0.7", batch, theta)
		}
	}
}

// TestDeterministic: the same corpus, seed and batches give the same λ.
func TestDeterministic(t *testing.T) {
	docs := split(planted(3, 5, 90, 5), 3)
	cfg := DefaultConfig(3)
	cfg.Passes = 2
	a, err := Fit(cfg, 15, docs, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(cfg, 15, docs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Lambda, b.Lambda) {
		t.Fatal("two fits of the same corpus differ")
	}
	cfg.Seed = 1
	c, err := Fit(cfg, 15, docs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.Lambda, c.Lambda) {
		t.Fatal("another seed gave the same topics")
	}
}

func TestDriverSchedule(t *testing.T) {
	for _, tc := range []struct {
		shards, batch, passes int
		want                  [][2]int
	}{
		{1, 1, 2, [][2]int{{0, 1}, {0, 1}}},
		{5, 2, 1, [][2]int{{0, 2}, {2, 4}, {4, 5}}},
		{4, 8, 3, [][2]int{{0, 4}, {0, 4}, {0, 4}}},
	} {
		cfg := DefaultConfig(2)
		cfg.Passes = tc.passes
		d, err := NewDriver(cfg, 3, 10, tc.shards, tc.batch)
		if err != nil {
			t.Fatal(err)
		}
		var got [][2]int
		for {
			from, to, ok := d.Next()
			if !ok {
				break
			}
			got = append(got, [2]int{from, to})
			if err := d.Update(NewStats(2, 3), d.Model().ExpElogBeta()); err != nil {
				t.Fatal(err)
			}
		}
		if sch := Schedule(tc.shards, tc.batch, tc.passes); !slices.Equal(sch, tc.want) {
			t.Errorf("%d shards, batches of %d, %d passes: Schedule %v, want %v", tc.shards, tc.batch, tc.passes, sch, tc.want)
		}
		if !slices.Equal(got, tc.want) || d.Total() != len(tc.want) || d.Updates() != len(tc.want) {
			t.Errorf("%d shards, batches of %d, %d passes: %v (total %d), want %v", tc.shards, tc.batch, tc.passes, got, d.Total(), tc.want)
		}
	}
}

// TestMergeIsGrouping: statistics merged shard by shard equal those of
// one E-step over every document, and an empty batch leaves λ alone.
func TestMergeIsGrouping(t *testing.T) {
	docs := planted(3, 4, 30, 9)
	cfg := DefaultConfig(3)
	cfg.Defaults()
	m := NewModel(3, 12, 1)
	eb := m.ExpElogBeta()
	all := NewStats(3, 12)
	for _, d := range docs {
		EStep(cfg, eb, 3, 12, d, all)
	}
	merged := NewStats(3, 12)
	for _, sh := range split(docs, 4) {
		s := NewStats(3, 12)
		for _, d := range sh {
			EStep(cfg, eb, 3, 12, d, s)
		}
		if err := merged.Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	if merged.Docs != all.Docs || merged.Docs != 30 {
		t.Fatalf("docs %d and %d, want 30", merged.Docs, all.Docs)
	}
	for i := range all.S {
		if math.Abs(all.S[i]-merged.S[i]) > 1e-9 {
			t.Fatalf("stat %d: %g merged, %g at once", i, merged.S[i], all.S[i])
		}
	}
	if err := merged.Merge(NewStats(2, 12)); err == nil {
		t.Error("merging 2x12 statistics into 3x12 did not fail")
	}
	d, err := Resume(cfg, m, 30, 1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(m.Lambda)
	if err := d.Update(NewStats(3, 12), eb); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, d.Model().Lambda) || d.Updates() != 1 {
		t.Error("an empty batch changed the topics or was not counted")
	}
}

func TestEStepEmptyDoc(t *testing.T) {
	cfg := DefaultConfig(4)
	cfg.Defaults()
	m := NewModel(4, 5, 0)
	s := NewStats(4, 5)
	g := EStep(cfg, m.ExpElogBeta(), 4, 5, Doc{}, s)
	if !slices.Equal(g, []float64{0.25, 0.25, 0.25, 0.25}) || s.Docs != 1 || slices.Max(s.S) != 0 {
		t.Errorf("empty doc: gamma %v, %d docs counted, max stat %g; want alpha, one doc, no counts", g, s.Docs, slices.Max(s.S))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(5), true},
		{"one topic", DefaultConfig(1), false},
		{"kappa too small", Config{K: 3, Kappa: 0.5}, false},
		{"negative tau0", Config{K: 3, Tau0: -1}, false},
		{"negative alpha", Config{K: 3, Alpha: -1}, false},
	} {
		c := tc.cfg
		c.Defaults()
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
