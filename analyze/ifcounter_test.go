package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestIfCounter compares ifCounter with a map on key sequences with few
// and with many keys (then slots are taken over and flushed often).
func TestIfCounter(t *testing.T) {
	tests := []struct {
		name      string
		keys      int
		n         int
		zeroNetns bool // keys (0, ifindex), the first (0, 0)
	}{
		{"one key", 1, 100, false},
		{"few keys", 5, 10000, false},
		{"more keys than slots", 500, 20000, false},
		{"netns zero", 3, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tt.keys), 7))
			keys := make([]ifKey, tt.keys)
			for i := range keys {
				keys[i] = ifKey{netns: 4026531840 + r.Uint32N(4), ifindex: uint32(i)}
				if tt.zeroNetns {
					keys[i].netns = 0
				}
			}
			want := map[ifKey]uint64{}
			var c ifCounter
			for range tt.n {
				k := keys[r.IntN(len(keys))]
				want[k]++
				if !c.inc(k) {
					c.addSlow(k)
				}
			}
			c.flush()
			got := map[ifKey]uint64{}
			for i, k := range c.keys {
				got[k] += c.counts[i]
			}
			if len(got) != len(want) {
				t.Fatalf("%d keys counted, want %d", len(got), len(want))
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("key %v: counted %d, want %d", k, got[k], n)
				}
			}
		})
	}
}
