package packets

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestBuild(t *testing.T) {
	a, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 25 || len(a) != len(b) {
		t.Fatalf("%d and %d packets", len(a), len(b))
	}
	seen := map[string]bool{}
	for i, p := range a {
		if seen[p.Name] {
			t.Errorf("duplicate name %s", p.Name)
		}
		seen[p.Name] = true
		if !bytes.Equal(p.Frame, b[i].Frame) {
			t.Errorf("%s: differs between calls", p.Name)
		}
		// L3Off points at an IPv4/IPv6 header exactly when the frame
		// carries one. (Payloads are deliberately not always valid
		// application data, so later decoding errors are expected.)
		pkt := gopacket.NewPacket(p.Frame, layers.LayerTypeEthernet, gopacket.Default)
		nl := pkt.NetworkLayer()
		isIP := nl != nil && (nl.LayerType() == layers.LayerTypeIPv4 || nl.LayerType() == layers.LayerTypeIPv6)
		if isIP != (p.L3Off != 0) {
			t.Errorf("%s: network layer %v, L3Off %d", p.Name, nl, p.L3Off)
		}
		if isIP && !bytes.HasPrefix(p.Frame[p.L3Off:], nl.LayerContents()) {
			t.Errorf("%s: L3Off %d does not match the decoded header", p.Name, p.L3Off)
		}
	}
}

func TestInputs(t *testing.T) {
	for _, l3 := range []bool{false, true} {
		in, err := Inputs(l3)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) < 400 {
			t.Errorf("l3=%v: only %d inputs", l3, len(in))
		}
		for name, data := range in {
			if l3 && len(data) > 0 && data[0]>>4 != 4 && data[0]>>4 != 6 && name != "garbage-version-5" {
				t.Errorf("l3 input %s starts with %#x, not an IP version", name, data[0])
			}
		}
	}
}
