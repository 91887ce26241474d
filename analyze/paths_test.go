package analyze

import "testing"

// TestPathGroupMembers checks that a group lists each distinct skb address
// once, with its journey count, however often the address was reused.
func TestPathGroupMembers(t *testing.T) {
	tests := []struct {
		name  string
		addrs []uint64
		want  string
		json  int // distinct addresses listed
	}{
		{"one", []uint64{0xa00}, "0xa00", 1},
		{"reused", []uint64{0xa00, 0xa00, 0xa00}, "0xa00 (x3)", 1},
		{"mixed", []uint64{0xa00, 0xb00, 0xa00}, "0xa00 (x2), 0xb00", 2},
		{"three", []uint64{0xa00, 0xb00, 0xc00}, "0xa00, 0xb00, 0xc00", 3},
		{"more", []uint64{0xa00, 0xb00, 0xc00, 0xd00, 0xb00}, "0xa00, 0xb00 (x2), 0xc00, ...", 3},
		{"reused after more", []uint64{0xa00, 0xb00, 0xc00, 0xd00, 0xd00, 0xa00}, "0xa00 (x2), 0xb00, 0xc00, ...", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &pathGroup{}
			for _, a := range tt.addrs {
				g.add(a)
			}
			if got := g.membersText(); got != tt.want {
				t.Errorf("membersText() = %q, want %q", got, tt.want)
			}
			if len(g.members) != tt.json {
				t.Errorf("%d members, want %d", len(g.members), tt.json)
			}
			n := g.others
			for _, m := range g.members {
				n += m.count
			}
			if n != len(tt.addrs) {
				t.Errorf("members and others count %d journeys, want %d", n, len(tt.addrs))
			}
		})
	}
}
