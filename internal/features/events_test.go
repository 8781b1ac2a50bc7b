package features

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGroupOrder adds events of many users in a scrambled order, across
// several chunks, with ties in time, and checks that users come in id
// order with their events in time order, ties in the order they were
// added: what a stable sort by (user id, time) gives.
func TestGroupOrder(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 2<<chunkBits + 17} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(n)))
			type added struct {
				user string
				ts   int64
				seq  int64 // stored in the price, to tell ties apart
			}
			var e Events
			var want []added
			for i := range n {
				a := added{user: fmt.Sprintf("u%04d", r.IntN(500)), ts: int64(r.IntN(50)), seq: int64(i)}
				e.add(a.user, a.ts, tView, "", "", "", "", 1, float64(a.seq), channelOther)
				want = append(want, a)
			}
			slices.SortStableFunc(want, func(a, b added) int {
				if c := cmp.Compare(a.user, b.user); c != 0 {
					return c
				}
				return cmp.Compare(a.ts, b.ts)
			})
			if e.Len() != n {
				t.Fatalf("Len %d, want %d", e.Len(), n)
			}
			var got []added
			users := 0
			e.each(func(user string, evs []event) {
				users++
				for _, ev := range evs {
					got = append(got, added{user, ev.ts, int64(ev.price)})
				}
			})
			if !slices.Equal(got, want) {
				t.Fatalf("grouped order differs from a stable sort by user and time (%d events)", n)
			}
			if users != e.Users() {
				t.Errorf("%d groups, %d users", users, e.Users())
			}
		})
	}
}
