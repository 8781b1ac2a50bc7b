package additive

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestProject checks that the projection reproduces additive targets, and
// of a target with an interaction keeps the main effects only.
func TestProject(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(3, 4))
	features := []string{"a", "b", "c", "ch=web", "ch=app"}
	x := make([][]float64, n)
	rows := make([]int, n)
	for i := range x {
		web := float64(rng.IntN(2))
		x[i] = []float64{rng.Float64()*4 - 2, rng.NormFloat64(), rng.ExpFloat64(), web, 1 - web}
		if i%50 == 0 {
			x[i][1] = math.NaN()
		}
		rows[i] = i
	}
	for _, c := range []struct {
		name    string
		f       func(x []float64) float64
		maxRMSE float64
	}{
		{"smooth main effects", func(x []float64) float64 { return math.Sin(x[0]) + 0.3*math.Tanh(x[2]) }, 0.02},
		{"a level effect", func(x []float64) float64 { return 0.5*x[3] - 0.1 }, 1e-3},
		{"a step", func(x []float64) float64 { return float64(btoi(x[0] > 0.5)) }, 0.2},
	} {
		y := make([][]float64, n)
		for i := range y {
			y[i] = []float64{c.f(x[i]), -2 * c.f(x[i])}
		}
		models, err := Project(x, features, rows, y)
		if err != nil {
			t.Fatal(err)
		}
		if len(models) != 2 {
			t.Fatalf("%s: %d models, want 2", c.name, len(models))
		}
		var se, se2 float64
		for i := range x {
			d := models[0].Predict(x[i]) - y[i][0]
			se += d * d
			d2 := models[1].Predict(x[i]) - y[i][1]
			se2 += d2 * d2
		}
		rmse, rmse2 := math.Sqrt(se/n), math.Sqrt(se2/n)
		t.Logf("%s: rmse %.4f, of the doubled target %.4f", c.name, rmse, rmse2)
		if rmse > c.maxRMSE || math.Abs(rmse2-2*rmse) > 1e-6 {
			t.Errorf("%s: rmse %.4f (want <= %g), doubled target's %.4f (want %.4f)", c.name, rmse, c.maxRMSE, rmse2, 2*rmse)
		}
		if len(models[0].Selected()) != 4 {
			t.Errorf("%s: terms of %v, want every feature's", c.name, models[0].Selected())
		}
	}
	// An interaction a*web projects onto its main effects: the model is
	// additive, so its effect of web is the same at every a.
	y := make([][]float64, n)
	for i := range y {
		y[i] = []float64{x[i][0] * x[i][3]}
	}
	models, err := Project(x, features, rows, y)
	if err != nil {
		t.Fatal(err)
	}
	m := models[0]
	for _, a := range []float64{-1.5, 0, 1.5} {
		web := m.Predict([]float64{a, 0, 1, 1, 0}) - m.Predict([]float64{a, 0, 1, 0, 1})
		if math.Abs(web-0) > 0.05 { // the mean of a is 0
			t.Errorf("a = %v: web's effect %.3f, want its mean over a, 0", a, web)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
