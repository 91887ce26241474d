package format

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHeaderKernelLacks: the list of what the kernel lacked round-trips,
// a header without it (an older writer's, or a kernel that lacks nothing)
// is byte for byte what older writers wrote and reads as an empty list.
func TestHeaderKernelLacks(t *testing.T) {
	old := &Header{Hostname: "h", PcapFilter: "icmp", Snaplen: 96}
	oldBytes := appendHeader(nil, old)
	tests := []struct {
		name string
		h    *Header
	}{
		{"none", old},
		{"one", &Header{Hostname: "h", Snaplen: 96, KernelLacks: []string{LackDropReason}}},
		{"all", &Header{Hostname: "h", KernelLacks: []string{LackModuleBTF, LackDropReason, LackAttachCookie, LackKprobeMulti, "future-thing"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendHeader(nil, tt.h)
			if len(tt.h.KernelLacks) == 0 && string(b) != string(oldBytes) {
				t.Errorf("header without lacks changed: %x, was %x", b, oldBytes)
			}
			got, err := decodeHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.h, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, l := range tt.h.KernelLacks {
				if !got.Lacks(l) {
					t.Errorf("Lacks(%q) = false", l)
				}
			}
			if got.Lacks("nothing-like-this") {
				t.Error("Lacks of an unlisted name = true")
			}
		})
	}
	// A list cut short is corrupt, not an empty list.
	b := appendHeader(nil, tests[2].h)
	if _, err := decodeHeader(b[:len(b)-3]); err == nil {
		t.Error("cut list decoded without error")
	}
}
