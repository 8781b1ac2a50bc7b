package uplift

import (
	"errors"
	"fmt"

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

// DefaultBoost is the boosting of BaseGBDT and BaseBlend: shrinkage
// 0.05, trees of at most 7 leaves of at least 200 rows, an L2 penalty of
// 10, and three models averaged, each stopped early on its own third of
// the training rows (30 rounds without a better loss). Effects are small
// differences of noisy outcomes: small, slow, regularised trees learn
// them, and the average of three models stopped on different rows is
// less noisy than one (docs/EVALUATION.md, "Base learners").
var DefaultBoost = boost.Params{LearningRate: 0.05, MaxLeaves: 7, MinLeaf: 200, L2: 10, Folds: 3, Patience: 30}

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

// Blend is the BaseLearner whose every model is the mean of its
// learners' models fit on the same rows: a forest and a booster make
// errors of different kinds (averaging against boosting), so their mean
// is closer to the truth than either. Its models encode with the model
// when each of its learners' does (Model.MarshalJSON, "blend").
type Blend []BaseLearner

// Fit implements BaseLearner.
func (b Blend) Fit(m *forest.Matrix, target []float64, rows []int, p forest.Params) (Regressor, error) {
	if len(b) == 0 {
		return nil, errors.New("uplift: a blend of no base learners")
	}
	out := make(blendModel, len(b))
	for k, base := range b {
		r, err := base.Fit(m, target, rows, p)
		if err != nil {
			return nil, fmt.Errorf("uplift: blend learner %d: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

// blendModel is a Blend's fitted model: the mean of its models.
type blendModel []Regressor

// PredictBatch implements Regressor: the models' predictions are summed
// in order, then divided, so the result does not depend on scheduling.
func (b blendModel) PredictBatch(xs [][]float64, out []float64) {
	clear(out[:len(xs)])
	tmp := make([]float64, len(xs))
	for _, r := range b {
		r.PredictBatch(xs, tmp)
		for j, v := range tmp {
			out[j] += v
		}
	}
	for j := range xs {
		out[j] /= float64(len(b))
	}
}
