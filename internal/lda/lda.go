// Package lda finds topics in users' texts with latent Dirichlet
// allocation fitted by online variational Bayes (Hoffman, Blei & Bach,
// "Online Learning for Latent Dirichlet Allocation", NIPS 2010), the method
// of scikit-learn's LatentDirichletAllocation(learning_method="online").
//
// The fit is split the way a sharded map-reduce needs it, like
// internal/kmeans. The E-step (EStep) runs per document against the
// topics' expected log word weights (Model.ExpElogBeta) and adds the
// document's expected word counts per topic into sufficient statistics
// (Stats), which merge by summation. The M-step (Driver.Update) blends the
// statistics of a batch of documents into the topics:
//
//	λ ← (1-ρ) λ + ρ (η + D/|batch| · sstats),   ρ = (τ0 + t)^-κ (t counted from 1)
//
// where D is the number of documents and t the number of updates so far.
// The Driver says which batch of shards to evaluate next, so the same code
// runs in process (Fit, the tests) and in the workflow (activities per
// block of shards, the workflow reducing). The package knows nothing of
// storage or Temporal.
package lda

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mathext"
)

// Config sets the model and the schedule of the online fit. Zero fields
// take DefaultConfig's values (Defaults).
type Config struct {
	K     int     // topics
	Alpha float64 // document-topic prior; 0 means 1/K
	Eta   float64 // topic-word prior; 0 means 1/K
	// Tau0 and Kappa set the learning rate ρ_t = (Tau0 + t)^-Kappa:
	// Tau0 ≥ 0 slows the first updates, Kappa in (0.5, 1] makes the rate
	// decay so that the fit converges.
	Tau0  float64
	Kappa float64
	// Passes over the documents (epochs).
	Passes int
	// MaxDocIter and Tol bound the per-document E-step: it stops when the
	// mean absolute change of the document's topic weights is below Tol.
	MaxDocIter int
	Tol        float64
	Seed       uint64 // seeds the initial topics
}

// DefaultConfig returns the settings promoflow uses for k topics: the
// priors and schedule of scikit-learn's defaults (learning_offset 10,
// learning_decay 0.7, max_doc_update_iter 100, mean_change_tol 1e-3) and
// a few passes.
func DefaultConfig(k int) Config {
	return Config{K: k, Tau0: 10, Kappa: 0.7, Passes: 5, MaxDocIter: 100, Tol: 1e-3}
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	d := DefaultConfig(c.K)
	if c.Alpha == 0 {
		c.Alpha = 1 / float64(max(c.K, 1))
	}
	if c.Eta == 0 {
		c.Eta = 1 / float64(max(c.K, 1))
	}
	if c.Tau0 == 0 {
		c.Tau0 = d.Tau0
	}
	if c.Kappa == 0 {
		c.Kappa = d.Kappa
	}
	if c.Passes == 0 {
		c.Passes = d.Passes
	}
	if c.MaxDocIter == 0 {
		c.MaxDocIter = d.MaxDocIter
	}
	if c.Tol == 0 {
		c.Tol = d.Tol
	}
}

// Validate reports what is wrong with c, after Defaults.
func (c Config) Validate() error {
	var errs []error
	if c.K < 2 {
		errs = append(errs, fmt.Errorf("lda: k = %d, want at least 2", c.K))
	}
	if c.Alpha <= 0 || c.Eta <= 0 {
		errs = append(errs, fmt.Errorf("lda: priors alpha %g, eta %g, want positive", c.Alpha, c.Eta))
	}
	if c.Tau0 < 0 || c.Kappa <= 0.5 || c.Kappa > 1 {
		errs = append(errs, fmt.Errorf("lda: tau0 %g, kappa %g, want tau0 >= 0 and 0.5 < kappa <= 1", c.Tau0, c.Kappa))
	}
	if c.Passes < 1 || c.MaxDocIter < 1 || c.Tol <= 0 {
		errs = append(errs, fmt.Errorf("lda: passes %d, doc iterations %d, tol %g, want positive", c.Passes, c.MaxDocIter, c.Tol))
	}
	return errors.Join(errs...)
}

// Doc is one document: ascending vocabulary indices and their counts
// (weighted counts are allowed).
type Doc struct {
	Index []int32
	Count []float64
}

// Model is the topics: λ, K rows of V variational Dirichlet parameters
// over the vocabulary, row-major.
type Model struct {
	K, V   int
	Lambda []float64
}

// NewModel draws the initial topics as scikit-learn does: λ ~ Gamma(100,
// 1/100) per entry, from a generator seeded by seed (same seed, same
// topics).
func NewModel(k, v int, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 0x1da))
	m := &Model{K: k, V: v, Lambda: make([]float64, k*v)}
	for i := range m.Lambda {
		m.Lambda[i] = gamma100(r)
	}
	return m
}

// gamma100 draws from Gamma(shape 100, scale 1/100) by Marsaglia and
// Tsang's method (shape ≥ 1).
func gamma100(r *rand.Rand) float64 {
	const shape = 100.0
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v / shape
		}
	}
}

// ExpElogBeta returns exp(E[log β]) for every topic and word, row-major:
// exp(ψ(λ_kw) - ψ(Σ_w λ_kw)), what the E-step weighs words by.
func (m *Model) ExpElogBeta() []float64 {
	out := make([]float64, len(m.Lambda))
	for k := range m.K {
		row := m.Lambda[k*m.V : (k+1)*m.V]
		var sum float64
		for _, l := range row {
			sum += l
		}
		psiSum := mathext.Digamma(sum)
		for w, l := range row {
			out[k*m.V+w] = math.Exp(mathext.Digamma(l) - psiSum)
		}
	}
	return out
}

// Topic returns topic k's n heaviest words (vocabulary indices) with
// their share of the topic, heaviest first, ties by index.
func (m *Model) Topic(k, n int) []Word {
	row := m.Lambda[k*m.V : (k+1)*m.V]
	var sum float64
	for _, l := range row {
		sum += l
	}
	ws := make([]Word, m.V)
	for w, l := range row {
		ws[w] = Word{Index: int32(w), Weight: l / sum}
	}
	slices.SortFunc(ws, func(a, b Word) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	return ws[:min(n, len(ws))]
}

// Word is a vocabulary index with its weight in a topic.
type Word struct {
	Index  int32
	Weight float64
}

// Stats are the sufficient statistics of a batch of documents: the
// expected word counts per topic (K×V, row-major, before the E[log β]
// factor the M-step applies) and the documents counted.
type Stats struct {
	K, V int
	Docs int64
	S    []float64
}

// NewStats returns empty statistics for k topics over v words.
func NewStats(k, v int) *Stats {
	return &Stats{K: k, V: v, S: make([]float64, k*v)}
}

// Merge adds o into s. Sums in a fixed order (the caller's shard order)
// give the same topics whatever the grouping, up to floating-point sums.
func (s *Stats) Merge(o *Stats) error {
	if o.K != s.K || o.V != s.V {
		return fmt.Errorf("lda: merge %dx%d statistics into %dx%d", o.K, o.V, s.K, s.V)
	}
	s.Docs += o.Docs
	for i, v := range o.S {
		s.S[i] += v
	}
	return nil
}

// EStep fits one document's variational parameters against expElogBeta
// (Model.ExpElogBeta) and returns its topic weights γ (K Dirichlet
// parameters; θ is γ normalised). When s is not nil it adds the
// document's statistics to s and counts the document. γ starts at 1 for
// every topic (deterministic; scikit-learn starts from a random draw and
// converges to the same point within Tol on the documents compared in the
// tests). An empty document returns γ = α and counts as a document.
func EStep(cfg Config, expElogBeta []float64, k, v int, doc Doc, s *Stats) []float64 {
	gamma := make([]float64, k)
	n := len(doc.Index)
	if n == 0 {
		for i := range gamma {
			gamma[i] = cfg.Alpha
		}
		if s != nil {
			s.Docs++ // a document of the corpus, with nothing to add
		}
		return gamma
	}
	// expElogBeta restricted to the document's words: k × n.
	eb := make([]float64, k*n)
	for t := range k {
		for j, w := range doc.Index {
			eb[t*n+j] = expElogBeta[t*v+int(w)]
		}
	}
	for i := range gamma {
		gamma[i] = 1
	}
	expElogTheta := make([]float64, k)
	phiNorm := make([]float64, n)
	last := make([]float64, k)
	expElog := func() {
		var sum float64
		for _, g := range gamma {
			sum += g
		}
		psiSum := mathext.Digamma(sum)
		for t, g := range gamma {
			expElogTheta[t] = math.Exp(mathext.Digamma(g) - psiSum)
		}
	}
	norm := func() {
		for j := range n {
			var p float64
			for t := range k {
				p += expElogTheta[t] * eb[t*n+j]
			}
			phiNorm[j] = p + eps
		}
	}
	expElog()
	norm()
	for range cfg.MaxDocIter {
		copy(last, gamma)
		for t := range k {
			var dot float64
			for j := range n {
				dot += doc.Count[j] / phiNorm[j] * eb[t*n+j]
			}
			gamma[t] = cfg.Alpha + expElogTheta[t]*dot
		}
		expElog()
		norm()
		var change float64
		for t := range k {
			change += math.Abs(gamma[t] - last[t])
		}
		if change/float64(k) < cfg.Tol {
			break
		}
	}
	if s != nil {
		// sstats_kw += expElogTheta_k · count_w / phiNorm_w; the M-step
		// multiplies by expElogBeta_kw.
		for t := range k {
			row := s.S[t*v:]
			for j, w := range doc.Index {
				row[w] += expElogTheta[t] * doc.Count[j] / phiNorm[j]
			}
		}
		s.Docs++
	}
	return gamma
}

// Theta normalises γ into topic proportions.
func Theta(gamma []float64) []float64 {
	var sum float64
	for _, g := range gamma {
		sum += g
	}
	out := make([]float64, len(gamma))
	for i, g := range gamma {
		out[i] = g / sum
	}
	return out
}

// Driver runs the online fit: Next says which batch to evaluate, Update
// takes the batch's merged statistics back. Batches are contiguous ranges
// of shards, Passes times over all of them.
type Driver struct {
	cfg     Config
	model   *Model
	batches [][2]int // [from, to) shards
	docs    int64    // D
	t       int      // updates done
}

// NewDriver starts a fit of cfg (after Defaults) over v words and docs
// documents, spread over shards shards cut into batches of at most
// batchShards shards.
func NewDriver(cfg Config, v int, docs int64, shards, batchShards int) (*Driver, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v < 1 || shards < 1 || batchShards < 1 {
		return nil, fmt.Errorf("lda: %d words, %d shards, batches of %d, want positive", v, shards, batchShards)
	}
	d := &Driver{cfg: cfg, model: NewModel(cfg.K, v, cfg.Seed), docs: docs}
	for from := 0; from < shards; from += batchShards {
		d.batches = append(d.batches, [2]int{from, min(from+batchShards, shards)})
	}
	return d, nil
}

// Schedule lists the shards [from, to) of every update of a fit of
// passes passes over shards shards in batches of batchShards: what a
// Driver's Next returns in turn, for a workflow that keeps λ in storage
// and resumes a Driver per update.
func Schedule(shards, batchShards, passes int) [][2]int {
	var out [][2]int
	for range passes {
		for from := 0; from < shards; from += max(batchShards, 1) {
			out = append(out, [2]int{from, min(from+batchShards, shards)})
		}
	}
	return out
}

// Resume continues a fit from a model after done updates (a workflow that
// continued as new, or one reading λ from the bucket).
func Resume(cfg Config, m *Model, docs int64, shards, batchShards, done int) (*Driver, error) {
	d, err := NewDriver(cfg, m.V, docs, shards, batchShards)
	if err != nil {
		return nil, err
	}
	d.model, d.t = m, done
	return d, nil
}

// Config is the driver's configuration, defaults filled in.
func (d *Driver) Config() Config { return d.cfg }

// Model is the current topics.
func (d *Driver) Model() *Model { return d.model }

// Updates is the number of M-steps done.
func (d *Driver) Updates() int { return d.t }

// Total is the number of M-steps of the whole fit.
func (d *Driver) Total() int { return d.cfg.Passes * len(d.batches) }

// Next returns the shards [from, to) whose documents the next E-step
// covers, and false when the fit is done.
func (d *Driver) Next() (from, to int, ok bool) {
	if d.t >= d.Total() {
		return 0, 0, false
	}
	b := d.batches[d.t%len(d.batches)]
	return b[0], b[1], true
}

// Rho is the learning rate of update t (0-based): (Tau0 + t + 1)^-Kappa,
// counting updates from 1 as scikit-learn does.
func (c Config) Rho(t int) float64 { return math.Pow(c.Tau0+float64(t+1), -c.Kappa) }

// Update is the M-step: it blends the batch's statistics s (merged over
// the batch's shards, against the model's current ExpElogBeta) into λ. A
// batch without documents still counts as an update (the schedule does not
// depend on the data), and leaves λ as it is.
func (d *Driver) Update(s *Stats, expElogBeta []float64) error {
	m := d.model
	if s.K != m.K || s.V != m.V || len(expElogBeta) != len(m.Lambda) {
		return fmt.Errorf("lda: %dx%d statistics for a %dx%d model", s.K, s.V, m.K, m.V)
	}
	defer func() { d.t++ }()
	if s.Docs == 0 {
		return nil
	}
	rho := d.cfg.Rho(d.t)
	scale := float64(d.docs) / float64(s.Docs)
	for i := range m.Lambda {
		m.Lambda[i] = (1-rho)*m.Lambda[i] + rho*(d.cfg.Eta+scale*s.S[i]*expElogBeta[i])
	}
	return nil
}

// eps keeps the E-step's normaliser positive (numpy's float64 epsilon, as
// scikit-learn).
const eps = 2.220446049250313e-16

// Fit runs the whole online fit in process over shards of documents (the
// tests' and small runs' form of what the workflow distributes) and
// returns the topics.
func Fit(cfg Config, v int, shards [][]Doc, batchShards int) (*Model, error) {
	var docs int64
	for _, sh := range shards {
		docs += int64(len(sh))
	}
	d, err := NewDriver(cfg, v, docs, len(shards), batchShards)
	if err != nil {
		return nil, err
	}
	c := d.Config()
	for {
		from, to, ok := d.Next()
		if !ok {
			return d.Model(), nil
		}
		eb := d.Model().ExpElogBeta()
		s := NewStats(c.K, v)
		for _, sh := range shards[from:to] {
			for _, doc := range sh {
				EStep(c, eb, c.K, v, doc, s)
			}
		}
		if err := d.Update(s, eb); err != nil {
			return nil, err
		}
	}
}
