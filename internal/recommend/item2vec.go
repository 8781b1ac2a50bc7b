package recommend

import (
	"math"
	"math/rand/v2"
	"slices"
)

// item2vec trains skip-gram with negative sampling (Barkan and Koenigstein,
// "Item2Vec", 2016) over users' item sequences: every item predicts the
// items within Window positions of it, against Negatives items drawn from
// the unigram distribution to the power 0.75. One thread, one seeded
// generator, sequences in the order given: the same input gives the same
// vectors. It returns n unit vectors of cfg.Dim, flattened (nil if Dim is 0).
func item2vec(n int, seqs [][]int32, cfg Config) []float32 {
	d := cfg.Dim
	if d == 0 || n == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1f2e3d4c))
	in := make([]float32, n*d)
	for i := range in {
		in[i] = (rng.Float32() - 0.5) / float32(d)
	}
	out := make([]float32, n*d)

	// Negative sampling by the cumulative unigram^0.75 distribution.
	cum := make([]float64, n)
	total := 0
	freq := make([]float64, n)
	for _, s := range seqs {
		for _, it := range s {
			freq[it]++
		}
		total += len(s)
	}
	acc := 0.0
	for i, f := range freq {
		acc += math.Pow(f, 0.75)
		cum[i] = acc
	}
	if acc == 0 {
		return normalize(in, d)
	}
	draw := func() int32 {
		i, _ := slices.BinarySearch(cum, rng.Float64()*acc)
		return int32(min(i, n-1))
	}

	steps := float64(cfg.Epochs * total)
	done := 0.0
	grad := make([]float32, d)
	for range cfg.Epochs {
		for _, s := range seqs {
			for p, center := range s {
				lr := float32(cfg.LearningRate * max(1e-4, 1-done/steps))
				done++
				lo, hi := max(0, p-cfg.Window), min(len(s)-1, p+cfg.Window)
				for q := lo; q <= hi; q++ {
					if q == p || s[q] == center {
						continue
					}
					v := in[int(center)*d : int(center)*d+d]
					clear(grad)
					for k := 0; k <= cfg.Negatives; k++ {
						target, label := s[q], float32(1)
						if k > 0 {
							target, label = draw(), 0
							if target == s[q] {
								continue
							}
						}
						u := out[int(target)*d : int(target)*d+d]
						g := (label - sigmoid(dot(v, u))) * lr
						for x := range d {
							grad[x] += g * u[x]
							u[x] += g * v[x]
						}
					}
					for x := range d {
						v[x] += grad[x]
					}
				}
			}
		}
	}
	normalize(in, d)
	for i, f := range freq {
		if int(f) < cfg.MinCount {
			clear(in[i*d : i*d+d])
		}
	}
	return in
}

func sigmoid(x float32) float32 {
	switch {
	case x > 6:
		return 1
	case x < -6:
		return 0
	}
	return float32(1 / (1 + math.Exp(-float64(x))))
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// normalize scales each of the d-long vectors in v to unit length.
func normalize(v []float32, d int) []float32 {
	for i := 0; i < len(v); i += d {
		x := v[i : i+d]
		n := float32(math.Sqrt(float64(dot(x, x))))
		if n == 0 {
			continue
		}
		for k := range x {
			x[k] /= n
		}
	}
	return v
}
