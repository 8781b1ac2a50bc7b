package power

import (
	"math"
	"testing"
)

func TestMDL(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pc, pt float64
		nc, nt int64
		want   float64
		ok     bool
	}{
		// (1.959964 + 0.841621) sqrt(0.1*0.9/1000 + 0.1*0.9/1000) = 2.801585 * 0.0134164
		{"equal groups", 0.1, 0.1, 1000, 1000, 0.037587, true},
		// 2.801585 * sqrt(0.2*0.8/20 + 0.25*0.75/40)
		{"small control", 0.2, 0.25, 20, 40, 0.315567, true},
		{"no control", 0.2, 0.25, 0, 40, 0, false},
		{"no treated", 0.2, 0.25, 10, 0, 0, false},
		{"certain outcomes", 0, 1, 10, 10, 0, true},
		{"rates clamped", -0.5, 1.5, 10, 10, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Detectable(tc.pc, tc.pt, tc.nc, tc.nt)
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-5 {
				t.Errorf("Detectable(%v, %v, %d, %d) = %.6f, %v; want %.6f, %v", tc.pc, tc.pt, tc.nc, tc.nt, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestMDLPower checks the formula's promise by simulation: with a true lift
// equal to the MDL, a two-sided 5% z-test rejects about 80% of the time.
func TestMDLPower(t *testing.T) {
	const pc, nc, nt = 0.2, 200, 800
	mdl, _ := Detectable(pc, pc, nc, nt)
	// Solve for the lift whose own variance gives MDL = lift (a few steps).
	lift := mdl
	for range 20 {
		lift, _ = Detectable(pc, pc+lift, nc, nt)
	}
	rng := uint64(12345)
	next := func() float64 { // xorshift64*: deterministic, no global state
		rng ^= rng >> 12
		rng ^= rng << 25
		rng ^= rng >> 27
		return float64((rng*2685821657736338717)>>11) / (1 << 53)
	}
	draw := func(n int, p float64) float64 {
		k := 0
		for range n {
			if next() < p {
				k++
			}
		}
		return float64(k) / float64(n)
	}
	const trials = 2000
	rejected := 0
	for range trials {
		c, tr := draw(nc, pc), draw(nt, pc+lift)
		se := math.Sqrt(c*(1-c)/nc + tr*(1-tr)/nt)
		if se > 0 && math.Abs(tr-c)/se > 1.959964 {
			rejected++
		}
	}
	got := float64(rejected) / trials
	t.Logf("lift %.4f (the MDL at its own treated rate): rejected in %.3f of %d trials", lift, got, trials)
	if got < 0.76 || got > 0.84 {
		t.Errorf("power at the MDL (lift %.4f) = %.3f, want about 0.80", lift, got)
	}
}
