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

// TestHeaderData: the 1.1 fields (byte order, metadata expressions)
// round-trip whatever comes before them, a header with none of them is
// byte for byte a 1.0 header, and the file's minor version says which.
func TestHeaderData(t *testing.T) {
	base := Header{Hostname: "h", Options: map[string]string{"kmods": "veth"}}
	plain := appendHeader(nil, &base)
	tests := []struct {
		name      string
		edit      func(*Header)
		wantMinor uint16
	}{
		{"none", func(*Header) {}, 0},
		{"byte order", func(h *Header) { h.ByteOrder = BigEndian }, 1},
		{"skb metadata", func(h *Header) { h.SKBMetadata = []string{"skb->hash", "skb->dev->ifindex"} }, 1},
		{"xdp metadata only", func(h *Header) { h.XDPMetadata = []string{"xdp->rxq->queue_index"} }, 1},
		{"all after lacks and redaction", func(h *Header) {
			h.Redaction = RedactPayloads
			h.KernelLacks = []string{LackDropReason}
			h.ByteOrder = LittleEndian
			h.SKBMetadata = []string{"skb->mark"}
			h.XDPMetadata = []string{"xdp->data_end"}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base
			tt.edit(&h)
			b := appendHeader(nil, &h)
			if tt.wantMinor == 0 && string(b) != string(plain) {
				t.Errorf("header without 1.1 fields changed: %x, was %x", b, plain)
			}
			if got := h.minorVersion(); got != tt.wantMinor {
				t.Errorf("minor version %d, want %d", got, tt.wantMinor)
			}
			got, err := decodeHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&h, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(h.XDPMetadata) > 0 {
				if _, err := decodeHeader(b[:len(b)-2]); err == nil {
					t.Error("cut metadata list decoded without error")
				}
			}
		})
	}
}

// TestHeaderFallbacks: a 1.0 header (no byte order, metadata only as the
// recorder's option text) reads as it always did, and stored data wins
// over the option text.
func TestHeaderFallbacks(t *testing.T) {
	tests := []struct {
		name           string
		h              Header
		wantBig        bool
		wantSKB, wantX []string
	}{
		{"empty", Header{}, false, nil, nil},
		{"1.0 x86", Header{Uname: Uname{Machine: "x86_64"}, Options: map[string]string{
			"output-skb-metadata": " skb->hash, skb->mark ", "output-xdp-metadata": "xdp->data_end"}},
			false, []string{"skb->hash", "skb->mark"}, []string{"xdp->data_end"}},
		{"1.0 s390x", Header{Uname: Uname{Machine: "s390x"}}, true, nil, nil},
		{"stored order wins", Header{Uname: Uname{Machine: "s390x"}, ByteOrder: LittleEndian}, false, nil, nil},
		{"stored big", Header{Uname: Uname{Machine: "x86_64"}, ByteOrder: BigEndian}, true, nil, nil},
		{"stored metadata wins", Header{Options: map[string]string{"output-skb-metadata": "skb->hash"},
			SKBMetadata: []string{"skb->len"}}, false, []string{"skb->len"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if big := tt.h.Order().Uint16([]byte{0, 1}) == 1; big != tt.wantBig {
				t.Errorf("big-endian = %v, want %v", big, tt.wantBig)
			}
			if diff := cmp.Diff(tt.wantSKB, tt.h.Metadata(BlobMeta)); diff != "" {
				t.Errorf("skb metadata (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantX, tt.h.Metadata(BlobXDPMeta)); diff != "" {
				t.Errorf("xdp metadata (-want +got):\n%s", diff)
			}
			if got := tt.h.Metadata(BlobSKB); got != nil {
				t.Errorf("Metadata(BlobSKB) = %q, want none", got)
			}
		})
	}
}
