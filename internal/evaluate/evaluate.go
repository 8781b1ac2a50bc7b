// Package evaluate measures a published campaign against its control
// group once its outcomes are in: response and revenue lift per offer and
// per segment with 95% confidence intervals, realised against predicted
// uplift (calibration), the Qini of the predictions, cost and ROI.
//
// The control group of an offer is the held-out users whose plan row names
// that offer (what they would have received): the plan draws control
// membership at random, so they are comparable with the users who got it.
package evaluate

import (
	"fmt"
	"math"
	"sort"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/policy"
)

// Row is what the evaluation needs of one plan row and its outcome.
type Row struct {
	UserID    string
	Segment   string
	Offer     string // offer the user got, or would have got when Control (the plan's holdout_offer)
	Control   bool
	Explore   bool    // the offer was drawn at random
	Predicted float64 // expected incremental revenue of Offer (the holdout offer's for control users)
	// Propensity is the plan's probability that the user buys without an
	// offer; the adjustment uses it to compare users the decision selected
	// with the whole segment's control group.
	Propensity float64
	// AssignmentProbability is the plan's probability of what the user
	// got (Offer, or no offer when Control or Offer is campaign.None).
	AssignmentProbability float64
	Responded             bool    // bought in the campaign window
	Conversions           int64   // orders in the campaign window
	Revenue               float64 // revenue in the campaign window
}

// Arm is the outcome sums of one group of users.
type Arm struct {
	N          int64   `json:"n"`
	Responders int64   `json:"responders"`
	Revenue    float64 `json:"revenue"`
	RevenueSq  float64 `json:"revenue_sq"`
	// Propensity is the sum of the users' predicted propensities.
	Propensity float64 `json:"propensity"`
}

// Add counts one user.
func (a *Arm) Add(r Row) {
	a.N++
	a.Propensity += r.Propensity
	if r.Responded {
		a.Responders++
	}
	a.Revenue += r.Revenue
	a.RevenueSq += r.Revenue * r.Revenue
}

// Merge adds b's sums to a.
func (a *Arm) Merge(b Arm) {
	a.N += b.N
	a.Responders += b.Responders
	a.Revenue += b.Revenue
	a.RevenueSq += b.RevenueSq
	a.Propensity += b.Propensity
}

// Rate is the response rate; 0 without users.
func (a Arm) Rate() float64 {
	if a.N == 0 {
		return 0
	}
	return float64(a.Responders) / float64(a.N)
}

// Mean is the revenue per user; 0 without users.
func (a Arm) Mean() float64 {
	if a.N == 0 {
		return 0
	}
	return a.Revenue / float64(a.N)
}

// RateVar is the sampling variance of Rate.
func (a Arm) RateVar() float64 {
	if a.N == 0 {
		return math.Inf(1)
	}
	p := a.Rate()
	// Half a success keeps an all-or-nothing group from claiming certainty.
	if a.Responders == 0 || a.Responders == a.N {
		p = (float64(a.Responders) + 0.5) / (float64(a.N) + 1)
	}
	return p * (1 - p) / float64(a.N)
}

// MeanVar is the sampling variance of Mean.
func (a Arm) MeanVar() float64 {
	if a.N < 2 {
		return math.Inf(1)
	}
	n := float64(a.N)
	m := a.Mean()
	v := (a.RevenueSq - n*m*m) / (n - 1)
	return math.Max(v, 0) / n
}

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054

// Interval is an estimate with its 95% confidence interval. Defined is
// false when a group is too small for an interval (Lo, Hi, SE are 0).
type Interval struct {
	Value   float64 `json:"value"`
	Lo      float64 `json:"lo"`
	Hi      float64 `json:"hi"`
	SE      float64 `json:"se"`
	Defined bool    `json:"defined"`
}

// Diff returns the interval of the difference of two means with variances.
func Diff(t, c, vt, vc float64) Interval {
	se := math.Sqrt(vt + vc)
	d := t - c
	if math.IsInf(se, 0) || math.IsNaN(se) {
		return Interval{Value: d}
	}
	return Interval{Value: d, Lo: d - z95*se, Hi: d + z95*se, SE: se, Defined: true}
}

// Effect is the measured effect of one offer (in one segment, or overall).
type Effect struct {
	Treated Arm `json:"treated"`
	Control Arm `json:"control"`
	// ResponseLift and RevenueLift are per treated user.
	ResponseLift Interval `json:"response_lift"`
	RevenueLift  Interval `json:"revenue_lift"`
	// Predicted is the plan's expected incremental revenue per treated user.
	Predicted float64 `json:"predicted"`
	// Cost is the realised cost of the offer: what treated responders redeemed.
	Cost float64 `json:"cost"`
	// IncrementalProfit is margin x revenue lift x treated users - cost.
	IncrementalProfit float64 `json:"incremental_profit"`
	// ROI is IncrementalProfit / Cost; 0 without cost.
	ROI float64 `json:"roi"`
}

func (e *Effect) finish(margin float64) {
	e.ResponseLift = Diff(e.Treated.Rate(), e.Control.Rate(), e.Treated.RateVar(), e.Control.RateVar())
	e.RevenueLift = Diff(e.Treated.Mean(), e.Control.Mean(), e.Treated.MeanVar(), e.Control.MeanVar())
	if e.Treated.N > 0 {
		e.Predicted /= float64(e.Treated.N)
	}
	if e.Control.N == 0 || e.Treated.N == 0 {
		e.IncrementalProfit = -e.Cost
	} else {
		e.IncrementalProfit = margin*e.RevenueLift.Value*float64(e.Treated.N) - e.Cost
	}
	if e.Cost > 0 {
		e.ROI = e.IncrementalProfit / e.Cost
	}
}

// CalibrationBin compares predicted and realised uplift for the treated
// users of one quantile of predicted incremental revenue.
type CalibrationBin struct {
	PredictedLo float64  `json:"predicted_lo"`
	PredictedHi float64  `json:"predicted_hi"`
	Predicted   float64  `json:"predicted"` // mean per treated user
	Realised    Interval `json:"realised"`  // revenue lift per treated user
	Treated     int64    `json:"treated"`
	Control     int64    `json:"control"`
}

// Result is a campaign's evaluation.
type Result struct {
	Users   int64  `json:"users"`
	Treated int64  `json:"treated"`
	Control int64  `json:"control"`
	Overall Effect `json:"overall"`
	// Offers and Cells (segment, then offer) are the effects by offer and by
	// segment and offer.
	Offers map[string]*Effect            `json:"offers"`
	Cells  map[string]map[string]*Effect `json:"cells"`
	// SegmentControl is every control user of a segment, whatever the
	// offer they would have got: more users than a cell's own control, but
	// selected differently (internal/adjust corrects with the propensity).
	SegmentControl map[string]Arm `json:"segment_control"`
	// Calibration bins the treated users by predicted incremental revenue.
	Calibration []CalibrationBin `json:"calibration"`
	// Qini is the normalized Qini coefficient of ranking users by the
	// plan's predicted incremental revenue, on revenue (policy.Rank).
	Qini     float64 `json:"qini"`
	QiniArea float64 `json:"qini_area"`
}

// Measure evaluates rows (every user of the plan once, offer "none" users
// included) with the offers' costs from catalog and the margin on
// incremental revenue. It fails on an offer not in the catalog.
func Measure(rows []Row, catalog []campaign.Offer, margin float64) (*Result, error) {
	offers := map[string]campaign.Offer{}
	for _, o := range catalog {
		offers[o.ID] = o
	}
	res := &Result{Offers: map[string]*Effect{}, Cells: map[string]map[string]*Effect{}, SegmentControl: map[string]Arm{}}
	effect := func(m map[string]*Effect, k string) *Effect {
		if m[k] == nil {
			m[k] = &Effect{}
		}
		return m[k]
	}
	for i, r := range rows {
		res.Users++
		if r.Control {
			res.Control++
			sc := res.SegmentControl[r.Segment]
			sc.Add(r)
			res.SegmentControl[r.Segment] = sc
		}
		if r.Offer == campaign.None || r.Offer == "" {
			continue
		}
		o, ok := offers[r.Offer]
		if !ok {
			return nil, fmt.Errorf("evaluate: row %d (user %s): offer %q not in the catalog", i+1, r.UserID, r.Offer)
		}
		if res.Cells[r.Segment] == nil {
			res.Cells[r.Segment] = map[string]*Effect{}
		}
		for _, e := range []*Effect{&res.Overall, effect(res.Offers, r.Offer), effect(res.Cells[r.Segment], r.Offer)} {
			if r.Control {
				e.Control.Add(r)
				continue
			}
			e.Treated.Add(r)
			e.Predicted += r.Predicted
			if r.Responded {
				e.Cost += o.Face(r.Revenue)
			}
		}
		if !r.Control {
			res.Treated++
		}
	}
	res.Overall.finish(margin)
	for _, e := range res.Offers {
		e.finish(margin)
	}
	for _, m := range res.Cells {
		for _, e := range m {
			e.finish(margin)
		}
	}
	res.Calibration = calibration(rows, 5)
	var score, y []float64
	var treated []bool
	for _, r := range rows {
		if r.Offer == campaign.None || r.Offer == "" {
			continue
		}
		score = append(score, r.Predicted)
		treated = append(treated, !r.Control)
		y = append(y, r.Revenue)
	}
	if len(score) > 0 {
		c := policy.Rank(score, treated, y, nil)
		res.Qini, res.QiniArea = c.Qini, c.QiniArea
	}
	return res, nil
}

// calibration bins users with an offer by quantiles of predicted
// incremental revenue and compares the mean prediction with the realised
// revenue lift (treated minus control of the same bin).
func calibration(rows []Row, bins int) []CalibrationBin {
	var idx []int
	for i, r := range rows {
		if r.Offer != campaign.None && r.Offer != "" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	sort.SliceStable(idx, func(a, b int) bool { return rows[idx[a]].Predicted < rows[idx[b]].Predicted })
	var out []CalibrationBin
	for b := 0; b < bins; b++ {
		lo, hi := b*len(idx)/bins, (b+1)*len(idx)/bins
		if lo == hi {
			continue
		}
		var t, c Arm
		var pred float64
		for _, i := range idx[lo:hi] {
			r := rows[i]
			if r.Control {
				c.Add(r)
			} else {
				t.Add(r)
				pred += r.Predicted
			}
		}
		bin := CalibrationBin{
			PredictedLo: rows[idx[lo]].Predicted, PredictedHi: rows[idx[hi-1]].Predicted,
			Realised: Diff(t.Mean(), c.Mean(), t.MeanVar(), c.MeanVar()), Treated: t.N, Control: c.N,
		}
		if t.N > 0 {
			bin.Predicted = pred / float64(t.N)
		}
		out = append(out, bin)
	}
	return out
}
