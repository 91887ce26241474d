package fakecapture_test

import (
	"bytes"
	"testing"

	"net/netip"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

func TestDeterministic(t *testing.T) {
	a := fakecapture.Generate(fakecapture.Config{Seed: 5, SKBs: 50})
	b := fakecapture.Generate(fakecapture.Config{Seed: 5, SKBs: 50})
	c := fakecapture.Generate(fakecapture.Config{Seed: 6, SKBs: 50})
	opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreUnexported(fakecapture.Stream{})}
	if diff := cmp.Diff(a, b, opts); diff != "" {
		t.Errorf("same seed, different streams (-a +b):\n%s", diff)
	}
	if cmp.Equal(a.Events, c.Events, opts) {
		t.Error("different seeds gave the same events")
	}
}

// TestRealistic checks the properties the analyzer tests and benchmarks
// rely on.
func TestRealistic(t *testing.T) {
	tests := []struct {
		name string
		cfg  fakecapture.Config
	}{
		{"default", fakecapture.Config{Seed: 1}},
		{"busy", fakecapture.Config{Seed: 2, SKBs: 300, Concurrent: 20, DropPercent: 30, ClonePercent: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakecapture.Generate(tt.cfg)
			probes := map[uint32]format.Probe{}
			for _, p := range s.Probes {
				probes[p.ID] = p
			}
			syms := format.NewSymbols(s.Symbols)
			perSKB := map[uint64]int{}
			tracks := map[uint64]map[uint64]bool{}
			times := map[uint64]bool{}
			protos := map[uint8]bool{}
			var drops, v6 int
			for _, e := range s.Events {
				p, ok := probes[e.ProbeID]
				if !ok {
					t.Fatalf("event names unknown probe %d", e.ProbeID)
				}
				if sym, off, ok := syms.Lookup(p.Addr); !ok || off != 0 || sym.Name != p.Name {
					t.Fatalf("probe %s at %#x has no kallsyms entry", p.Name, p.Addr)
				}
				if times[e.Time] {
					t.Fatalf("two events at time %d", e.Time)
				}
				times[e.Time] = true
				perSKB[e.SKB]++
				if tracks[e.TrackID] == nil {
					tracks[e.TrackID] = map[uint64]bool{}
				}
				tracks[e.TrackID][e.SKB] = true
				protos[e.Tuple.Proto] = true
				if e.Tuple.Src.Is6() {
					v6++
				}
				if e.Flags&format.FlagDropReason != 0 {
					drops++
					if e.DropReason == 0 {
						t.Error("drop event without a reason")
					}
				}
				if e.StackID > uint32(len(s.Stacks)) || e.PayloadID > uint32(len(s.Packets)) {
					t.Fatalf("event references stack %d / packet %d beyond the stream", e.StackID, e.PayloadID)
				}
			}
			long := 0
			for _, n := range perSKB {
				if n >= 20 {
					long++
				}
			}
			clones := 0
			for _, skbs := range tracks {
				if len(skbs) > 1 {
					clones++
				}
			}
			for _, want := range []uint8{1, 6, 17, 58} {
				if !protos[want] {
					t.Errorf("no event with IP protocol %d", want)
				}
			}
			if drops == 0 || clones == 0 || v6 == 0 || long < len(perSKB)/2 {
				t.Errorf("drops %d, cloned skbs %d, IPv6 events %d, skbs with >= 20 events %d of %d", drops, clones, v6, long, len(perSKB))
			}
			if sorted := s.SortedEvents(); len(sorted) != len(s.Events) {
				t.Error("SortedEvents lost events")
			}
		})
	}
}

func TestPackets(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 3, SKBs: 200, PayloadPercent: 100})
	seen := map[gopacket.LayerType]bool{}
	for i, p := range s.Packets {
		pkt := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", i+1, el.Error())
		}
		for _, l := range pkt.Layers() {
			seen[l.LayerType()] = true
		}
		if int(p.OrigLen) != len(p.Data) || p.Time == 0 {
			t.Errorf("packet %d: orig len %d, %d bytes, time %d", i+1, p.OrigLen, len(p.Data), p.Time)
		}
	}
	for _, lt := range []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeIPv6, layers.LayerTypeTCP,
		layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6} {
		if !seen[lt] {
			t.Errorf("no %v packet", lt)
		}
	}
}

func TestBTFAndWrite(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 4, SKBs: 30, StackPercent: 50, BlobPercent: 50})
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(s.BTF))
	if err != nil {
		t.Fatal(err)
	}
	var reason *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &reason); err != nil || len(reason.Values) == 0 {
		t.Fatalf("enum skb_drop_reason: %v", err)
	}
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fakecapture.WriteStream(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Events != uint64(len(s.Events)) || st.Stacks != uint64(len(s.Stacks)) || st.Blobs != uint64(len(s.Blobs)) {
		t.Errorf("writer stats %+v, stream has %d events, %d stacks, %d blobs", st, len(s.Events), len(s.Stacks), len(s.Blobs))
	}
}
