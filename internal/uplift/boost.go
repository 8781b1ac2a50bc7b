package uplift

import (
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/forest"
)

// Boosters is the BaseLearner of histogram gradient-boosted regression
// trees (boost.Fit, squared error, early stopping on a validation fold of
// the training rows). Params sets the boosting; its Loss and Seed are set
// per model (the seed from forest.Params), and a zero MinLeaf takes the
// analysis's leaf size (forest.Params.MinLeaf). Its models encode with
// the model (Model.MarshalJSON, kind "gbdt").
type Boosters struct {
	Params boost.Params
}

// DefaultBoost is the boosting of BaseBoost: shrinkage 0.05, at most 15
// leaves of at least the analysis's leaf size, an L2 penalty, and early
// stopping on 20% of the training rows. Effects are small differences
// of noisy outcomes, so trees are kept smaller and slower than for a
// propensity model.
var DefaultBoost = boost.Params{LearningRate: 0.05, MaxLeaves: 15, L2: 10, ValidShare: 0.2, Patience: 30}

// Fit implements BaseLearner: the rows outside rows weigh 0.
func (b Boosters) Fit(m *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error) {
	w := make([]float64, m.Rows())
	for _, i := range rows {
		w[i] = 1
		if p.Weights != nil {
			w[i] = p.Weights[i]
		}
	}
	bp := b.Params
	bp.Loss, bp.Seed = boost.Squared, p.Seed
	if bp.MinLeaf == 0 {
		bp.MinLeaf = p.MinLeaf
	}
	return boost.Fit(m, target, w, bp)
}
