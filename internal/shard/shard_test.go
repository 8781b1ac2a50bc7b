package shard

import (
	"math"
	"slices"
	"testing"
)

func TestOfStable(t *testing.T) {
	// Golden values: changing them means every stored run moves shards.
	for _, tc := range []struct {
		id   string
		n    int
		want int
	}{
		{"u000001", 8, 3},
		{"user-42", 16, 11},
	} {
		if got := Of(tc.id, tc.n); got != tc.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
	golden := map[string]uint64{
		"":        0xcbf29ce484222325,
		"a":       0xaf63dc4c8601ec8c,
		"u000001": 0x156dca406afc3743,
	}
	for s, want := range golden {
		if got := Hash(s); got != want {
			t.Errorf("Hash(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestOfBalanced(t *testing.T) {
	const n, users = 8, 80000
	counts := make([]int, n)
	for i := 0; i < users; i++ {
		counts[Of(userName(i), n)]++
	}
	for s, c := range counts {
		if math.Abs(float64(c)-users/n) > 0.05*users/n {
			t.Errorf("shard %d has %d users, want about %d", s, c, users/n)
		}
	}
}

func TestUnitUniform(t *testing.T) {
	const users = 100000
	below := 0
	for i := 0; i < users; i++ {
		u := Unit("campaign-1", userName(i))
		if u < 0 || u >= 1 {
			t.Fatalf("Unit out of range: %v", u)
		}
		if u < 0.1 {
			below++
		}
	}
	if share := float64(below) / users; math.Abs(share-0.1) > 0.005 {
		t.Errorf("share below 0.1 = %.4f, want 0.1 ± 0.005", share)
	}
	if Unit("a", "u1") == Unit("b", "u1") {
		t.Error("different salts gave the same value")
	}
}

func userName(i int) string {
	const digits = "0123456789"
	b := []byte("u000000")
	for p := len(b) - 1; p > 0 && i > 0; p-- {
		b[p] = digits[i%10]
		i /= 10
	}
	return string(b)
}

func TestBlocks(t *testing.T) {
	for _, tc := range []struct {
		n, max int
		want   []Block
	}{
		{0, 4, nil},
		{3, 0, []Block{{0, 1}, {1, 2}, {2, 3}}},
		{3, 8, []Block{{0, 1}, {1, 2}, {2, 3}}},
		{8, 8, []Block{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}}},
		{10, 4, []Block{{0, 3}, {3, 6}, {6, 8}, {8, 10}}},
		{1024, 64, nil}, // checked below
	} {
		got := Blocks(tc.n, tc.max)
		if tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("Blocks(%d, %d) = %v, want %v", tc.n, tc.max, got, tc.want)
		}
		// Invariants: contiguous, cover 0..n-1, sizes differ by at most one.
		next, lo, hi := 0, tc.n+1, 0
		for _, b := range got {
			if b.From != next || b.Len() < 1 {
				t.Fatalf("Blocks(%d, %d): block %v after %d", tc.n, tc.max, b, next)
			}
			next = b.To
			lo, hi = min(lo, b.Len()), max(hi, b.Len())
		}
		if next != tc.n || (len(got) > 0 && hi-lo > 1) {
			t.Errorf("Blocks(%d, %d) = %v: covers %d, sizes %d..%d", tc.n, tc.max, got, next, lo, hi)
		}
	}
}
