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

// armModel predicts an arm's outcomes: revenue in the campaign window and
// the probability of responding.
type armModel struct {
	Revenue  *forest.Forest
	Response *forest.Forest
}

// Models are per-offer T-learners trained on campaign history: one pair of
// outcome forests per offer arm and one for the control arm; an offer's
// expected incremental revenue is the difference of revenue predictions,
// its cost the predicted response under the offer times the face value.
type Models struct {
	arms map[string]armModel
}

// TrainConfig controls TrainUplift.
type TrainConfig struct {
	Trees   int    // per forest; 0 means 50
	MinLeaf int    // 0 means 20
	Seed    uint64 // forests derive their randomness from it
}

// TrainUplift fits the T-learner of every arm of rows named in offers that
// has at least MinArmRows rows, given enough control rows. It returns nil
// models (and no error) when there is no control group or no arm qualifies.
func TrainUplift(rows []HistoryRow, features []string, offers []string, cfg TrainConfig) (*Models, UpliftInfo, error) {
	if cfg.Trees == 0 {
		cfg.Trees = 50
	}
	if cfg.MinLeaf == 0 {
		cfg.MinLeaf = 20
	}
	info := UpliftInfo{Joined: int64(len(rows)), Arms: map[string]int64{}, Outcome: "revenue"}
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
		rev := make([]float64, len(idx))
		resp := make([]float64, len(idx))
		for j, i := range idx {
			x[j], rev[j] = rows[i].X, rows[i].Revenue
			if rows[i].Responded {
				resp[j] = 1
			}
		}
		p := forest.Params{Trees: cfg.Trees, Criterion: forest.Variance, MinLeaf: cfg.MinLeaf, MaxDepth: 8, Bootstrap: true, Seed: cfg.Seed + 2*k}
		fr, err := forest.Train(x, rev, features, p)
		if err != nil {
			return armModel{}, fmt.Errorf("uplift %s revenue: %w", arm, err)
		}
		p.Seed++
		fp, err := forest.Train(x, resp, features, p)
		if err != nil {
			return armModel{}, fmt.Errorf("uplift %s response: %w", arm, err)
		}
		return armModel{Revenue: fr, Response: fp}, nil
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
	inc := am.Revenue.Predict(x) - ctl.Revenue.Predict(x)
	return Estimate{Revenue: inc, Cost: clamp01(am.Response.Predict(x)) * face, Face: face, Source: SourceUplift}, true
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
	Revenue  json.RawMessage `json:"revenue"`
	Response json.RawMessage `json:"response"`
}

// MarshalJSON stores the forests (forest.Save's encoding) by arm.
func (m *Models) MarshalJSON() ([]byte, error) {
	out := map[string]savedArm{}
	for arm, am := range m.arms {
		var a, b bytes.Buffer
		if err := am.Revenue.Save(&a); err != nil {
			return nil, err
		}
		if err := am.Response.Save(&b); err != nil {
			return nil, err
		}
		out[arm] = savedArm{Revenue: a.Bytes(), Response: b.Bytes()}
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
		r, err := forest.Load(bytes.NewReader(s.Revenue))
		if err != nil {
			return fmt.Errorf("uplift models %s: %w", arm, err)
		}
		p, err := forest.Load(bytes.NewReader(s.Response))
		if err != nil {
			return fmt.Errorf("uplift models %s: %w", arm, err)
		}
		m.arms[arm] = armModel{Revenue: r, Response: p}
	}
	if _, ok := m.arms[ControlArm]; !ok {
		return fmt.Errorf("uplift models: no control arm")
	}
	return nil
}
