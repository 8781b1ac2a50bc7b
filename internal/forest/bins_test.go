package forest

import (
	"slices"
	"testing"
)

func TestMergeSketches(t *testing.T) {
	shard := func(from, n, features int) []*Sketch {
		sk := make([]*Sketch, features)
		for f := range sk {
			sk[f] = NewSketch(0)
			for v := range n {
				sk[f].Add(float64(from + v))
			}
		}
		return sk
	}
	tests := []struct {
		name     string
		shards   [][]*Sketch
		maxBins  int
		wantCuts int // of feature 0
		wantErr  bool
	}{
		{"one shard", [][]*Sketch{shard(0, 10, 2)}, 16, 9, false},
		{"three shards", [][]*Sketch{shard(0, 10, 2), shard(10, 10, 2), shard(20, 10, 2)}, 16, 15, false},
		{"features differ", [][]*Sketch{shard(0, 10, 2), shard(10, 10, 3)}, 16, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := MergeSketches(tt.shards, tt.maxBins)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := len(b.Cuts[0]); got != tt.wantCuts {
				t.Errorf("%d cuts %v, want %d", got, b.Cuts[0], tt.wantCuts)
			}
			again, _ := MergeSketches(tt.shards, tt.maxBins)
			if !slices.EqualFunc(b.Cuts, again.Cuts, slices.Equal) {
				t.Error("merging the same sketches twice gives other bins")
			}
		})
	}
}
