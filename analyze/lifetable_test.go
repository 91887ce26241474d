package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestLifeTable runs random inserts, lookups and deletes against a map.
func TestLifeTable(t *testing.T) {
	tests := []struct {
		name  string
		addrs int // distinct addresses drawn from
		ops   int
		// dense: consecutive addresses 0x100 apart, like sk_buffs in a
		// slab; otherwise random ones.
		dense bool
	}{
		{"few", 4, 1000, true},
		{"slab", 5000, 200000, true},
		{"random", 3000, 100000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.addrs)))
			addr := func() uint64 {
				i := uint64(r.IntN(tt.addrs))
				if tt.dense {
					return 0xffff888001000000 + i*0x100
				}
				return i*0x9e3779b97f4a7c15 | 1
			}
			var tab lifeTable
			want := map[uint64]*life{}
			for op := range tt.ops {
				a := addr()
				switch r.IntN(3) {
				case 0:
					l := &life{id: uint64(op)}
					tab.put(a, l)
					want[a] = l
				case 1:
					tab.del(a)
					delete(want, a)
				case 2:
					if got := tab.get(a); got != want[a] {
						t.Fatalf("op %d: get(%#x) = %p, want %p", op, a, got, want[a])
					}
				}
				if tab.len() != len(want) {
					t.Fatalf("op %d: len %d, want %d", op, tab.len(), len(want))
				}
			}
			for a, l := range want {
				if got := tab.get(a); got != l {
					t.Fatalf("get(%#x) = %p, want %p", a, got, l)
				}
			}
			if all := tab.appendAll(nil); len(all) != len(want) {
				t.Errorf("appendAll: %d lifetimes, want %d", len(all), len(want))
			}
			tab.clear()
			if tab.len() != 0 || tab.get(addr()) != nil {
				t.Error("clear left lifetimes behind")
			}
		})
	}
}
