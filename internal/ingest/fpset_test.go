package ingest

import (
	"encoding/binary"
	"testing"
)

// TestFpSet adds distinct fingerprints (and each again) with the set
// reserved ahead, behind, or not at all: every first add is new, every
// second is not, and reserving never loses one.
func TestFpSet(t *testing.T) {
	fp := func(i int) (f [16]byte) {
		binary.LittleEndian.PutUint64(f[:8], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(f[8:], uint64(i))
		return f
	}
	tests := []struct {
		name      string
		n         int
		reserveAt int // reserve after this many adds; -1 never
		reserve   int
	}{
		{"growing", 200_000, -1, 0},
		{"reserved ahead", 200_000, 0, 200_000},
		{"reserved after the first", 200_000, 1, 200_000},
		{"reserved short", 200_000, 10, 1_000},
		{"reserved midway", 200_000, 100_000, 400_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s fpSet
			if !s.add([16]byte{}) || s.add([16]byte{}) {
				t.Fatal("the zero fingerprint: first add not new, or second add new")
			}
			for i := 1; i <= tt.n; i++ {
				if i-1 == tt.reserveAt {
					s.reserve(tt.reserve)
				}
				if !s.add(fp(i)) {
					t.Fatalf("fingerprint %d: first add not new", i)
				}
			}
			for i := 1; i <= tt.n; i++ {
				if s.add(fp(i)) {
					t.Fatalf("fingerprint %d: second add new", i)
				}
			}
			if s.n != tt.n || 4*s.n > 3*len(s.slots) {
				t.Errorf("%d fingerprints in %d slots, want %d at most 3/4 full", s.n, len(s.slots), tt.n)
			}
		})
	}
}

func BenchmarkFpSet(b *testing.B) {
	const n = 2_000_000
	fps := make([][16]byte, n)
	for i := range fps {
		binary.LittleEndian.PutUint64(fps[i][:8], uint64(i+1)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(fps[i][8:], uint64(i))
	}
	for _, reserve := range []bool{false, true} {
		name := "growing"
		if reserve {
			name = "reserved"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var s fpSet
				if reserve {
					s.reserve(n)
				}
				for _, fp := range fps {
					s.add(fp)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/fingerprint")
		})
	}
}
