package strategy

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/shard"
)

// TestSortByHash: precomputed hashes give the order that hashing in every
// comparison gave, ties of repeated ids included.
func TestSortByHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 12, 13, 50, 1000, 5000} {
		users := make([]Scored, n)
		for i := range users {
			users[i].UserID = fmt.Sprintf("u%d", rng.IntN(max(n, 1)*2)) // some ids repeat
		}
		idx := rng.Perm(n)
		want := slices.Clone(idx)
		slices.SortFunc(want, func(a, b int) int {
			ha, hb := shard.Unit("c/control", users[a].UserID), shard.Unit("c/control", users[b].UserID)
			return cmp.Or(cmp.Compare(ha, hb), strings.Compare(users[a].UserID, users[b].UserID))
		})
		sortByHash(idx, users, "c/control")
		if !slices.Equal(idx, want) {
			t.Fatalf("%d users: order differs", n)
		}
	}
}
