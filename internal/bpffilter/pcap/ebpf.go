package pcap

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"
	"github.com/cloudflare/cbpfc"
	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
)

// ErrNoLibpcap is returned when a filter must be compiled by a binary built
// without libpcap (cgo disabled or not Linux).
var ErrNoLibpcap = errors.New("pcap filters need libpcap: binary built without cgo")

// Stack layout of the generated code, below R10.
const (
	// offIndirect holds cbpfc's indirect-load register (R5) across helper
	// calls, which clobber R1-R5.
	offIndirect = -8
	// offBuf is where bpf_probe_read_kernel copies packet bytes to.
	offBuf = -16
	// scratchStart is cbpfc's StackOffset: the 16 cBPF scratch words M[]
	// live below it.
	scratchStart = 16
)

// StackBytes is the most stack (in bytes below R10) that code from
// [Translate] uses: a spill slot, the read buffer and the 16 words of cBPF
// scratch memory.
const StackBytes = scratchStart + 16*4

// Registers given to cbpfc. R6-R9 survive helper calls (and need no saving:
// the placeholder is a BPF-to-BPF callee with its own registers); cbpfc's
// temporary lives only between two instructions and shares R0 with the
// result; its indirect-load register (R5) is saved around each call.
const (
	regData    = asm.R6
	regDataEnd = asm.R7
	regA       = asm.R8
	regX       = asm.R9
	regTmp     = asm.R0
	regInd     = asm.R5
)

// Translate converts a classic BPF filter into the body of a placeholder
// function `bool f(void *data, void *data_end)` whose arguments are kernel
// addresses (not packet pointers). prefix is prepended to every label the
// code defines and must be unique within the program it is injected into;
// the placeholder's name is a good choice. The result returns 1 in R0 when
// the filter accepts the packet (returns a non-zero snap length) and 0
// otherwise, including when a packet byte cannot be read. It uses at most
// [StackBytes] bytes of stack and, being a callee, leaves the caller's R6-R9
// alone by construction. Code referring to the packet
// length (the cBPF `len` extension) sees data_end - data.
func Translate(filter []bpf.Instruction, prefix string) (asm.Instructions, error) {
	if len(filter) == 0 {
		return nil, errors.New("translate cbpf: empty program")
	}
	if prefix == "" {
		return nil, errors.New("translate cbpf: empty label prefix")
	}
	for i, ins := range filter {
		if j, ok := ins.(bpf.Jump); ok && j.Skip >= 1<<31 {
			return nil, fmt.Errorf("translate cbpf: instruction %d jumps backwards: the kernel cannot run loops (libpcap's protochain); filter offline with pwru-replay", i)
		}
	}
	exit := prefix + "_exit"
	code, err := cbpfc.ToEBPF(filter, cbpfc.EBPFOpts{
		PacketStart: regData,
		PacketEnd:   regDataEnd,
		Result:      asm.R0,
		ResultLabel: exit,
		Working:     [4]asm.Register{regA, regX, regTmp, regInd},
		StackOffset: scratchStart,
		LabelPrefix: prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("translate cbpf: %w", err)
	}

	usesInd := false
	for _, ins := range code {
		if ins.Dst == regInd || (ins.Src == regInd && ins.OpCode.Class() != asm.LdClass) {
			usesInd = true
			break
		}
	}

	body := asm.Instructions{
		asm.Mov.Reg(regData, asm.R1),
		asm.Mov.Reg(regDataEnd, asm.R2),
	}
	if usesInd {
		// Spilled before every helper call, so it must hold a value.
		body = append(body, asm.Mov.Imm(regInd, 0))
	}
	// Scratch memory M[] needs no zeroing: cbpfc rejects programs that
	// may read a word before writing it, so the verifier never sees a
	// read of unwritten stack.

	fault := prefix + "_fault"
	reads := 0
	for _, ins := range code {
		if sh := shiftByX(ins); sh != nil {
			body = append(body, sh...)
			continue
		}
		if ins.OpCode.Class() != asm.LdXClass || ins.Src == asm.R10 {
			body = append(body, ins)
			continue
		}
		if ins.OpCode.Mode() != asm.MemMode {
			return nil, fmt.Errorf("translate cbpf: unexpected load %v", ins)
		}
		reads++
		rd := probeRead(ins, usesInd, fault)
		if sym := ins.Symbol(); sym != "" {
			rd[0] = rd[0].WithSymbol(sym)
		}
		body = append(body, rd...)
	}
	if reads > 0 {
		body = append(body,
			asm.Mov.Imm(asm.R0, 0).WithSymbol(fault),
			asm.Ja.Label(exit),
		)
	}
	return patch.Frame(body, exit), nil
}

// shiftByX rewrites cbpfc's `A <<= X` / `A >>= X` so that a shift by 32 or
// more yields 0 as in libpcap's interpreter, instead of eBPF's shift by
// X mod 32. It returns nil for any other instruction.
func shiftByX(ins asm.Instruction) asm.Instructions {
	op := ins.OpCode
	if op.Class() != asm.ALUClass || op.Source() != asm.RegSource || (op.ALUOp() != asm.LSh && op.ALUOp() != asm.RSh) {
		return nil
	}
	out := asm.Instructions{
		// if X < 32 goto shift
		{OpCode: asm.JLT.Op(asm.ImmSource), Dst: ins.Src, Constant: 32, Offset: 2},
		asm.Mov.Imm32(ins.Dst, 0),
		{OpCode: asm.Ja.Op(asm.ImmSource), Offset: 1},
		ins.WithSymbol(""),
	}
	if sym := ins.Symbol(); sym != "" {
		out[0] = out[0].WithSymbol(sym)
	}
	return out
}

// probeRead replaces the packet load ins (dst = *(size *)(src + off)) with
// a bpf_probe_read_kernel of the same bytes into the stack buffer and a
// load from there. The byte swap cbpfc emits after the load still applies.
func probeRead(ins asm.Instruction, saveInd bool, fault string) asm.Instructions {
	size := ins.OpCode.Size()
	n := map[asm.Size]int32{asm.Byte: 1, asm.Half: 2, asm.Word: 4, asm.DWord: 8}[size]
	out := asm.Instructions{
		// R3 first: the source may be R0 (cbpfc's temporary) or R5.
		asm.Mov.Reg(asm.R3, ins.Src),
	}
	if ins.Offset != 0 {
		out = append(out, asm.Add.Imm(asm.R3, int32(ins.Offset)))
	}
	if saveInd {
		out = append(out, asm.StoreMem(asm.R10, offIndirect, regInd, asm.DWord))
	}
	out = append(out,
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, offBuf),
		asm.Mov.Imm(asm.R2, n),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, fault),
	)
	if saveInd {
		out = append(out, asm.LoadMem(regInd, asm.R10, offIndirect, asm.DWord))
	}
	return append(out, asm.LoadMem(ins.Dst, asm.R10, offBuf, size))
}

// CompileCBPF compiles a pcap-filter expression with libpcap into classic
// BPF, for Ethernet frames (l3 false) or packets starting at the IPv4/IPv6
// header (l3 true). Errors read `compile pcap filter "expr": <libpcap's
// message>`.
func CompileCBPF(expr string, l3 bool) ([]bpf.Instruction, error) {
	raw, err := compileCBPF(expr, l3)
	if err != nil {
		return nil, err
	}
	out := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		out[i] = r.Disassemble()
	}
	return out, nil
}

// Compile compiles expr with [CompileCBPF] and translates it with
// [Translate]; see there for l3 and prefix.
func Compile(expr string, l3 bool, prefix string) (asm.Instructions, error) {
	filter, err := CompileCBPF(expr, l3)
	if err != nil {
		return nil, err
	}
	code, err := Translate(filter, prefix)
	if err != nil {
		return nil, fmt.Errorf("compile pcap filter %q: %w", expr, err)
	}
	return code, nil
}

// MatchLibpcap runs a classic BPF filter over pkt with libpcap's own
// interpreter (bpf_filter) and reports whether it accepts the packet. It is
// the reference the generated eBPF is checked against (tests, and the VM
// test that runs the eBPF in a kernel); builds without libpcap return
// [ErrNoLibpcap].
func MatchLibpcap(filter []bpf.Instruction, pkt []byte) (bool, error) {
	if !libpcapAvailable {
		return false, fmt.Errorf("match packet: %w", ErrNoLibpcap)
	}
	raw, err := bpf.Assemble(filter)
	if err != nil {
		return false, fmt.Errorf("match packet: %w", err)
	}
	return libpcapFilter(raw, pkt) != 0, nil
}
