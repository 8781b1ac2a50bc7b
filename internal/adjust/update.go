package adjust

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/promoflow/promoflow/internal/evaluate"
)

// PriorSD is the spread assumed for an offer's effect before any
// measurement, in purchase probability: wide enough that the first plans
// explore every offer.
const PriorSD = 0.05

// minTau is the floor of the between-segment spread of an offer's effect:
// the method-of-moments estimate is often zero with few segments, which
// would collapse every segment onto the global effect.
const minTau = 0.01

// Update returns the state after evaluating campaign: prev's counts plus
// res's, and posteriors recomputed from them. prev may be nil (the first
// evaluation of a template). prev is not modified.
//
// A cell's measured response lift d is the treated users' response rate
// minus what they would have done without the offer: their mean predicted
// propensity times the segment's control calibration (the control group's
// response rate over its mean predicted propensity). The decision selects
// a cell's users by propensity, so the raw segment control would bias d;
// the cell's own control (held-out users who would have got the offer) is
// unbiased but small. The correction keeps the whole segment's control.
//
// Empirical Bayes: d with sampling variance v is shrunk toward its offer's global
// effect mu, the precision-weighted mean of the offer's cells, by
// w = tau^2 / (tau^2 + v), where tau^2, the spread of the offer's effect
// across segments, is estimated by the method of moments (the variance of
// the cells' lifts minus their mean sampling variance, at least minTau^2).
// Posterior mean mu + w (d - mu), variance w v + (1-w)^2 var(mu).
//
// An offer is retired when its global response lift is reliably negative:
// the upper end of its 95% interval below zero. Explore[offer] is the share
// of the offer's cells whose 95% posterior interval still contains zero:
// the decision samples effects from the posteriors (Thompson sampling), so
// these cells still get users on other offers and other offers' users.
func Update(prev *State, template, campaign string, now time.Time, res *evaluate.Result) *State {
	s := &State{
		Template: template, Campaign: campaign, UpdatedAt: now,
		Offers: map[string]Estimate{}, Cells: map[string]map[string]Estimate{},
		Explore: map[string]float64{}, Counts: map[string]map[string]Counts{},
	}
	if prev != nil {
		s.Version = prev.Version
		for seg, m := range prev.Counts {
			s.Counts[seg] = map[string]Counts{}
			for o, c := range m {
				s.Counts[seg][o] = c
			}
		}
	}
	s.Version++
	for seg, m := range res.Cells {
		for o, e := range m {
			if e.Treated.N == 0 {
				continue
			}
			if s.Counts[seg] == nil {
				s.Counts[seg] = map[string]Counts{}
			}
			c := s.Counts[seg][o]
			c.Treated.Merge(e.Treated)
			c.Control.Merge(res.SegmentControl[seg])
			s.Counts[seg][o] = c
		}
	}
	s.recompute()
	return s
}

// cell is one cell's measured lifts and their sampling variances.
type cell struct {
	seg         string
	resp, respV float64
	rev, revV   float64
	n           int64
}

func (s *State) recompute() {
	byOffer := map[string][]cell{}
	for seg, m := range s.Counts {
		for o, c := range m {
			if c.Treated.N < 2 || c.Control.N < 2 {
				continue
			}
			r := adjustedLift(c.Treated, c.Control)
			// Incremental revenue per treated user: the extra responders
			// times what a treated responder spends (the decision reads
			// Revenue; the raw revenue difference has the same selection
			// bias as the raw response difference).
			aov := 0.0
			if c.Treated.Responders > 0 {
				aov = c.Treated.Revenue / float64(c.Treated.Responders)
			}
			v := evaluate.Interval{Value: r.Value * aov, SE: r.SE * aov}
			// A group without any buyer has no revenue variance: floor it.
			byOffer[o] = append(byOffer[o], cell{seg: seg, resp: r.Value, respV: max(r.SE*r.SE, 1e-8), rev: v.Value, revV: max(v.SE*v.SE, 1e-6), n: c.Treated.N})
		}
	}
	offers := make([]string, 0, len(byOffer))
	for o := range byOffer {
		offers = append(offers, o)
	}
	sort.Strings(offers)
	for _, o := range offers {
		cells := byOffer[o]
		sort.Slice(cells, func(i, j int) bool { return cells[i].seg < cells[j].seg })
		resp := make([]float64, len(cells))
		respV := make([]float64, len(cells))
		rev := make([]float64, len(cells))
		revV := make([]float64, len(cells))
		var n int64
		for i, c := range cells {
			resp[i], respV[i], rev[i], revV[i] = c.resp, c.respV, c.rev, c.revV
			n += c.n
		}
		muR, varMuR, postR, postVR := shrink(resp, respV, minTau)
		muV, varMuV, postV, postVV := shrink(rev, revV, minTau*40)
		s.Offers[o] = Estimate{Response: muR, Revenue: muV, ResponseSD: math.Sqrt(varMuR), RevenueSD: math.Sqrt(varMuV), N: n}
		uncertain := 0
		for i, c := range cells {
			if s.Cells[c.seg] == nil {
				s.Cells[c.seg] = map[string]Estimate{}
			}
			e := Estimate{Response: postR[i], Revenue: postV[i], ResponseSD: math.Sqrt(postVR[i]), RevenueSD: math.Sqrt(postVV[i]), N: c.n}
			s.Cells[c.seg][o] = e
			if e.Response-1.96*e.ResponseSD < 0 && e.Response+1.96*e.ResponseSD > 0 {
				uncertain++
			}
		}
		s.Explore[o] = float64(uncertain) / float64(len(cells))
		if muR+1.96*math.Sqrt(varMuR) < 0 {
			s.Retired = append(s.Retired, o)
		}
	}
	slices.Sort(s.Retired)
}

// adjustedLift is the treated response rate minus the counterfactual rate
// of the same users predicted from their propensities, calibrated on the
// control group; without propensities, the plain difference.
func adjustedLift(t, c evaluate.Arm) evaluate.Interval {
	pt, pc := t.Propensity/float64(t.N), c.Propensity/float64(c.N)
	if !(pt > 0 && pc > 0) {
		return evaluate.Diff(t.Rate(), c.Rate(), t.RateVar(), c.RateVar())
	}
	k := pt / pc
	return evaluate.Diff(t.Rate(), k*c.Rate(), t.RateVar(), k*k*c.RateVar())
}

// shrink is the empirical Bayes estimate of Update for one offer: the
// global mean and its variance, and each cell's posterior mean and variance.
func shrink(d, v []float64, floor float64) (mu, varMu float64, post, postVar []float64) {
	var sw, swd float64
	for i := range d {
		w := 1 / v[i]
		sw += w
		swd += w * d[i]
	}
	mu, varMu = swd/sw, 1/sw
	tau2 := floor * floor
	if k := len(d); k >= 2 {
		var ss, mv float64
		for i := range d {
			ss += (d[i] - mu) * (d[i] - mu)
			mv += v[i]
		}
		tau2 = math.Max(tau2, ss/float64(k-1)-mv/float64(k))
	}
	post = make([]float64, len(d))
	postVar = make([]float64, len(d))
	for i := range d {
		w := tau2 / (tau2 + v[i])
		post[i] = mu + w*(d[i]-mu)
		postVar[i] = w*v[i] + (1-w)*(1-w)*varMu
	}
	return mu, varMu, post, postVar
}
