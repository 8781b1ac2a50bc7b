package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/forest"
)

// ControlArm is the arm of users held out in campaign history.
const ControlArm = "control"

// MinArmRows is the fewest joined history rows an arm (and the control
// group) needs before its offer gets an uplift model.
const MinArmRows = 50

// HistoryRow is one campaign-history row joined with the user's features.
type HistoryRow struct {
	X         []float64
	Arm       string
	Responded bool
	Revenue   float64
}

// armModel is one arm's part of the X-learner. For the control arm,
// Response predicts the probability of responding without an offer. For an
// offer arm, Treated predicts the effect imputed on the arm's own rows
// (response minus the control's prediction), Control the effect imputed on
// the control's rows (the arm's outcome forest minus the response), and G
// weighs them: the arm's share of the two groups' rows, so that the effect
// leans on the model fitted from the larger group's imputations.
type armModel struct {
	Response *forest.Forest
	Treated  *forest.Forest
	Control  *forest.Forest
	G        float64
}

// Models are per-offer X-learners (Künzel et al. 2019) trained on campaign
// history. The control arm's forest predicts the response without an
// offer; each offer's effect on the response is the blend of two effect
// forests. An offer's expected incremental revenue is the effect times the
// user's expected basket, its cost the response under the offer times the
// face value. Response rather than revenue is the target because revenue
// is response times basket, and the basket's spread only adds noise.
//
// Why not the T-learner (a response forest per arm, effect = difference):
// a user's base rate varies far more than offers' effects, so each arm's
// forest spends its splits on the base rate, and the difference of two such
// forests is mostly their noise. The X-learner's effect forests are fitted
// to effects directly (the base rate is subtracted by the other group's
// model). On the simulator's closed loop (8,000 users, week 6 trained on
// weeks 1-5) the X-learner's plan reached 0.89 of the oracle's profit, the
// T-learner's 0.79 (docs/ARCHITECTURE.md, "The closed loop").
type Models struct {
	arms map[string]armModel
}

// TrainConfig controls TrainUplift.
type TrainConfig struct {
	Trees   int    // per forest; 0 means 100
	MinLeaf int    // 0 means 50: leaves of 0/1 outcomes need many rows
	Seed    uint64 // forests derive their randomness from it
}

// TrainUplift fits the X-learner of every arm of rows named in offers that
// has at least MinArmRows rows, given enough control rows. It returns nil
// models (and no error) when there is no control group or no arm qualifies.
func TrainUplift(rows []HistoryRow, features []string, offers []string, cfg TrainConfig) (*Models, UpliftInfo, error) {
	if cfg.Trees == 0 {
		cfg.Trees = 100
	}
	if cfg.MinLeaf == 0 {
		cfg.MinLeaf = 50
	}
	info := UpliftInfo{Joined: int64(len(rows)), Arms: map[string]int64{}, Outcome: "response", Learner: "x"}
	byArm := map[string][]int{}
	for i, r := range rows {
		byArm[r.Arm] = append(byArm[r.Arm], i)
		info.Arms[r.Arm]++
	}
	if len(byArm[ControlArm]) < MinArmRows {
		return nil, info, nil
	}
	// Every forest has its own seed: 3 per offer (outcome, treated effect,
	// control effect) after the control's.
	xsOf := func(idx []int) [][]float64 {
		x := make([][]float64, len(idx))
		for j, i := range idx {
			x[j] = rows[i].X
		}
		return x
	}
	fit := func(idx []int, y []float64, seed uint64, what string) (*forest.Forest, error) {
		x := xsOf(idx)
		p := forest.Params{
			Trees: cfg.Trees, Criterion: forest.Variance, MinLeaf: cfg.MinLeaf, MaxDepth: 8,
			// A third of the features per split, as internal/uplift: effects
			// depend on few of them, and the square root misses them often.
			MaxFeatures: max(1, (len(features)+2)/3), Bootstrap: true, Seed: cfg.Seed + seed,
		}
		f, err := forest.Train(x, y, features, p)
		if err != nil {
			return nil, fmt.Errorf("uplift %s: %w", what, err)
		}
		return f, nil
	}
	response := func(idx []int) []float64 {
		y := make([]float64, len(idx))
		for j, i := range idx {
			if rows[i].Responded {
				y[j] = 1
			}
		}
		return y
	}
	ctlIdx := byArm[ControlArm]
	ctlY := response(ctlIdx)
	base, err := fit(ctlIdx, ctlY, 1, "control response")
	if err != nil {
		return nil, info, err
	}
	m := &Models{arms: map[string]armModel{ControlArm: {Response: base}}}
	for k, o := range offers {
		idx := byArm[o]
		if len(idx) < MinArmRows {
			continue
		}
		seed := uint64(3*k + 2)
		y := response(idx)
		outcome, err := fit(idx, y, seed, o+" response")
		if err != nil {
			return nil, info, err
		}
		// Imputed effects: on the arm's rows, the response minus what the
		// control's model expects; on the control's rows, what the arm's
		// model expects minus the response.
		d1 := make([]float64, len(idx))
		base.PredictBatch(xsOf(idx), d1)
		for j := range d1 {
			d1[j] = y[j] - d1[j]
		}
		d0 := make([]float64, len(ctlIdx))
		outcome.PredictBatch(xsOf(ctlIdx), d0)
		for j := range d0 {
			d0[j] -= ctlY[j]
		}
		treated, err := fit(idx, d1, seed+1, o+" effect on treated")
		if err != nil {
			return nil, info, err
		}
		control, err := fit(ctlIdx, d0, seed+2, o+" effect on control")
		if err != nil {
			return nil, info, err
		}
		g := float64(len(idx)) / float64(len(idx)+len(ctlIdx))
		m.arms[o] = armModel{Treated: treated, Control: control, G: g}
		info.Offers = append(info.Offers, o)
	}
	if len(info.Offers) == 0 {
		return nil, info, nil
	}
	return m, info, nil
}

// Effect is the X-learner's effect of offer arm am on the response of x:
// the effect model of the larger group weighs more (G is the arm's share),
// since the other group's imputations come from the better-fitted outcome
// model.
func (am armModel) effect(x []float64) float64 {
	return am.G*am.Control.Predict(x) + (1-am.G)*am.Treated.Predict(x)
}

// Estimate implements Estimator.
func (m *Models) Estimate(u User, o campaign.Offer, x []float64) (Estimate, bool) {
	if m == nil {
		return Estimate{}, false
	}
	am, ok := m.arms[o.ID]
	if !ok {
		return Estimate{}, false
	}
	return upliftEstimate(u, o, m.arms[ControlArm].Response.Predict(x), am.effect(x)), true
}

// upliftEstimate is the estimate of o for u from the predicted response
// without an offer (base) and the offer's effect on it.
func upliftEstimate(u User, o campaign.Offer, base, effect float64) Estimate {
	face := Face(o, u.Basket)
	base = clamp01(base)
	treated := clamp01(base + effect)
	inc := (treated - base) * u.Basket
	return Estimate{Revenue: inc, Cost: treated * face, Face: face, Source: SourceUplift}
}

// RowEstimates are the estimates of Models for a batch of rows, every
// forest's predictions computed once with forest.PredictBatch.
type RowEstimates struct {
	base   []float64            // the control's response, by row
	effect map[string][]float64 // by offer, the effect on the response, by row
}

// PredictRows predicts the control's response and every offer's effect
// for the rows xs (feature rows as Estimate takes them).
// RowEstimates.Row(i) then estimates as m does for xs[i], bit for bit.
func (m *Models) PredictRows(xs [][]float64) *RowEstimates {
	r := &RowEstimates{base: make([]float64, len(xs)), effect: make(map[string][]float64, len(m.arms))}
	m.arms[ControlArm].Response.PredictBatch(xs, r.base)
	c, t := make([]float64, len(xs)), make([]float64, len(xs))
	for arm, am := range m.arms {
		if arm == ControlArm {
			continue
		}
		am.Control.PredictBatch(xs, c)
		am.Treated.PredictBatch(xs, t)
		e := make([]float64, len(xs))
		for i := range e {
			e[i] = am.G*c[i] + (1-am.G)*t[i] // as armModel.effect
		}
		r.effect[arm] = e
	}
	return r
}

// Row returns the Estimator of row i of the batch; its features argument
// is ignored.
func (r *RowEstimates) Row(i int) Estimator { return rowEstimator{r, i} }

type rowEstimator struct {
	r *RowEstimates
	i int
}

// Estimate implements Estimator with Models.Estimate's arithmetic.
func (e rowEstimator) Estimate(u User, o campaign.Offer, _ []float64) (Estimate, bool) {
	eff, ok := e.r.effect[o.ID]
	if !ok {
		return Estimate{}, false
	}
	return upliftEstimate(u, o, e.r.base[e.i], eff[e.i]), true
}

// Offers lists the offers with a model, sorted.
func (m *Models) Offers() []string {
	var out []string
	for a := range m.arms {
		if a != ControlArm {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

type savedArm struct {
	Response json.RawMessage `json:"response,omitempty"`
	Treated  json.RawMessage `json:"treated,omitempty"`
	Control  json.RawMessage `json:"control,omitempty"`
	G        float64         `json:"g,omitempty"`
}

func saveForest(f *forest.Forest) (json.RawMessage, error) {
	if f == nil {
		return nil, nil
	}
	var b bytes.Buffer
	if err := f.Save(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func loadForest(data json.RawMessage, arm, part string) (*forest.Forest, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("uplift models %s: no %s forest", arm, part)
	}
	f, err := forest.Load(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("uplift models %s %s: %w", arm, part, err)
	}
	return f, nil
}

// MarshalJSON stores the forests (forest.Save's encoding) by arm.
func (m *Models) MarshalJSON() ([]byte, error) {
	out := map[string]savedArm{}
	for arm, am := range m.arms {
		var s savedArm
		var err error
		if s.Response, err = saveForest(am.Response); err != nil {
			return nil, err
		}
		if s.Treated, err = saveForest(am.Treated); err != nil {
			return nil, err
		}
		if s.Control, err = saveForest(am.Control); err != nil {
			return nil, err
		}
		s.G = am.G
		out[arm] = s
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (m *Models) UnmarshalJSON(data []byte) error {
	var in map[string]savedArm
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("uplift models: %w", err)
	}
	m.arms = map[string]armModel{}
	for arm, s := range in {
		var am armModel
		var err error
		if arm == ControlArm {
			am.Response, err = loadForest(s.Response, arm, "response")
		} else {
			if am.Treated, err = loadForest(s.Treated, arm, "treated effect"); err == nil {
				am.Control, err = loadForest(s.Control, arm, "control effect")
			}
			am.G = s.G
		}
		if err != nil {
			return err
		}
		m.arms[arm] = am
	}
	if _, ok := m.arms[ControlArm]; !ok {
		return fmt.Errorf("uplift models: no control arm")
	}
	return nil
}
