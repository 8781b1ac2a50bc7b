package policy

import (
	"math"
	"sort"
)

// Curves are the Qini and uplift curves of one ranking of users for one
// arm against control, with their areas. Both curves are expressed per
// user of the compared population: at fraction phi of it, targeted from the
// top of the ranking, Qini(phi) is the incremental outcome in the treated
// part scaled to the population, and Uplift(phi) is the difference of the
// treated and control means times phi. docs/EVALUATION.md has the formulas.
type Curves struct {
	// QiniArea is the area between the Qini curve and the diagonal of
	// random targeting, in outcome units per user.
	QiniArea float64 `json:"qini_area"`
	// Qini is QiniArea divided by that of the perfect ranking (treated
	// users by descending outcome first, control users by ascending
	// outcome last): 1 for perfect, about 0 for random, negative for worse
	// than random. Zero when the perfect ranking has no area.
	Qini float64 `json:"qini"`
	// AUUC is the area under the uplift curve, in outcome units per user.
	AUUC float64 `json:"auuc"`
	// AUUCRandom is the area under the uplift curve of random targeting:
	// the overall effect over 2.
	AUUCRandom float64 `json:"auuc_random"`
	// Points are (fraction, Qini, Uplift) after every group of tied scores.
	Points []CurvePoint `json:"-"`
}

// CurvePoint is a point of the curves.
type CurvePoint struct {
	Fraction float64 `json:"fraction"`
	Qini     float64 `json:"qini"`
	Uplift   float64 `json:"uplift"`
}

// Rank computes the curves of ranking users by descending score, for users
// who received the arm (treated) or control. w weighs each user, for
// example 1/propensity when the history was not uniform; nil means 1.
// Users with equal scores enter the curves together.
func Rank(score []float64, treated []bool, y, w []float64) Curves {
	c := curves(score, treated, y, w)
	perfect := make([]float64, len(y))
	for i := range y {
		perfect[i] = y[i]
		if !treated[i] {
			perfect[i] = -y[i]
		}
	}
	p := curves(perfect, treated, y, w)
	if p.QiniArea > 0 {
		c.Qini = c.QiniArea / p.QiniArea
	}
	return c
}

func curves(score []float64, treated []bool, y, w []float64) Curves {
	n := len(score)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	weight := func(i int) float64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	var total float64
	for i := range n {
		total += weight(i)
	}
	var c Curves
	if total <= 0 {
		return c
	}
	var nt, nc, yt, yc float64
	prev := CurvePoint{}
	c.Points = append(c.Points, prev)
	var qArea, uArea float64
	for k := 0; k < n; {
		j := k
		for ; j < n && score[order[j]] == score[order[k]]; j++ {
			i := order[j]
			if treated[i] {
				nt += weight(i)
				yt += weight(i) * y[i]
			} else {
				nc += weight(i)
				yc += weight(i) * y[i]
			}
		}
		k = j
		pt := CurvePoint{Fraction: (nt + nc) / total}
		switch {
		case nc > 0:
			pt.Qini = (yt - yc*nt/nc) / total
		default:
			pt.Qini = yt / total
		}
		if nt > 0 && nc > 0 {
			pt.Uplift = (yt/nt - yc/nc) * (nt + nc) / total
		}
		dx := pt.Fraction - prev.Fraction
		qArea += dx * (pt.Qini + prev.Qini) / 2
		uArea += dx * (pt.Uplift + prev.Uplift) / 2
		c.Points = append(c.Points, pt)
		prev = pt
	}
	end := c.Points[len(c.Points)-1]
	c.QiniArea = qArea - end.Qini/2
	c.AUUC = uArea
	c.AUUCRandom = end.Uplift / 2
	if math.IsNaN(c.QiniArea) {
		c.QiniArea = 0
	}
	return c
}
