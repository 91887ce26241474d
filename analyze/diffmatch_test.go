package analyze

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatchPackets(t *testing.T) {
	id := func(flow int32, ident uint64) diffPkt { return diffPkt{flow: flow, ident: ident, hasIdent: true} }
	noID := func(flow int32) diffPkt { return diffPkt{flow: flow} }
	tests := []struct {
		name       string
		good, bad  []diffPkt
		pair       []int
		byID       []bool
		matchedBad []bool
	}{
		{
			name: "identity first, whatever the order",
			good: []diffPkt{id(0, 1), id(0, 2), id(0, 3)},
			bad:  []diffPkt{id(0, 3), id(0, 1)},
			pair: []int{1, -1, 0}, byID: []bool{true, false, true}, matchedBad: []bool{true, true},
		},
		{
			// UDP datagrams get new IPv4 IDs in every run: they pair by order.
			name: "identities that differ between runs fall back to order",
			good: []diffPkt{id(0, 10), id(0, 11), id(0, 12)},
			bad:  []diffPkt{id(0, 20), id(0, 21), id(0, 22)},
			pair: []int{0, 1, 2}, byID: []bool{false, false, false}, matchedBad: []bool{true, true, true},
		},
		{
			name: "leftovers pair in order within their own flow only",
			good: []diffPkt{id(0, 1), noID(1), id(0, 7), noID(1)},
			bad:  []diffPkt{noID(1), id(0, 1), id(0, 9), id(2, 5)},
			pair: []int{1, 0, 2, -1}, byID: []bool{true, false, false, false}, matchedBad: []bool{true, true, true, false},
		},
		{
			name: "repeated identities pair by occurrence",
			good: []diffPkt{id(0, 4), id(0, 4)},
			bad:  []diffPkt{id(0, 4)},
			pair: []int{0, -1}, byID: []bool{true, false}, matchedBad: []bool{true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, byID, matchedBad := matchPackets(&diffSide{pkts: tt.good}, &diffSide{pkts: tt.bad})
			if d := cmp.Diff(tt.pair, pair); d != "" {
				t.Errorf("pair (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.byID, byID); d != "" {
				t.Errorf("byID (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.matchedBad, matchedBad); d != "" {
				t.Errorf("matchedBad (-want +got):\n%s", d)
			}
		})
	}
}
