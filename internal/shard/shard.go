// Package shard routes users to shards by a stable hash of their id.
//
// The hash must never change between releases: shard numbers are part of
// object keys in the bucket, and a run is reproducible only if every user
// lands in the same shard every time.
package shard

import (
	"fmt"
	"hash/fnv"
)

// Of returns the shard of userID among n shards: FNV-1a 64 of the id, mod n.
func Of(userID string, n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("shard.Of: n = %d", n))
	}
	return int(Hash(userID) % uint64(n))
}

// Hash is the stable 64-bit FNV-1a hash of s.
func Hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Unit maps (salt, userID) to a number in [0, 1) that is uniform over users
// and independent across salts. It backs every per-user random decision that
// must be reproducible without storing state: holdout users, control groups,
// exploration.
func Unit(salt, userID string) float64 {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(userID))
	// Finalise with splitmix64 so nearby ids do not give nearby values.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// Key returns the object key part for shard i, such as "shard=0007".
func Key(i int) string { return fmt.Sprintf("shard=%04d", i) }

// Block is a contiguous range of shards [From, To) handled by one activity
// of a fan-out.
type Block struct{ From, To int }

// Len is the number of shards in b.
func (b Block) Len() int { return b.To - b.From }

// Blocks cuts shards 0..n-1 into at most max contiguous blocks whose sizes
// differ by at most one, the larger first; max <= 0 or max >= n gives one
// shard per block. A fan-out over blocks instead of shards keeps a
// workflow's history bounded by max whatever n is, and a block's shards are
// reduced in shard order inside it, so results depend on n and max only.
func Blocks(n, max int) []Block {
	if n <= 0 {
		return nil
	}
	if max <= 0 || max > n {
		max = n
	}
	out := make([]Block, max)
	size, extra := n/max, n%max
	from := 0
	for i := range out {
		to := from + size
		if i < extra {
			to++
		}
		out[i] = Block{from, to}
		from = to
	}
	return out
}
