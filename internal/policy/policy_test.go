package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestScores(t *testing.T) {
	s := &Sample{
		A:  []int{0, 1, 2},
		Y:  []float64{1, 3, 0},
		P:  []float64{0.5, 0.25, 0.25},
		Mu: [][]float64{{0.4, 1, 2}, {0.4, 1, 2}, {0.4, 1, 2}},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		i, a    int
		dr, ips float64
	}{
		{0, 0, 0.4 + 0.6/0.5, 2},
		{0, 1, 1, 0},
		{1, 1, 1 + 2/0.25, 12},
		{1, 2, 2, 0},
		{2, 2, 2 - 2/0.25, 0},
	} {
		if got := s.DR(tc.i, tc.a); math.Abs(got-tc.dr) > 1e-12 {
			t.Errorf("DR(%d, %d) = %v, want %v", tc.i, tc.a, got, tc.dr)
		}
		if got := s.IPS(tc.i, tc.a); math.Abs(got-tc.ips) > 1e-12 {
			t.Errorf("IPS(%d, %d) = %v, want %v", tc.i, tc.a, got, tc.ips)
		}
	}
	dr, ips := Incremental(s, []int{1, 0, 2})
	if want := []float64{1 - 1.6, 0, (2 - 8) - 0.4}; !close(dr, want) {
		t.Errorf("DR incremental %v, want %v", dr, want)
	}
	if want := []float64{0 - 2, 0, 0}; !close(ips, want) {
		t.Errorf("IPS incremental %v, want %v", ips, want)
	}
}

func close(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) < 1e-12 })
}

func TestValidate(t *testing.T) {
	ok := func() *Sample {
		return &Sample{A: []int{0, 1}, Y: []float64{1, 0}, P: []float64{0.5, 0.5}, Mu: [][]float64{{0, 0}, {0, 0}}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Sample)
	}{
		{"empty", func(s *Sample) { *s = Sample{} }},
		{"lengths", func(s *Sample) { s.Y = s.Y[:1] }},
		{"one arm", func(s *Sample) { s.Mu = [][]float64{{0}, {0}}; s.A = []int{0, 0} }},
		{"arm range", func(s *Sample) { s.A[1] = 2 }},
		{"zero propensity", func(s *Sample) { s.P[0] = 0 }},
		{"NaN outcome", func(s *Sample) { s.Y[0] = math.NaN() }},
		{"ragged predictions", func(s *Sample) { s.Mu[1] = []float64{0} }},
	} {
		s := ok()
		tc.mod(s)
		if s.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", tc.name, s)
		}
	}
	if err := ok().Validate(); err != nil {
		t.Error(err)
	}
}

// randomized draws a uniform three-arm experiment where arm 1 adds 0.1 to
// a purchase probability of 0.2 and arm 2 adds 0.2 for users with x > 0.5
// only. Outcome predictions are the truth plus noise.
func randomized(n int, seed uint64) (*Sample, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &Sample{}
	x := make([]float64, n)
	for i := range n {
		x[i] = rng.Float64()
		a := rng.IntN(3)
		p := []float64{0.2, 0.3, 0.2}
		if x[i] > 0.5 {
			p[2] = 0.4
		}
		y := 0.0
		if rng.Float64() < p[a] {
			y = 1
		}
		s.A = append(s.A, a)
		s.Y = append(s.Y, y)
		s.P = append(s.P, 1.0/3)
		mu := make([]float64, 3)
		for k := range mu {
			mu[k] = p[k] + 0.05*rng.NormFloat64()
		}
		s.Mu = append(s.Mu, mu)
	}
	return s, x
}

func TestEffects(t *testing.T) {
	s, _ := randomized(30000, 2)
	e := Effects(s)
	if e[0].N+e[1].N+e[2].N != 30000 || e[0].ATE != (Interval{}) {
		t.Fatalf("effects %+v", e)
	}
	for a, want := range []float64{0, 0.1, 0.1} {
		if a == 0 {
			continue
		}
		iv := e[a].ATE
		if !(iv.Lo < want && want < iv.Hi) || iv.Hi-iv.Lo > 0.03 {
			t.Errorf("arm %d ATE %+v, want an interval around %v narrower than 0.03", a, iv, want)
		}
	}
	if math.Abs(e[1].Mean-0.3) > 0.015 {
		t.Errorf("arm 1 mean %v, want 0.3", e[1].Mean)
	}
}

func TestAssign(t *testing.T) {
	tau := [][]float64{
		{0.1, 0.3},   // best arm 2, 0.3
		{-0.1, -0.2}, // nothing helps
		{0.5, 0.2},   // best arm 1, 0.5
		{0.05, 0.0},  // arm 1, 0.05
		{0.3, 0.3},   // tie: first arm, 0.3
	}
	for _, tc := range []struct {
		fraction float64
		want     []int
	}{
		{0, []int{0, 0, 0, 0, 0}},
		{0.2, []int{0, 0, 1, 0, 0}},
		{0.4, []int{2, 0, 1, 0, 0}}, // 0.3 tie: row order
		{0.6, []int{2, 0, 1, 0, 1}},
		{1, []int{2, 0, 1, 1, 1}}, // the negative user stays untreated
	} {
		if got := Assign(tau, tc.fraction); !slices.Equal(got, tc.want) {
			t.Errorf("Assign(%v) = %v, want %v", tc.fraction, got, tc.want)
		}
	}
}

func TestPolicyValue(t *testing.T) {
	// Treating x > 0.5 with arm 2 and the rest with arm 1 gains
	// 0.5*0.2 + 0.5*0.1 = 0.15 per user.
	s, x := randomized(60000, 3)
	pi := make([]int, len(x))
	for i, v := range x {
		pi[i] = 1
		if v > 0.5 {
			pi[i] = 2
		}
	}
	dr, ips := Incremental(s, pi)
	iv := Bootstrap([][]float64{dr, ips}, 200, 1)
	for k, name := range []string{"DR", "IPS"} {
		if !(iv[k].Lo < 0.15 && 0.15 < iv[k].Hi) {
			t.Errorf("%s incremental %+v, want an interval around 0.15", name, iv[k])
		}
	}
	// DR with good predictions is tighter than IPS.
	if iv[0].Hi-iv[0].Lo >= iv[1].Hi-iv[1].Lo {
		t.Errorf("DR interval %+v not narrower than IPS %+v", iv[0], iv[1])
	}
	// The bootstrap agrees with the normal interval and is deterministic.
	norm := normalInterval(dr)
	if math.Abs((iv[0].Hi-iv[0].Lo)/(norm.Hi-norm.Lo)-1) > 0.2 {
		t.Errorf("bootstrap %+v vs normal %+v", iv[0], norm)
	}
	if again := Bootstrap([][]float64{dr, ips}, 200, 1); again[0] != iv[0] || again[1] != iv[1] {
		t.Error("Bootstrap with the same seed differs")
	}
}

func TestRankHandComputed(t *testing.T) {
	score := []float64{4, 3, 2, 1}
	treated := []bool{true, false, true, false}
	y := []float64{1, 0, 0, 1}
	c := Rank(score, treated, y, nil)
	want := []CurvePoint{{0, 0, 0}, {0.25, 0.25, 0}, {0.5, 0.25, 0.5}, {0.75, 0.25, 0.375}, {1, 0, 0}}
	if !slices.Equal(c.Points, want) {
		t.Errorf("points %v, want %v", c.Points, want)
	}
	if c.QiniArea != 0.1875 || c.AUUC != 0.21875 || c.AUUCRandom != 0 || c.Qini != 1 {
		t.Errorf("curves %+v, want Qini area 0.1875, AUUC 0.21875, random 0, coefficient 1", c)
	}
	// Reversed, the ranking is worse than random.
	rev := Rank([]float64{1, 2, 3, 4}, treated, y, nil)
	if rev.Qini >= 0 || rev.QiniArea >= 0 {
		t.Errorf("reversed ranking %+v, want negative Qini", rev)
	}
	// Tied scores enter together: one point at the end.
	tied := Rank([]float64{1, 1, 1, 1}, treated, y, nil)
	if len(tied.Points) != 2 || tied.QiniArea != 0 {
		t.Errorf("all tied: %+v", tied)
	}
	// Weights: doubling every weight changes nothing.
	w := Rank(score, treated, y, []float64{2, 2, 2, 2})
	if w.QiniArea != c.QiniArea || w.AUUC != c.AUUC {
		t.Errorf("uniform weights changed the curves: %+v", w)
	}
}

func TestRankOnKnownEffects(t *testing.T) {
	// Arm 2 helps only x > 0.5: ranking by x beats random and the truth
	// curve ends at the average effect.
	s, x := randomized(40000, 4)
	var score, y []float64
	var treated []bool
	for i, a := range s.A {
		if a == 1 {
			continue
		}
		score = append(score, x[i])
		treated = append(treated, a == 2)
		y = append(y, s.Y[i])
	}
	c := Rank(score, treated, y, nil)
	noise := make([]float64, len(score))
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range noise {
		noise[i] = rng.Float64()
	}
	r := Rank(noise, treated, y, nil)
	t.Logf("informative: %+v; random: qini %.4f auuc %.4f", Curves{QiniArea: c.QiniArea, Qini: c.Qini, AUUC: c.AUUC, AUUCRandom: c.AUUCRandom}, r.Qini, r.AUUC)
	if c.Qini < 0.05 || math.Abs(r.Qini) > 0.03 {
		t.Errorf("Qini coefficient %v (informative), %v (random)", c.Qini, r.Qini)
	}
	end := c.Points[len(c.Points)-1].Uplift
	if math.Abs(end-0.1) > 0.015 || math.Abs(c.AUUCRandom-end/2) > 1e-12 {
		t.Errorf("uplift at 1 = %v, want the ATE 0.1", end)
	}
	// True area under the uplift curve: effect 0.2 on the top half,
	// uplift(phi) = 0.2 phi up to 0.5, then 0.1: area 0.025 + 0.05 = 0.075.
	if math.Abs(c.AUUC-0.075) > 0.01 {
		t.Errorf("AUUC %v, want about 0.075", c.AUUC)
	}
}

// BenchmarkBootstrap draws 400 resamples of 100,000 users for 10
// statistics, as the report does for five budgets.
func BenchmarkBootstrap(b *testing.B) {
	s, x := randomized(100000, 6)
	pi := make([]int, len(x))
	for i := range pi {
		pi[i] = 1 + i%2
	}
	dr, ips := Incremental(s, pi)
	stats := [][]float64{dr, ips, dr, ips, dr, ips, dr, ips, dr, ips}
	for b.Loop() {
		Bootstrap(stats, 400, 1)
	}
}
