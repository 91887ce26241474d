package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
	"github.com/pwru-record/pwru-record/internal/pktcorpus"
)

func mustLoad(tb testing.TB, path string) *ebpf.CollectionSpec {
	tb.Helper()
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// body extracts a placeholder's instructions from a program, ready to run
// on its own.
func body(tb testing.TB, spec *ebpf.CollectionSpec, prog, fn string) asm.Instructions {
	tb.Helper()
	insns := spec.Programs[prog].Instructions
	start, end, ok := patch.Bounds(insns, fn)
	if !ok {
		tb.Fatalf("%s: %s missing", prog, fn)
	}
	if btf.FuncMetadata(&insns[start]) == nil {
		tb.Errorf("%s: %s lost its BTF func info", prog, fn)
	}
	out := append(asm.Instructions(nil), insns[start:end]...)
	out[0] = out[0].WithSymbol("")
	return out
}

func TestInjectAll(t *testing.T) {
	if !libpcapAvailable {
		t.Skip("libpcap needs cgo on linux: built without it")
	}
	frames, err := pktcorpus.Build()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(name string) pktcorpus.Packet {
		for _, p := range frames {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no corpus packet %s", name)
		return pktcorpus.Packet{}
	}
	syn, arp, udp := frame("tcp4-syn-80"), frame("arp-request"), frame("udp4-dns")

	tests := []struct {
		name           string
		expr, tl2, tl3 string
		changed        []string // placeholders that must differ from the default
	}{
		{
			name: "tcp port 80", expr: "tcp port 80",
			changed: []string{PlaceholderL2, PlaceholderL3},
		},
		{
			name: "arp: l3 rejects all", expr: "arp",
			changed: []string{PlaceholderL2, PlaceholderL3},
		},
		{
			name: "tunnel only", tl2: "udp", tl3: "udp port 53",
			changed: []string{PlaceholderTunnelL2, PlaceholderTunnelL3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := mustLoad(t, "../patch/testdata/placeholders.o")
			orig := mustLoad(t, "../patch/testdata/placeholders.o")
			if err := InjectAll(spec, tt.expr, tt.tl2, tt.tl3); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"probe_skb", "probe_xdp"} {
				var buf bytes.Buffer
				if err := spec.Programs[name].Instructions.Marshal(&buf, binary.LittleEndian); err != nil {
					t.Fatalf("%s: marshal: %v", name, err)
				}
			}
			for _, fn := range []string{PlaceholderL2, PlaceholderL3, PlaceholderTunnelL2, PlaceholderTunnelL3} {
				got, def := body(t, spec, "probe_skb", fn), body(t, orig, "probe_skb", fn)
				changed := len(got) != len(def)
				want := false
				for _, c := range tt.changed {
					want = want || c == fn
				}
				if changed != want {
					t.Errorf("%s changed = %v, want %v", fn, changed, want)
				}
				if changed {
					if err := patch.Check(got, 2); err != nil {
						t.Errorf("%s: %v", fn, err)
					}
				}
			}
		})
	}

	// Verdicts of the injected bodies, run as the kernel program runs them.
	spec := mustLoad(t, "../patch/testdata/placeholders.o")
	if err := InjectAll(spec, "tcp port 80", "", "udp port 53"); err != nil {
		t.Fatal(err)
	}
	l2, l3 := body(t, spec, "probe_skb", PlaceholderL2), body(t, spec, "probe_skb", PlaceholderL3)
	tl3 := body(t, spec, "probe_skb", PlaceholderTunnelL3)
	for _, c := range []struct {
		name string
		code asm.Instructions
		pkt  []byte
		want bool
	}{
		{"l2 syn", l2, syn.Frame, true},
		{"l3 syn", l3, syn.Frame[syn.L3Off:], true},
		{"l2 udp", l2, udp.Frame, false},
		{"l3 udp", l3, udp.Frame[udp.L3Off:], false},
		{"l2 syn as l3", l3, syn.Frame, false},
		{"tunnel l3 udp", tl3, udp.Frame[udp.L3Off:], true},
		{"tunnel l3 syn", tl3, syn.Frame[syn.L3Off:], false},
	} {
		if got := runFilter(t, c.code, c.pkt); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	spec = mustLoad(t, "../patch/testdata/placeholders.o")
	if err := InjectAll(spec, "arp", "", ""); err != nil {
		t.Fatal(err)
	}
	if !runFilter(t, body(t, spec, "probe_skb", PlaceholderL2), arp.Frame) {
		t.Error("arp: l2 does not match an ARP frame")
	}
	if runFilter(t, body(t, spec, "probe_skb", PlaceholderL3), syn.Frame[syn.L3Off:]) {
		t.Error("arp: l3 matches an IP packet")
	}
}

func TestInjectErrors(t *testing.T) {
	spec := mustLoad(t, "../patch/testdata/placeholders.o")
	if err := Inject(spec, PlaceholderL2, "", false); err != nil {
		t.Errorf("empty expression: %v", err)
	}
	if !libpcapAvailable {
		if err := InjectAll(spec, "tcp", "", ""); !errors.Is(err, ErrNoLibpcap) {
			t.Errorf("without libpcap: %v, want ErrNoLibpcap", err)
		}
		return
	}
	err := InjectAll(spec, "tcp port", "", "")
	if want := `compile pcap filter "tcp port": can't parse filter expression: syntax error`; err == nil || err.Error() != want {
		t.Errorf("bad expression: %v, want %s", err, want)
	}
	err = InjectAll(spec, "", "", "vlan")
	if want := `compile pcap filter "vlan": no VLAN support for Raw IP`; err == nil || err.Error() != want {
		t.Errorf("bad tunnel l3 expression: %v, want %s", err, want)
	}
	err = Inject(spec, "filter_missing", "tcp", false)
	if !errors.Is(err, patch.ErrNotFound) {
		t.Errorf("missing placeholder: %v, want ErrNotFound", err)
	}
}

// TestInjectRecorderProgram injects into the recorder's own committed
// object when it is present, to catch drift between its placeholders and
// this package.
func TestInjectRecorderProgram(t *testing.T) {
	const path = "../../bpf/pwru_x86_bpfel.o"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("recorder object not built: %v", err)
	}
	if !libpcapAvailable {
		t.Skip("libpcap needs cgo on linux: built without it")
	}
	spec := mustLoad(t, path)
	if err := InjectAll(spec, "tcp port 80", "udp", "udp port 4789"); err != nil {
		t.Fatal(err)
	}
	for name, prog := range spec.Programs {
		var buf bytes.Buffer
		if err := prog.Instructions.Marshal(&buf, binary.LittleEndian); err != nil {
			t.Errorf("%s: marshal: %v", name, err)
		}
		for _, fn := range []string{PlaceholderL2, PlaceholderL3, PlaceholderTunnelL2, PlaceholderTunnelL3} {
			if start, end, ok := patch.Bounds(prog.Instructions, fn); ok {
				b := append(asm.Instructions(nil), prog.Instructions[start:end]...)
				b[0] = b[0].WithSymbol("")
				if err := patch.Check(b, 2); err != nil {
					t.Errorf("%s: %s: %v", name, fn, err)
				}
			}
		}
	}
}

// TestInjectTrigger injects a --trigger-pcap expression into the
// recorder's own object and runs the trigger placeholders of a kprobe and
// of the XDP program on packets: the main filter's placeholders stay the
// default, the trigger's match what the expression says.
func TestInjectTrigger(t *testing.T) {
	const path = "../../bpf/pwru_x86_bpfel.o"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("recorder object not built: %v", err)
	}
	if !libpcapAvailable {
		t.Skip("libpcap needs cgo on linux: built without it")
	}
	frames, err := pktcorpus.Build()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(name string) pktcorpus.Packet {
		for _, p := range frames {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no corpus packet %s", name)
		return pktcorpus.Packet{}
	}
	syn, udp, arp := frame("tcp4-syn-80"), frame("udp4-dns"), frame("arp-request")
	orig := mustLoad(t, path)
	spec := mustLoad(t, path)
	if err := InjectTrigger(spec, "udp port 53"); err != nil {
		t.Fatal(err)
	}
	if err := InjectTrigger(mustLoad(t, path), ""); err != nil {
		t.Errorf("empty expression: %v", err)
	}
	progs := []string{"kprobe_skb_1", "fentry_xdp"}
	for _, prog := range progs {
		if spec.Programs[prog] == nil {
			t.Fatalf("no program %s in the recorder object", prog)
		}
		for _, fn := range []string{PlaceholderL2, PlaceholderL3} {
			if _, _, ok := patch.Bounds(spec.Programs[prog].Instructions, fn); !ok {
				continue
			}
			if got, def := body(t, spec, prog, fn), body(t, orig, prog, fn); len(got) != len(def) {
				t.Errorf("%s: main filter %s changed by the trigger", prog, fn)
			}
		}
	}
	l2, l3 := body(t, spec, "kprobe_skb_1", PlaceholderTriggerL2), body(t, spec, "kprobe_skb_1", PlaceholderTriggerL3)
	xl2 := body(t, spec, "fentry_xdp", PlaceholderTriggerL2)
	for _, c := range []struct {
		name string
		code asm.Instructions
		pkt  []byte
		want bool
	}{
		{"l2 udp", l2, udp.Frame, true},
		{"l3 udp", l3, udp.Frame[udp.L3Off:], true},
		{"l2 syn", l2, syn.Frame, false},
		{"l3 syn", l3, syn.Frame[syn.L3Off:], false},
		{"l2 arp", l2, arp.Frame, false},
		{"xdp udp", xl2, udp.Frame, true},
		{"xdp syn", xl2, syn.Frame, false},
	} {
		if err := patch.Check(c.code, 2); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if got := runFilter(t, c.code, c.pkt); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	err = InjectTrigger(mustLoad(t, path), "udp port")
	if want := `compile pcap filter "udp port": can't parse filter expression: syntax error`; err == nil || err.Error() != want {
		t.Errorf("bad expression: %v, want %s", err, want)
	}
}
