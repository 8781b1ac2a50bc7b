// Package power computes how small an effect a randomized comparison of
// two response rates can detect: the minimum detectable lift of a
// campaign's treated group against its control group, before the campaign
// runs (docs/EVALUATION.md, "Minimum detectable lift").
package power

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Level and Power are the test the minimum detectable lift is stated for:
// a two-sided test at the 5% level that finds a lift of that size 80% of
// the time.
const (
	Level = 0.05
	Power = 0.80
)

// MDL is the minimum detectable lift, in response-rate units (0.02 is two
// percentage points), of a two-sided test at level alpha with the given
// power, comparing nt treated users expected to respond at rate pt with nc
// control users expected to respond at rate pc:
//
//	MDL = (z_{1-alpha/2} + z_{power}) sqrt(pc(1-pc)/nc + pt(1-pt)/nt)
//
// Rates are clamped to [0, 1]. ok is false when either group is empty (no
// lift can be detected).
func MDL(pc, pt float64, nc, nt int64, alpha, power float64) (mdl float64, ok bool) {
	if nc <= 0 || nt <= 0 {
		return 0, false
	}
	pc, pt = clamp01(pc), clamp01(pt)
	std := distuv.UnitNormal
	z := std.Quantile(1-alpha/2) + std.Quantile(power)
	return z * math.Sqrt(pc*(1-pc)/float64(nc)+pt*(1-pt)/float64(nt)), true
}

// Detectable is MDL at Level and Power.
func Detectable(pc, pt float64, nc, nt int64) (float64, bool) {
	return MDL(pc, pt, nc, nt, Level, Power)
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return math.Min(math.Max(v, 0), 1)
}
