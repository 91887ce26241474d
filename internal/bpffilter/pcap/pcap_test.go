package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
	"github.com/pwru-record/pwru-record/internal/ebpfinterp"
	"github.com/pwru-record/pwru-record/internal/pktcorpus"
)

// pktBase is where test packets live in the fake kernel memory.
const pktBase uint64 = 0xffff_8880_0010_0000

// runFilter runs translated filter code over pkt the way the kernel program
// calls a placeholder, checks the invariants every run must keep, and
// returns the verdict. The packet is followed by readable junk so a missing
// bounds check shows up as a wrong verdict rather than a failed read.
func runFilter(tb testing.TB, code asm.Instructions, pkt []byte) bool {
	tb.Helper()
	mem := &ebpfinterp.Memory{}
	img := append(append([]byte(nil), pkt...), bytes.Repeat([]byte{0xa5}, 64)...)
	if err := mem.Map(pktBase, img); err != nil {
		tb.Fatal(err)
	}
	res, err := ebpfinterp.Run(code, &ebpfinterp.Options{Memory: mem}, pktBase, pktBase+uint64(len(pkt)))
	if err != nil {
		tb.Fatalf("run: %v", err)
	}
	if res.R0 > 1 {
		tb.Fatalf("r0 = %d, want 0 or 1", res.R0)
	}
	if res.MaxStackDepth > StackBytes {
		tb.Fatalf("used %d bytes of stack, StackBytes is %d", res.MaxStackDepth, StackBytes)
	}
	return res.R0 == 1
}

// expressions covers the primitives of pcap-filter(7) the recorder's users
// reach for.
var expressions = []string{
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "host 192.168.7.9",
	"net 10.0.0.0/24", "src net 192.168.0.0/16", "dst net 224.0.0.0/4",
	"port 80", "tcp port 80", "udp port 53", "dst port 8080", "src port 12345",
	"portrange 1-1024", "tcp portrange 8000-9000", "udp dst portrange 5000-6000",
	"tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", "tcp[13] & 4 != 0",
	"len > 100", "len <= 60", "greater 80", "less 64",
	"ip proto 17", "ip6 proto 58", "proto 6",
	"icmp[icmptype] == icmp-echo", "icmp[icmptype] != icmp-echoreply", "icmp and icmp[icmpcode] == 3",
	"icmp6 and ip6[40] == 128", "icmp6[icmp6type] == icmp6-neighborsolicit",
	"host 2001:db8::1", "ip6 net 2001:db8::/32", "src host fe80::1",
	"not tcp", "tcp and not port 80", "udp or icmp", "(tcp or udp) and host 10.0.0.1",
	"not (port 53 or port 80)",
	"ether host 02:00:00:00:00:01", "ether broadcast", "ether dst 02:00:00:00:00:02", "ether proto 0x0806",
	"arp host 10.0.0.1", "vlan", "vlan 100 and udp", "vlan 200", "vlan and vlan 200 and tcp port 443",
	"ip[8] == 64", "ip[6:2] & 0x1fff != 0", "ip[0] & 0xf > 5", "ip6[6] == 6",
	"udp[8:4] == 0xdeadbeef", "tcp[20:4] == 0x47455420",
	"ip multicast", "ip6 multicast",
	"tcp and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
	"udp and len - 14 > 50 and udp[4:2] * 2 > 30",
	"ip host 10.0.0.1 and (tcp[tcpflags] & tcp-fin != 0)",
	"tcp[tcpflags] & tcp-rst != 0 or udp[0:2] > 1000",
	"(ip[0] << (ip[9] & 0x3f)) & 0xff00 != 0", "ip[8] >> (ip[9] - 1) == 0",
	"ip[2:2] / (ip[9] - 6) > 10", "ip[2:2] % 7 < 3", "ip[0] << (ip[9] * 3) != 0", "tcp[0:2] - tcp[2:2] > 1000",
	// Encapsulations: constant shifts (mpls, pppoes) and libpcap's
	// unoptimised code with scratch registers (geneve).
	"mpls", "mpls 100 and udp port 53", "mpls 200 and mpls 300 and tcp port 80", "pppoed", "pppoes 0x1234 and tcp port 80",
	"pppoes and ip", "geneve", "geneve 7 and tcp port 80", "geneve and ether src 02:00:00:00:00:02 and ip host 192.168.7.9",
	"llc", "stp", "llc and not stp",
}

func corpusInputs(tb testing.TB, l3 bool) map[string][]byte {
	tb.Helper()
	in, err := pktcorpus.Inputs(l3)
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

func TestAgainstLibpcap(t *testing.T) {
	if !libpcapAvailable {
		t.Skip("libpcap needs cgo on linux: built without it")
	}
	total, agree := 0, 0
	for _, l3 := range []bool{false, true} {
		inputs := corpusInputs(t, l3)
		for _, expr := range expressions {
			t.Run(fmt.Sprintf("l3=%v/%s", l3, expr), func(t *testing.T) {
				raw, err := compileCBPF(expr, l3)
				if err != nil {
					if l3 {
						t.Skipf("not an l3 expression: %v", err)
					}
					t.Fatal(err)
				}
				filter := make([]bpf.Instruction, len(raw))
				for i, r := range raw {
					filter[i] = r.Disassemble()
				}
				code, err := Translate(filter, "f")
				if err != nil {
					t.Fatal(err)
				}
				if err := patch.Check(code, 2); err != nil {
					t.Fatal(err)
				}
				matches := 0
				for name, pkt := range inputs {
					want := libpcapFilter(raw, pkt) != 0
					got := runFilter(t, code, pkt)
					total++
					if got != want {
						t.Errorf("%s (%d bytes): ebpf %v, libpcap %v", name, len(pkt), got, want)
						continue
					}
					agree++
					if want {
						matches++
					}
				}
				t.Logf("%d inputs, %d match", len(inputs), matches)
			})
		}
	}
	t.Logf("%d (expression, packet) pairs, %d agree with libpcap", total, agree)
}

// TestTranslateAgainstXNetVM covers cBPF features libpcap rarely emits
// (scratch memory, every ALU op, X register, len, RetA) with hand-written
// programs and golang.org/x/net/bpf's interpreter as the reference. It
// needs no libpcap.
func TestTranslateAgainstXNetVM(t *testing.T) {
	progs := []struct {
		name string
		prog []bpf.Instruction
	}{
		{"ret-all", []bpf.Instruction{bpf.RetConstant{Val: 0xffff}}},
		{"ret-none", []bpf.Instruction{bpf.RetConstant{Val: 0}}},
		{"len-ret-a", []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}, bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 20}, bpf.RetA{}}},
		{"scratch", []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.StoreScratch{Src: bpf.RegA, N: 3},
			bpf.LoadAbsolute{Off: 1, Size: 1},
			bpf.StoreScratch{Src: bpf.RegA, N: 15},
			bpf.LoadScratch{Dst: bpf.RegX, N: 3},
			bpf.LoadScratch{Dst: bpf.RegA, N: 15},
			bpf.ALUOpX{Op: bpf.ALUOpAdd},
			bpf.StoreScratch{Src: bpf.RegX, N: 7},
			bpf.LoadScratch{Dst: bpf.RegX, N: 7},
			bpf.ALUOpX{Op: bpf.ALUOpOr},
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 100, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.RetConstant{Val: 1},
		}},
		{"alu", []bpf.Instruction{
			bpf.LoadAbsolute{Off: 2, Size: 4},
			bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 3},
			bpf.ALUOpConstant{Op: bpf.ALUOpDiv, Val: 7},
			bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: 1000},
			bpf.ALUOpConstant{Op: bpf.ALUOpXor, Val: 0x5a},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 3},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 0xffff_fff0},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xfff},
			bpf.TAX{},
			bpf.LoadAbsolute{Off: 0, Size: 2},
			bpf.ALUOpX{Op: bpf.ALUOpSub},
			bpf.JumpIfX{Cond: bpf.JumpGreaterOrEqual, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.RetA{},
		}},
		{"indirect", []bpf.Instruction{
			bpf.LoadMemShift{Off: 0},
			bpf.LoadIndirect{Off: 1, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x8000, SkipTrue: 2},
			bpf.LoadIndirect{Off: 3, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x1, SkipFalse: 1},
			bpf.RetConstant{Val: 9},
			bpf.TXA{},
			bpf.RetA{},
		}},
		// libpcap and x/net/bpf shift by 32 or more to 0; eBPF would
		// shift by X mod 32.
		{"lshift-by-x", []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.TAX{},
			bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff},
			bpf.ALUOpX{Op: bpf.ALUOpShiftLeft},
			bpf.RetA{},
		}},
		{"rshift-by-x", []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.TAX{},
			bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff},
			bpf.ALUOpX{Op: bpf.ALUOpShiftRight},
			bpf.RetA{},
		}},
		{"negative-imm", []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0xffffffff, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.RetConstant{Val: 5},
		}},
	}
	inputs := [][]byte{
		nil, {0}, {0x12}, {0xff, 0xff, 0xff, 0xff, 0xff},
		{0x45, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06},
		{0x41, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08},
		{0x02, 0x10, 0x21, 0x00, 0x7f, 0x01},
		{0x20}, {0x1f}, {0x40},
		bytes.Repeat([]byte{0x33}, 64),
	}
	for _, p := range progs {
		t.Run(p.name, func(t *testing.T) {
			vm, err := bpf.NewVM(p.prog)
			if err != nil {
				t.Fatal(err)
			}
			code, err := Translate(p.prog, "p")
			if err != nil {
				t.Fatal(err)
			}
			if err := patch.Check(code, 2); err != nil {
				t.Fatal(err)
			}
			for _, in := range inputs {
				n, err := vm.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := runFilter(t, code, in), n != 0; got != want {
					t.Errorf("input % x: ebpf %v, x/net/bpf %v", in, got, want)
				}
			}
		})
	}
}

// TestReadFailure checks that an unreadable packet means no match rather
// than a verdict computed from stale stack bytes.
func TestReadFailure(t *testing.T) {
	code, err := Translate([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 1},
		bpf.RetConstant{Val: 1},
	}, "p")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing mapped: the read faults.
	res, err := ebpfinterp.Run(code, nil, pktBase, pktBase+100)
	if err != nil {
		t.Fatal(err)
	}
	if res.R0 != 0 {
		t.Errorf("r0 = %d for an unreadable packet, want 0", res.R0)
	}
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		name   string
		prog   []bpf.Instruction
		prefix string
		want   string
	}{
		{"empty", nil, "p", "translate cbpf: empty program"},
		{"no-prefix", []bpf.Instruction{bpf.RetConstant{Val: 1}}, "", "translate cbpf: empty label prefix"},
		{"extension", []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtProto}, bpf.RetA{}}, "p", "translate cbpf: unsupported BPF extension 0: ld #proto"},
		{"backward-jump", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.Jump{Skip: 0xfffffffe}, bpf.RetConstant{Val: 1}}, "p",
			"translate cbpf: instruction 1 jumps backwards: the kernel cannot run loops (libpcap's protochain); filter offline with pwru-replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Translate(tt.prog, tt.prefix)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	if !libpcapAvailable {
		_, err := CompileCBPF("tcp", false)
		if !errors.Is(err, ErrNoLibpcap) {
			t.Fatalf("error %v, want ErrNoLibpcap", err)
		}
		return
	}
	tests := []struct {
		expr string
		l3   bool
		want string
	}{
		{"tcp port", false, `compile pcap filter "tcp port": can't parse filter expression: syntax error`},
		{"bogus", false, `compile pcap filter "bogus": can't parse filter expression: syntax error`},
		{"port 99999", false, `compile pcap filter "port 99999": illegal port number 99999 > 65535`},
		{"host 10.0.0.300", false, `compile pcap filter "host 10.0.0.300": invalid IPv4 address '10.0.0.300'`},
		{"ip broadcast", false, `compile pcap filter "ip broadcast": netmask not known, so 'ip broadcast' not supported`},
		{"vlan", true, `compile pcap filter "vlan": no VLAN support for Raw IP`},
		{"ip protochain 6", false, `compile pcap filter "ip protochain 6": translate cbpf: instruction 19 jumps backwards: the kernel cannot run loops (libpcap's protochain); filter offline with pwru-replay`},
		{"ether host 1:2:3:4:5:6", true, `compile pcap filter "ether host 1:2:3:4:5:6": ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr, tt.l3, "p")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzTranslate compiles arbitrary classic BPF programs (8 bytes per
// instruction) that golang.org/x/net/bpf accepts and cbpfc translates, and
// compares the eBPF verdict with x/net/bpf's interpreter on the packet.
func FuzzTranslate(f *testing.F) {
	seed := func(prog []bpf.Instruction, pkt []byte) {
		raw, err := bpf.Assemble(prog)
		if err != nil {
			f.Fatal(err)
		}
		var b []byte
		for _, r := range raw {
			b = binary.LittleEndian.AppendUint16(b, r.Op)
			b = append(b, r.Jt, r.Jf)
			b = binary.LittleEndian.AppendUint32(b, r.K)
		}
		f.Add(b, pkt)
	}
	seed([]bpf.Instruction{bpf.LoadAbsolute{Off: 12, Size: 2}, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x800, SkipFalse: 1}, bpf.RetConstant{Val: 1}, bpf.RetConstant{Val: 0}}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 8, 0})
	seed([]bpf.Instruction{bpf.LoadMemShift{Off: 0}, bpf.LoadIndirect{Off: 1, Size: 4}, bpf.TAX{}, bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.ALUOpX{Op: bpf.ALUOpShiftLeft}, bpf.RetA{}}, []byte{0x41, 0, 0, 0, 40, 0xff})
	seed([]bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}, bpf.StoreScratch{Src: bpf.RegA, N: 2}, bpf.LoadScratch{Dst: bpf.RegX, N: 2}, bpf.ALUOpX{Op: bpf.ALUOpDiv}, bpf.RetA{}}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, code, pkt []byte) {
		if len(code) < 8 || len(code) > 8*48 || len(pkt) > 256 {
			return
		}
		var prog []bpf.Instruction
		for i := 0; i+8 <= len(code); i += 8 {
			r := bpf.RawInstruction{
				Op: binary.LittleEndian.Uint16(code[i:]), Jt: code[i+2], Jf: code[i+3],
				K: binary.LittleEndian.Uint32(code[i+4:]),
			}
			prog = append(prog, r.Disassemble())
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			return
		}
		for _, ins := range prog {
			switch ins := ins.(type) {
			case bpf.NegateA, bpf.RawInstruction:
				return // x/net/bpf cannot run it
			case bpf.LoadExtension:
				if ins.Num != bpf.ExtLen {
					return
				}
			}
		}
		want, err := vm.Run(pkt)
		if err != nil {
			return
		}
		code2, err := Translate(prog, "f")
		if err != nil {
			return // cbpfc refuses it (unreachable code, uninitialised scratch, ...)
		}
		if err := patch.Check(code2, 2); err != nil {
			t.Fatalf("%v\n%v", err, code2)
		}
		mem := &ebpfinterp.Memory{}
		if err := mem.Map(pktBase, append(append([]byte(nil), pkt...), bytes.Repeat([]byte{0xa5}, 64)...)); err != nil {
			t.Fatal(err)
		}
		res, err := ebpfinterp.Run(code2, &ebpfinterp.Options{Memory: mem}, pktBase, pktBase+uint64(len(pkt)))
		if errors.Is(err, ebpfinterp.ErrUnsupported) {
			return // a constant shift the kernel verifier would refuse too
		}
		if err != nil {
			t.Fatalf("run: %v\n%v", err, code2)
		}
		if got := res.R0 == 1; got != (want != 0) {
			t.Fatalf("ebpf %v, x/net/bpf %d\nprog %v\npkt % x\n%v", got, want, prog, pkt, code2)
		}
	})
}
