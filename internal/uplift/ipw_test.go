package uplift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// confounded generates a history logged by a targeting decision, as the
// production loop writes it: 20% of users are a randomized control group
// (P 0.2); of the others, 95% get the decision's offer, A to users whose
// score x0 is above 0.5 and B to the others, and 5% a random offer, so
// each offer has P 0.78 in its own region and 0.02 in the other. Outcomes
// are binary, with a baseline rising with x0 and x1 (the decision favours
// users who respond anyway) and effects that differ by region: A adds
// 0.10 where it is given and takes 0.05 where it is rarely given; B adds
// 0.06 where it is given and nothing elsewhere. x2..x7 are noise. It
// returns the data and every row's true effects.
func confounded(n int, seed uint64) (*Data, [][]float64, error) {
	rng := rand.New(rand.NewPCG(seed, 11))
	const d = 8
	features := make([]string, d)
	for j := range features {
		features[j] = fmt.Sprintf("x%d", j)
	}
	ids := make([]string, n)
	x := make([][]float64, n)
	a := make([]int, n)
	y := make([]float64, n)
	p := make([]float64, n)
	truth := make([][]float64, n)
	for i := range n {
		ids[i] = fmt.Sprintf("u%d", i)
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = rng.Float64()
		}
		best := 2 // B
		tau := []float64{0, 0.06}
		if x[i][0] > 0.5 {
			best = 1 // A
			tau = []float64{0.10, 0}
		} else {
			tau[0] = -0.05
		}
		truth[i] = tau
		switch u := rng.Float64(); {
		case u < 0.2:
			a[i], p[i] = 0, 0.2
		case u < 0.2+0.8*0.95:
			a[i], p[i] = best, 0.8*0.95+0.8*0.05/2
		default:
			a[i] = 1 + rng.IntN(2)
			p[i] = 0.8 * 0.05 / 2
			if a[i] == best {
				p[i] += 0.8 * 0.95
			}
		}
		mean := 0.1 + 0.25*x[i][0] + 0.1*x[i][1]
		if a[i] > 0 {
			mean += tau[a[i]-1]
		}
		y[i] = b2f(rng.Float64() < mean)
	}
	data, err := NewData(ids, []string{"control", "A", "B"}, features, x, a, y, p, 5, 1)
	if err != nil {
		return nil, nil, err
	}
	sorted := inDataOrder(data, ids, truth)
	return data, sorted, nil
}

// TestIPWRecoversPlantedEffect fits the T- and X-learners on confounded
// histories of 50,000 users (three seeds) with and without inverse
// propensity weights, and compares their predicted effects of offer A
// with the truth where A was rarely given (x0 <= 0.5: -0.05) and over all
// users (about 0.025). Unweighted, the forests pool the few users who got
// A there with the many who got it elsewhere, and predict an effect near
// zero or positive; weighted, those users count as much as the others.
// The X-learner must show it on every seed. The T-learner's outcome model
// of A is a forest of residuals from control's, which already borrows
// effects rather than outcome levels across the regions, so unweighted it
// is less biased: it must show the gain over the three seeds. The
// thresholds are per learner (rareNone). docs/EVALUATION.md has the
// figures.
func TestIPWRecoversPlantedEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("three histories of 50,000 users")
	}
	seeds := []uint64{1, 2, 3}
	type key struct{ weighting, learner string }
	rareErr, ateErr := map[key]float64{}, map[key]float64{}
	for _, seed := range seeds {
		d, truth, err := confounded(50000, seed)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Matrix(d)
		if err != nil {
			t.Fatal(err)
		}
		perSeed := map[key]float64{}
		for _, w := range []string{WeightNone, WeightIPW} {
			for _, l := range []string{TLearner, XLearner} {
				md, err := Fit(d, m, l, Config{Seed: 1, Trees: 30, Weighting: w})
				if err != nil {
					t.Fatal(err)
				}
				p := md.Predict(d.X)
				var line string
				for ai, arm := range []string{"A", "B"} {
					var est, tr, estR, trR, nR float64
					for i := range truth {
						est += p.Effect[arm][i]
						tr += truth[i][ai]
						// The region where the decision rarely gave arm.
						if (ai == 0) == (d.X[i][0] <= 0.5) {
							estR += p.Effect[arm][i]
							trR += truth[i][ai]
							nR++
						}
					}
					n := float64(len(truth))
					line += fmt.Sprintf("; %s: mean %.4f (true %.4f), rarely given %.4f (true %.4f)", arm, est/n, tr/n, estR/nR, trR/nR)
					if arm == "A" {
						k := key{w, l}
						perSeed[k] = math.Abs(estR/nR - trR/nR)
						rareErr[k] += perSeed[k] / float64(len(seeds))
						ateErr[k] += math.Abs(est/n-tr/n) / float64(len(seeds))
					}
				}
				t.Logf("seed %d, %s, %s%s", seed, w, l, line)
			}
		}
		for _, l := range []string{XLearner} {
			if ipw, none := perSeed[key{WeightIPW, l}], perSeed[key{WeightNone, l}]; ipw >= none {
				t.Errorf("seed %d, %s: error where A was rarely given %.4f weighted, %.4f unweighted", seed, l, ipw, none)
			}
		}
	}
	for _, l := range []string{TLearner, XLearner} {
		ipw, none := key{WeightIPW, l}, key{WeightNone, l}
		t.Logf("%s: mean absolute error of A's effect where rarely given: ipw %.4f, none %.4f; of its mean effect: ipw %.4f, none %.4f",
			l, rareErr[ipw], rareErr[none], ateErr[ipw], ateErr[none])
		// The unweighted learner's bias where A was rarely given, at least.
		rareNone := map[string]float64{TLearner: 0.02, XLearner: 0.035}[l]
		if rareErr[ipw] > 0.01 || rareErr[none] < rareNone {
			t.Errorf("%s: error where A was rarely given: ipw %.4f, want <= 0.01; none %.4f, want >= %v", l, rareErr[ipw], rareErr[none], rareNone)
		}
		if ateErr[ipw] > 0.012 || ateErr[ipw] >= ateErr[none] {
			t.Errorf("%s: error of A's mean effect: ipw %.4f, want <= 0.012 and below none's %.4f", l, ateErr[ipw], ateErr[none])
		}
	}
}

// inDataOrder reorders per-row truths (in the order of ids) as NewData
// ordered the rows (by fold).
func inDataOrder(d *Data, ids []string, truth [][]float64) [][]float64 {
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	out := make([][]float64, len(truth))
	for i, id := range d.IDs {
		out[i] = truth[at[id]]
	}
	return out
}

// TestRLearnerLogged: on a confounded history with logged propensities
// (confounded: A adds 0.10 where the decision gave it and -0.05 where it
// rarely did), the R-learner, whose propensities are then cross-fitted
// forests, gets A's mean effect within 0.02 and the sign where A was
// rarely given; it is the most biased there of the learners (logged for
// comparison): its weights (T - e)^2 put little on that region's control
// users.
func TestRLearnerLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("30,000 users")
	}
	d, truth, err := confounded(30000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Logged {
		t.Fatal("confounded history without logged propensities")
	}
	m, err := Matrix(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{RLearner, DRLearner, XLearner, TLearner} {
		md, err := Fit(d, m, l, Config{Seed: 1, Trees: 20})
		if err != nil {
			t.Fatal(err)
		}
		p := md.Predict(d.X)
		var est, tr, estR, trR, nR float64
		for i := range truth {
			est += p.Effect["A"][i]
			tr += truth[i][0]
			if d.X[i][0] <= 0.5 {
				estR += p.Effect["A"][i]
				trR += truth[i][0]
				nR++
			}
		}
		n := float64(len(truth))
		t.Logf("%s: A's mean effect %.4f (true %.4f), where rarely given %.4f (true %.4f)", l, est/n, tr/n, estR/nR, trR/nR)
		if l == RLearner && (math.Abs(est/n-tr/n) > 0.02 || estR/nR >= 0) {
			t.Errorf("r: A's mean effect %.4f (true %.4f), where rarely given %.4f (true %.4f): want within 0.02 and negative", est/n, tr/n, estR/nR, trR/nR)
		}
	}
}
