// Package sim is the world simulator of the closed loop: the synthetic
// generator's users respond to a published plan according to their hidden
// true effects (internal/synth's personas), and the plan's incremental
// profit is compared with an oracle's that knows those effects and with a
// blanket discount.
package sim

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/synth"
)

// User is what the world knows of one user: the truth and the basket.
type User struct {
	ID     string
	Base   float64            // purchase probability in the window without an offer
	Uplift map[string]float64 // true additive effect per offer id
	Basket float64            // order value of a purchase
}

// Truth returns user id's hidden effects under the generator's cfg, with
// the given basket.
func Truth(cfg synth.Config, id string, basket float64) (User, error) {
	p := synth.PersonaOf(cfg, id)
	if p.Name == "" {
		return User{}, fmt.Errorf("sim: user %q is not a generated user", id)
	}
	return User{ID: id, Base: p.Base, Uplift: p.Uplift, Basket: basket}, nil
}

// Profit is the true expected incremental profit of giving o to u: margin
// times the incremental revenue, minus the cost of every redemption
// (including those who would have bought anyway). Offer "none" is 0.
func Profit(u User, o campaign.Offer, margin float64) float64 {
	if o.ID == "" || o.ID == campaign.None {
		return 0
	}
	l := u.Uplift[o.ID]
	redeem := math.Min(math.Max(u.Base+l, 0), 1)
	return margin*l*u.Basket - redeem*o.Face(u.Basket)
}

// Week is one simulated week's incremental profits, over the users the plan
// did not hold out (the same users for all three policies).
type Week struct {
	Week           int     `json:"week"`
	PlanProfit     float64 `json:"plan_profit"`
	OracleProfit   float64 `json:"oracle_profit"`
	BaselineProfit float64 `json:"baseline_profit"`
	Users          int64   `json:"users"`
	Treated        int64   `json:"treated"`
	StateVersion   int     `json:"state_version"`
	UpliftRows     int64   `json:"uplift_rows"` // history rows the decision's uplift models trained on
	// Learner is the uplift learner the decision chose by cross-fitted
	// policy value, and CVPolicyValue its value ("" and 0 without history).
	Learner       string  `json:"learner,omitempty"`
	CVPolicyValue float64 `json:"cv_policy_value,omitempty"`
	// SegmentProfit is a diagnostic: the profit of the best policy that
	// gives every user of a plan segment the same offer (chosen knowing the
	// true effects), the ceiling of learning per segment alone.
	SegmentProfit float64 `json:"segment_profit"`
	segments      map[string]map[string]float64
}

// ScoreSegment adds u's true profit of each offer to its segment's sums.
func (w *Week) ScoreSegment(u User, segment string, catalog []campaign.Offer, margin float64) {
	if w.segments == nil {
		w.segments = map[string]map[string]float64{}
	}
	if w.segments[segment] == nil {
		w.segments[segment] = map[string]float64{}
	}
	for _, o := range catalog {
		w.segments[segment][o.ID] += Profit(u, o, margin)
	}
}

// Finish computes SegmentProfit from the ScoreSegment sums.
func (w *Week) Finish() {
	w.SegmentProfit = 0
	for _, m := range w.segments {
		best := 0.0
		for _, v := range m {
			best = math.Max(best, v)
		}
		w.SegmentProfit += best
	}
}

// Score adds user u's contribution to w: the plan's offer (planned, "none"
// for nothing), the oracle's best offer by true profit (or nothing when no
// offer pays), and the baseline's offer to everyone.
func (w *Week) Score(u User, planned string, catalog []campaign.Offer, baseline campaign.Offer, margin float64) error {
	w.Users++
	best := 0.0
	for _, o := range catalog {
		p := Profit(u, o, margin)
		best = math.Max(best, p)
		if o.ID == planned {
			w.PlanProfit += p
			w.Treated++
		}
	}
	if planned != campaign.None && planned != "" && !hasOffer(catalog, planned) {
		return fmt.Errorf("sim: user %s: planned offer %q not in the catalog", u.ID, planned)
	}
	w.OracleProfit += best
	w.BaselineProfit += Profit(u, baseline, margin)
	return nil
}

func hasOffer(catalog []campaign.Offer, id string) bool {
	for _, o := range catalog {
		if o.ID == id {
			return true
		}
	}
	return false
}

// Respond draws whether u buys in the window given offer (campaign.None for control
// or no offer): probability Base plus the offer's true effect, a hash of
// (salt, user) as the coin, so a week's outcomes are reproducible.
func Respond(u User, offer, salt string) bool {
	p := u.Base
	if offer != "" && offer != campaign.None {
		p += u.Uplift[offer]
	}
	return shard.Unit(salt+"/respond", u.ID) < p
}

// OutcomeWriter writes simulated purchases as canonical events CSV, the
// format the evaluation ingests.
type OutcomeWriter struct {
	w   io.Writer
	buf []byte
	n   int
}

// NewOutcomeWriter writes the header to w.
func NewOutcomeWriter(w io.Writer) (*OutcomeWriter, error) {
	_, err := io.WriteString(w, "user_id,ts,type,item_id,category,text,quantity,price,order_id,channel\n")
	return &OutcomeWriter{w: w}, err
}

// Purchase writes one purchase of u at ts, of the user's basket value.
func (ow *OutcomeWriter) Purchase(u User, ts time.Time, campaign string) error {
	ow.n++
	b := ow.buf[:0]
	b = append(b, u.ID...)
	b = append(b, ',')
	b = ts.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, ",purchase,sim-item,sim,,1,"...)
	b = strconv.AppendFloat(b, math.Round(u.Basket*100)/100, 'f', -1, 64)
	b = append(b, ',')
	b = append(b, campaign...)
	b = append(b, '-')
	b = append(b, u.ID...)
	b = append(b, ",email\n"...)
	ow.buf = b
	_, err := ow.w.Write(b)
	return err
}

// Purchases is how many purchases were written.
func (ow *OutcomeWriter) Purchases() int { return ow.n }
