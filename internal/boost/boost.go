// Package boost grows histogram gradient-boosted trees on the bins of
// package forest: binary classification (log loss) and regression (squared
// error).
//
// Fit takes a forest.Matrix (features reduced to at most 255 quantile bins,
// possibly global bins merged from shards' sketches), labels, optional row
// weights and Params, and returns a Model. Each round fits one tree to the
// loss's first and second derivatives (gradients and hessians) at the
// current scores, Newton style: a leaf's value is -G/(H+L2) times the
// learning rate, a split's gain is the decrease of -G²/(H+L2)/2 it brings.
// Trees grow leaf-wise (the leaf whose best split gains most is split
// next, up to MaxLeaves leaves and MaxDepth levels) from per-leaf
// histograms of (G, H, rows) over the bins; a child's histogram is its
// parent's minus its sibling's, so only the smaller child is counted.
// Missing values (forest.MissingBin) go to whichever side gains more. A
// share of the rows (ValidShare, drawn by Seed) is kept out as a
// validation fold: training stops when its loss has not improved for
// Patience rounds, and the model keeps the trees up to its best round.
//
// Trees store real-valued thresholds (forest.Tree, forest.Node), so a Model
// predicts raw feature rows and needs no bins. Training is deterministic:
// histograms are built one feature per goroutine over rows in a fixed order
// and reduced in feature order, so the model depends only on the inputs
// and Params, never on GOMAXPROCS. A Model is plain data, saved as JSON
// with a "kind" field ("gbdt") that tells it from a forest (Save).
package boost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/promoflow/promoflow/internal/forest"
)

// Kind is the value of a saved Model's "kind" field.
const Kind = "gbdt"

// Version is the Model encoding written by Save.
const Version = 1

// Loss is the loss a model minimises.
type Loss string

// Losses.
const (
	// LogLoss is binary cross-entropy on labels in {0, 1}; scores are
	// log-odds, Predict returns probabilities.
	LogLoss Loss = "logloss"
	// Squared is squared error on any finite labels; Predict returns the
	// predicted label.
	Squared Loss = "squared"
)

// Model is a boosted ensemble: Predict(row) is Base plus the sum of the
// trees' leaf values, through the logistic function for LogLoss.
type Model struct {
	Kind     string        `json:"kind"` // always Kind
	Version  int           `json:"version"`
	Loss     Loss          `json:"loss"`
	Features []string      `json:"features"`
	Base     float64       `json:"base"` // initial score: log-odds or mean label
	Trees    []forest.Tree `json:"trees"`
	// Rounds is the rounds grown before early stopping; len(Trees) the
	// best round's count, which the model keeps (both summed over the
	// models of Params.Folds).
	Rounds int `json:"rounds"`
	// Train and Valid are the mean losses on the training rows and the
	// validation fold at the kept round (Valid is 0 without a fold;
	// averaged over the models of Params.Folds).
	Train float64 `json:"train_loss"`
	Valid float64 `json:"valid_loss,omitempty"`
}

// score returns Base plus the sum of the trees' values for row.
func (m *Model) score(row []float64) float64 {
	s := m.Base
	for i := range m.Trees {
		s += m.Trees[i].Predict(row)
	}
	return s
}

// Predict returns P(y=1) (LogLoss) or the predicted label (Squared) for a
// raw feature row, NaN marking a missing value. It panics if len(row)
// differs from the number of features.
func (m *Model) Predict(row []float64) float64 {
	if len(row) != len(m.Features) {
		panic(fmt.Sprintf("boost: Predict with %d values, model has %d features", len(row), len(m.Features)))
	}
	return m.link(m.score(row))
}

// link turns a score into a prediction.
func (m *Model) link(s float64) float64 {
	if m.Loss == LogLoss {
		return sigmoid(s)
	}
	return s
}

// PredictBatch writes Predict(rows[i]) to out[i] for every row, on up to
// GOMAXPROCS goroutines; the results equal Predict's. It panics if out is
// shorter than rows.
func (m *Model) PredictBatch(rows [][]float64, out []float64) {
	if len(out) < len(rows) {
		panic(fmt.Sprintf("boost: PredictBatch with %d outputs for %d rows", len(out), len(rows)))
	}
	const block = 1024
	workers := min(runtime.GOMAXPROCS(0), (len(rows)+block-1)/block)
	if workers <= 1 {
		for i, r := range rows {
			out[i] = m.Predict(r)
		}
		return
	}
	var wg sync.WaitGroup
	var next sync.Mutex
	lo := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				a := lo
				lo += block
				next.Unlock()
				if a >= len(rows) {
					return
				}
				for i := a; i < min(a+block, len(rows)); i++ {
					out[i] = m.Predict(rows[i])
				}
			}
		}()
	}
	wg.Wait()
}

// Importances returns, per feature, the total gain of the splits on it,
// normalised to sum to 1 (all zeros when no tree splits).
func (m *Model) Importances() []float64 {
	imp := make([]float64, len(m.Features))
	var sum float64
	for _, t := range m.Trees {
		for _, nd := range t.Nodes {
			if nd.Feature >= 0 && nd.Feature < len(imp) {
				imp[nd.Feature] += nd.Gain
				sum += nd.Gain
			}
		}
	}
	if sum > 0 {
		for i := range imp {
			imp[i] /= sum
		}
	}
	return imp
}

// Save writes m to w as one JSON object:
//
//	{
//	  "kind": "gbdt", "version": 1,
//	  "loss": "logloss" | "squared",
//	  "features": ["recency_days", ...],      // column order of Predict's rows
//	  "base": B,                              // initial score
//	  "trees": [{"nodes": [NODE, ...]}, ...], // forest.Save's tree encoding
//	  "rounds": R, "train_loss": T, "valid_loss": V
//	}
//
// A NODE is forest's ({"f", "t", "l", "r", "ml", "v", "g", "n", "w"}); a
// leaf's "v" is the amount it adds to the score, "w" its rows' hessian
// sum. It returns an error, writing nothing, if m is not well formed.
func (m *Model) Save(w io.Writer) error {
	v := *m
	v.Kind, v.Version = Kind, Version
	if err := v.validate(); err != nil {
		return fmt.Errorf("boost: Save: %w", err)
	}
	return json.NewEncoder(w).Encode(&v)
}

// Load reads a model written by Save, rejecting other kinds and versions
// and models whose trees are malformed.
func Load(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("boost: Load: %w", err)
	}
	m := &Model{}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(m); err != nil {
		return nil, fmt.Errorf("boost: Load: %w", err)
	}
	if m.Kind != Kind {
		return nil, fmt.Errorf("boost: Load: kind %q, want %q", m.Kind, Kind)
	}
	if m.Version != Version {
		return nil, fmt.Errorf("boost: Load: unsupported version %d (want %d)", m.Version, Version)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("boost: Load: %w", err)
	}
	return m, nil
}

// IsModel reports whether data is a model written by Save, which starts
// with its "kind" field, without decoding the trees: how a reader tells a
// booster from a forest cheaply.
func IsModel(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(`{"kind":"`+Kind+`"`))
}

// validate checks m's shape: a known loss, features, a finite base, and
// trees whose children follow their parents, each node but the root with
// one parent, features in range and finite values.
func (m *Model) validate() error {
	if m.Loss != LogLoss && m.Loss != Squared {
		return fmt.Errorf("unknown loss %q", m.Loss)
	}
	d := len(m.Features)
	if d == 0 {
		return errors.New("no features")
	}
	if math.IsNaN(m.Base) || math.IsInf(m.Base, 0) {
		return fmt.Errorf("base %v", m.Base)
	}
	for i, t := range m.Trees {
		// Boosted trees are regression trees of leaf values (their
		// rows, hessian sums and gains are never negative).
		if err := t.Validate(d, forest.Regression); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return nil
}

func sigmoid(s float64) float64 { return 1 / (1 + math.Exp(-s)) }
