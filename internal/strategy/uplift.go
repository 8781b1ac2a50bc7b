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

// armModel predicts an arm's outcome: the probability of responding in
// the campaign window.
type armModel struct {
	Response *forest.Forest
}

// Models are per-offer T-learners trained on campaign history: one
// response forest per offer arm and one for the control arm. An offer's
// expected incremental revenue is the difference of response predictions
// times the user's expected basket, its cost the predicted response under
// the offer times the face value. Response rather than revenue is the
// target because revenue is response times basket, and the basket's
// spread only adds noise to a difference of two noisy forests (the
// closed loop's history learning lost to the state with revenue forests).
type Models struct {
	arms map[string]armModel
}

// TrainConfig controls TrainUplift.
type TrainConfig struct {
	Trees   int    // per forest; 0 means 100
	MinLeaf int    // 0 means 50: leaves of 0/1 outcomes need many rows
	Seed    uint64 // forests derive their randomness from it
}

// TrainUplift fits the T-learner of every arm of rows named in offers that
// has at least MinArmRows rows, given enough control rows. It returns nil
// models (and no error) when there is no control group or no arm qualifies.
func TrainUplift(rows []HistoryRow, features []string, offers []string, cfg TrainConfig) (*Models, UpliftInfo, error) {
	if cfg.Trees == 0 {
		cfg.Trees = 100
	}
	if cfg.MinLeaf == 0 {
		cfg.MinLeaf = 50
	}
	info := UpliftInfo{Joined: int64(len(rows)), Arms: map[string]int64{}, Outcome: "response"}
	byArm := map[string][]int{}
	for i, r := range rows {
		byArm[r.Arm] = append(byArm[r.Arm], i)
		info.Arms[r.Arm]++
	}
	if len(byArm[ControlArm]) < MinArmRows {
		return nil, info, nil
	}
	fit := func(arm string, k uint64) (armModel, error) {
		idx := byArm[arm]
		x := make([][]float64, len(idx))
		resp := make([]float64, len(idx))
		for j, i := range idx {
			x[j] = rows[i].X
			if rows[i].Responded {
				resp[j] = 1
			}
		}
		p := forest.Params{Trees: cfg.Trees, Criterion: forest.Variance, MinLeaf: cfg.MinLeaf, MaxDepth: 8, Bootstrap: true, Seed: cfg.Seed + 2*k + 1}
		fp, err := forest.Train(x, resp, features, p)
		if err != nil {
			return armModel{}, fmt.Errorf("uplift %s response: %w", arm, err)
		}
		return armModel{Response: fp}, nil
	}
	m := &Models{arms: map[string]armModel{}}
	ctl, err := fit(ControlArm, 0)
	if err != nil {
		return nil, info, err
	}
	m.arms[ControlArm] = ctl
	for k, o := range offers {
		if len(byArm[o]) < MinArmRows {
			continue
		}
		am, err := fit(o, uint64(k+1))
		if err != nil {
			return nil, info, err
		}
		m.arms[o] = am
		info.Offers = append(info.Offers, o)
	}
	if len(info.Offers) == 0 {
		return nil, info, nil
	}
	return m, info, nil
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
	ctl := m.arms[ControlArm]
	face := Face(o, u.Basket)
	treated := clamp01(am.Response.Predict(x))
	inc := (treated - clamp01(ctl.Response.Predict(x))) * u.Basket
	return Estimate{Revenue: inc, Cost: treated * face, Face: face, Source: SourceUplift}, true
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
	Response json.RawMessage `json:"response"`
}

// MarshalJSON stores the forests (forest.Save's encoding) by arm.
func (m *Models) MarshalJSON() ([]byte, error) {
	out := map[string]savedArm{}
	for arm, am := range m.arms {
		var b bytes.Buffer
		if err := am.Response.Save(&b); err != nil {
			return nil, err
		}
		out[arm] = savedArm{Response: b.Bytes()}
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
		p, err := forest.Load(bytes.NewReader(s.Response))
		if err != nil {
			return fmt.Errorf("uplift models %s: %w", arm, err)
		}
		m.arms[arm] = armModel{Response: p}
	}
	if _, ok := m.arms[ControlArm]; !ok {
		return fmt.Errorf("uplift models: no control arm")
	}
	return nil
}
