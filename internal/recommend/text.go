package recommend

import (
	"math"

	"github.com/promoflow/promoflow/internal/interest"
)

// textNeighbours keeps each item's k most similar items by the cosine of
// their descriptions' TF-IDF vectors (terms as interest.Tokenize cuts
// them, each item's terms counted once): variants of one product (a lunch
// bag in another print) are what customers of a shop buy next, and the
// description knows them before any co-purchase does. Pairs are found
// through an inverted index; terms on more than maxDF items are too
// common to tell products apart and are left out.
func textNeighbours(texts []string, k int) [][]Neighbour {
	n := len(texts)
	terms := make([][]int32, n)
	ids := map[string]int32{}
	var df []float64
	var scratch []string
	for i, t := range texts {
		scratch = interest.Tokenize(t, scratch[:0])
		seen := map[int32]bool{}
		for _, w := range scratch {
			id, ok := ids[w]
			if !ok {
				id = int32(len(df))
				ids[w] = id
				df = append(df, 0)
			}
			if !seen[id] {
				seen[id] = true
				terms[i] = append(terms[i], id)
				df[id]++
			}
		}
	}
	maxDF := max(20, float64(n)/20)
	idf := make([]float64, len(df))
	for t, d := range df {
		if d <= maxDF && d > 1 {
			idf[t] = math.Log(float64(n) / d)
		}
	}
	norm := make([]float64, n)
	posting := make([][]int32, len(df))
	for i, ts := range terms {
		for _, t := range ts {
			norm[i] += idf[t] * idf[t]
			if idf[t] > 0 {
				posting[t] = append(posting[t], int32(i))
			}
		}
		norm[i] = math.Sqrt(norm[i])
	}
	pairs := newPairCounts(n)
	for t, items := range posting {
		w := float32(idf[t] * idf[t])
		for x, i := range items {
			for _, j := range items[x+1:] {
				pairs.add(i, j, w)
			}
		}
	}
	pairs.scale(func(i, j int32, v float32) float32 { return v / float32(norm[i]*norm[j]) })
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	return neighbours(n, pairs, ones, k, 0, 0)
}
