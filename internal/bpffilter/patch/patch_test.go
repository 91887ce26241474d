package patch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

// placeholders are the six functions of DESIGN.md, all in testdata.
var placeholders = []string{
	"filter_pcap_l2", "filter_pcap_l3", "filter_pcap_tunnel_l2",
	"filter_pcap_tunnel_l3", "filter_skb_expr", "filter_xdp_expr",
}

func mustLoad(tb testing.TB) *ebpf.CollectionSpec {
	tb.Helper()
	spec, err := ebpf.LoadCollectionSpec("testdata/placeholders.o")
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

func TestBoundsInELF(t *testing.T) {
	spec := mustLoad(t)
	want := map[string][]string{
		"probe_skb": {"filter_pcap_l2", "filter_pcap_l3", "filter_pcap_tunnel_l2", "filter_pcap_tunnel_l3", "filter_skb_expr"},
		"probe_xdp": {"filter_pcap_l2", "filter_xdp_expr"},
	}
	for prog, fns := range want {
		insns := spec.Programs[prog].Instructions
		for _, fn := range placeholders {
			start, end, ok := Bounds(insns, fn)
			if ok != slices.Contains(fns, fn) {
				t.Errorf("%s: Bounds(%s) ok = %v", prog, fn, ok)
				continue
			}
			if !ok {
				continue
			}
			// The default body is r0 = 1; r0 &= 1; exit.
			if end-start != 3 || insns[end-1].OpCode.JumpOp() != asm.Exit {
				t.Errorf("%s: %s spans [%d, %d):\n%v", prog, fn, start, end, insns[start:end])
			}
			if btf.FuncMetadata(&insns[start]) == nil {
				t.Errorf("%s: %s has no BTF func metadata", prog, fn)
			}
		}
	}
}

func TestReplace(t *testing.T) {
	spec := mustLoad(t)
	body := Frame(asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R0, 7),
		asm.Ja.Label("x_exit"),
	}, "x_exit")
	if err := Check(body, 2); err != nil {
		t.Fatal(err)
	}
	changed, err := Replace(spec, "filter_pcap_l2", body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"probe_skb", "probe_xdp"}, changed); diff != "" {
		t.Errorf("changed programs (-want +got):\n%s", diff)
	}
	for _, name := range changed {
		insns := spec.Programs[name].Instructions
		start, end, ok := Bounds(insns, "filter_pcap_l2")
		if !ok {
			t.Fatalf("%s: placeholder gone", name)
		}
		if end-start != len(body) {
			t.Errorf("%s: body has %d instructions, want %d", name, end-start, len(body))
		}
		if btf.FuncMetadata(&insns[start]) == nil || insns[start].Source() == nil {
			t.Errorf("%s: function start lost its func or line info", name)
		}
		// The whole program still encodes: every label and call resolves.
		var buf bytes.Buffer
		if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
			t.Errorf("%s: marshal: %v", name, err)
		}
	}

	// Injecting a second time with the same labels must fail cleanly.
	if _, err := Replace(spec, "filter_pcap_l3", body); err == nil || !strings.Contains(err.Error(), `symbol "x_exit" defined twice`) {
		t.Errorf("second Replace with the same labels: %v", err)
	}
	if _, err := Replace(spec, "no_such_function", body); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replace of a missing function: %v, want ErrNotFound", err)
	}
	if _, err := Replace(spec, "filter_pcap_l3", nil); err == nil {
		t.Error("Replace with an empty body succeeded")
	}
}

func TestFrame(t *testing.T) {
	out := Frame(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1), asm.Mov.Reg(asm.R0, asm.R6), asm.Ja.Label("e")}, "e")
	want := []string{"MovReg dst: r6 src: r1", "MovReg dst: r0 src: r6", "Ja off: -1 <e>", "JEqImm dst: r0 off: -1 imm: 0 <e_ret>", "MovImm dst: r0 imm: 1", "Exit"}
	var got []string
	for _, ins := range out {
		got = append(got, fmt.Sprint(ins))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Frame (-want +got):\n%s", diff)
	}
	if err := Check(out, 1); err != nil {
		t.Error(err)
	}
}

func TestCheckRejects(t *testing.T) {
	ok := Frame(asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Ja.Label("e")}, "e")
	frame := func(body ...asm.Instruction) asm.Instructions { return Frame(body, "e") }
	tests := []struct {
		name string
		body asm.Instructions
		args int
		want string
	}{
		{"empty", nil, 1, "check body: empty"},
		{"args", ok, 6, "6 arguments"},
		{"falls through", asm.Instructions{asm.Mov.Imm(asm.R0, 1)}, 1, "falls through"},
		{"unknown label", asm.Instructions{asm.Ja.Label("nowhere"), asm.Return()}, 1, `unknown label "nowhere"`},
		{"jump out", asm.Instructions{{OpCode: asm.Ja.Op(asm.ImmSource), Offset: 5}, asm.Return()}, 1, "jumps out of the body"},
		{"packet load", asm.Instructions{asm.LoadMem(asm.R0, asm.R1, 0, asm.Byte), asm.Return()}, 1, "loads through r1"},
		{"stack overflow", asm.Instructions{asm.StoreMem(asm.R10, -520, asm.R0, asm.DWord), asm.Return()}, 1, "out of range"},
		{"other helper", asm.Instructions{asm.FnMapLookupElem.Call(), asm.Return()}, 1, "only bpf_probe_read_kernel"},
		{"write r10", asm.Instructions{asm.Mov.Imm(asm.R10, 0), asm.Return()}, 1, "writes r10"},
		{"callee reads r6", frame(asm.StoreMem(asm.R10, -8, asm.R6, asm.DWord), asm.Mov.Imm(asm.R0, 1), asm.Ja.Label("e")), 1, "reads r6 before it is written"},
		{"reads missing argument", frame(asm.Mov.Reg(asm.R0, asm.R2), asm.Ja.Label("e")), 1, "reads r2 before it is written"},
		{"r3 after call", frame(
			asm.Mov.Reg(asm.R3, asm.R1), asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, -8), asm.Mov.Imm(asm.R2, 8),
			asm.FnProbeReadKernel.Call(), asm.Mov.Reg(asm.R0, asm.R3), asm.Ja.Label("e")), 1, "reads r3 before it is written"},
		{"one path unwritten", frame(
			asm.JEq.Imm(asm.R1, 0, "skip"), asm.Mov.Imm(asm.R7, 1),
			asm.Mov.Reg(asm.R0, asm.R7).WithSymbol("skip"), asm.Ja.Label("e")), 1, "reads r7 before it is written on some path"},
		{"no verdict epilogue", asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, 1, "does not follow the 0/1 verdict epilogue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.body, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check: %v, want error containing %q", err, tt.want)
			}
		})
	}
}
