package interest

import (
	"hash/fnv"
	"math"
)

// Projection maps sparse TF-IDF vectors to dense vectors of a fixed width
// by a seeded random projection (feature hashing of each term into Dim
// random signs): dense[j] = Σ_t x_t · s_j(t) / √Dim with s_j(t) ∈ {−1, +1}
// drawn from a hash of (seed, t, j). Inner products, and so distances
// between users' interests, are preserved in expectation
// (Johnson–Lindenstrauss), and a term maps to the same signs in every run
// with the same seed, whatever the vocabulary.
type Projection struct {
	dim  int
	rows [][]float64 // by vocabulary index
}

// NewProjection precomputes the signs of every term of v for width dim
// and the given seed.
func NewProjection(v *Vocabulary, dim int, seed uint64) *Projection {
	p := &Projection{dim: dim, rows: make([][]float64, v.Len())}
	scale := 1 / math.Sqrt(float64(max(dim, 1)))
	back := make([]float64, v.Len()*dim)
	for i, t := range v.Terms {
		row := back[i*dim : (i+1)*dim : (i+1)*dim]
		signs(t, seed, row, scale)
		p.rows[i] = row
	}
	return p
}

// Dim is the width of the dense vectors.
func (p *Projection) Dim() int { return p.dim }

// Apply writes the projection of s into dst (len Dim) and returns it; a nil
// dst is allocated. Terms are summed in index order.
func (p *Projection) Apply(s Sparse, dst []float64) []float64 {
	if dst == nil {
		dst = make([]float64, p.dim)
	}
	clear(dst)
	for k, i := range s.Index {
		w := s.Weight[k]
		for j, r := range p.rows[i] {
			dst[j] += float64(w * r) // explicit rounding: no FMA, same bits everywhere
		}
	}
	return dst
}

// signs fills row with ±scale drawn from a hash of (seed, term): 64 signs
// per splitmix64 output.
func signs(term string, seed uint64, row []float64, scale float64) {
	h := fnv.New64a()
	h.Write([]byte(term))
	x := h.Sum64() ^ splitmix64(seed)
	var bits uint64
	for j := range row {
		if j%64 == 0 {
			x = splitmix64(x)
			bits = x
		}
		if bits&1 == 1 {
			row[j] = scale
		} else {
			row[j] = -scale
		}
		bits >>= 1
	}
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
