package strategy

import (
	"github.com/promoflow/promoflow/internal/campaign"
)

// MinArmRows is the fewest joined history rows an arm (and the control
// group) needs before its offer gets an uplift model.
const MinArmRows = 50

// upliftEstimate is the estimate of o for u from the predicted response
// without an offer (base) and the offer's effect on it.
func upliftEstimate(u User, o campaign.Offer, base, effect float64) Estimate {
	face := o.Face(u.Basket)
	base = clamp01(base)
	treated := clamp01(base + effect)
	inc := (treated - base) * u.Basket
	return Estimate{Revenue: inc, Cost: treated * face, Face: face, Source: SourceUplift}
}

// RowEstimates are the uplift estimates of a batch of rows from a model's
// predictions (internal/uplift): the response without an offer and each
// offer's effect on it.
type RowEstimates struct {
	base   []float64            // the control's response, by row
	effect map[string][]float64 // by offer, the effect on the response, by row
}

// NewRowEstimates wraps a batch of predictions: base[i] is row i's
// response without an offer, effect[offer][i] the offer's effect on it.
// Offers without an entry have no uplift estimate.
func NewRowEstimates(base []float64, effect map[string][]float64) *RowEstimates {
	return &RowEstimates{base: base, effect: effect}
}

// Row returns the Estimator of row i of the batch; its features argument
// is ignored.
func (r *RowEstimates) Row(i int) Estimator { return rowEstimator{r, i} }

type rowEstimator struct {
	r *RowEstimates
	i int
}

// Estimate implements Estimator: the offer's effect on the response
// times the basket is the incremental revenue; the cost is the response
// under the offer times the face value.
func (e rowEstimator) Estimate(u User, o campaign.Offer, _ []float64) (Estimate, bool) {
	eff, ok := e.r.effect[o.ID]
	if !ok {
		return Estimate{}, false
	}
	return upliftEstimate(u, o, e.r.base[e.i], eff[e.i]), true
}
