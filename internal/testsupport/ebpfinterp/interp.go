package ebpfinterp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/cilium/ebpf/asm"
)

// StackSize is the size of the stack frame given to a program, as in the
// kernel.
const StackSize = 512

// StackTop is the address held in R10 when a program starts. The stack
// occupies [StackTop-StackSize, StackTop).
const StackTop uint64 = 0x7fff_0000_1000

// DefaultMaxSteps bounds the number of instructions a run may execute when
// [Options.MaxSteps] is zero.
const DefaultMaxSteps = 1 << 20

// efault is what bpf_probe_read_kernel returns for an unreadable address:
// -EFAULT as a 64-bit register value.
const efault = ^uint64(14 - 1)

// Sentinel errors returned (wrapped) by [Run].
var (
	// ErrFault reports a direct memory access outside the stack, or a read
	// of stack bytes that were never written.
	ErrFault = errors.New("invalid memory access")
	// ErrUnsupported reports an instruction or helper the interpreter does
	// not implement.
	ErrUnsupported = errors.New("unsupported instruction")
	// ErrBadJump reports a jump outside the program or to an unknown label.
	ErrBadJump = errors.New("bad jump")
	// ErrStepLimit reports a run that exceeded its step budget.
	ErrStepLimit = errors.New("step limit exceeded")
	// ErrUninitRegister reports a read of a register that holds no value:
	// not an argument and not written yet, or R1-R5 after a helper call.
	ErrUninitRegister = errors.New("register read before write")
)

// Memory is a sparse image of kernel memory: a set of non-overlapping
// regions, each a byte slice at a base address. bpf_probe_read_kernel reads
// from it. The zero value is an empty image. A Memory is not safe for
// concurrent modification; concurrent runs that only read it are fine.
type Memory struct {
	regions []region
}

type region struct {
	addr uint64
	data []byte
}

// Map adds data at addr. The slice is used in place, not copied. Map
// returns an error if the region overlaps one already mapped or wraps around
// the address space.
func (m *Memory) Map(addr uint64, data []byte) error {
	end := addr + uint64(len(data))
	if end < addr {
		return fmt.Errorf("map region at %#x: wraps around the address space", addr)
	}
	for _, r := range m.regions {
		if addr < r.addr+uint64(len(r.data)) && r.addr < end {
			return fmt.Errorf("map region at %#x: overlaps region at %#x", addr, r.addr)
		}
	}
	m.regions = append(m.regions, region{addr, data})
	return nil
}

// Read returns the n bytes at addr, or false if any of them is unmapped.
// Ranges spanning adjacent regions are not supported.
func (m *Memory) Read(addr uint64, n int) ([]byte, bool) {
	if m == nil {
		return nil, false
	}
	for _, r := range m.regions {
		if addr >= r.addr && addr-r.addr <= uint64(len(r.data)) && uint64(n) <= uint64(len(r.data))-(addr-r.addr) {
			off := addr - r.addr
			return r.data[off : off+uint64(n)], true
		}
	}
	return nil, false
}

// Options configure a [Run]. The zero value is usable.
type Options struct {
	// Memory is the kernel memory image for bpf_probe_read_kernel; nil
	// means nothing is readable.
	Memory *Memory
	// MaxSteps bounds the instructions executed; 0 means DefaultMaxSteps.
	MaxSteps int
}

// Result is the outcome of a successful [Run].
type Result struct {
	// R0 is the return value.
	R0 uint64
	// Registers holds R0-R10 at exit.
	Registers [11]uint64
	// Steps is the number of instructions executed.
	Steps int
	// HelperCalls counts calls to bpf_probe_read_kernel.
	HelperCalls int
	// MaxStackDepth is the deepest stack byte touched, in bytes below R10.
	MaxStackDepth int
}

type machine struct {
	insns   asm.Instructions
	targets map[string]int // symbol -> index
	byRaw   map[asm.RawInstructionOffset]int
	raw     []asm.RawInstructionOffset // index -> raw offset
	reg     [11]uint64
	regInit [11]bool
	stack   [StackSize]byte
	init    [StackSize]bool
	mem     *Memory
	res     Result
	err     error // first read of an unwritten register
}

// get reads register r, noting an error if it holds no value.
func (m *machine) get(r asm.Register) uint64 {
	if !m.regInit[r] && m.err == nil {
		m.err = fmt.Errorf("%v: %w", r, ErrUninitRegister)
	}
	return m.reg[r]
}

// set writes register r.
func (m *machine) set(r asm.Register, v uint64) {
	m.reg[r], m.regInit[r] = v, true
}

// Run executes insns from the first instruction until an exit, with args in
// R1.. R5, as the kernel runs a BPF-to-BPF callee: only the argument
// registers and R10 hold values at entry, and reading any other register
// before writing it fails with [ErrUninitRegister]. Jumps may use labels (references to symbols within insns) or raw
// offsets. Run never panics on malformed input; it returns an error instead.
func Run(insns asm.Instructions, opts *Options, args ...uint64) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	if len(args) > 5 {
		return nil, fmt.Errorf("run program: %d arguments, at most 5", len(args))
	}
	m := &machine{
		insns:   insns,
		targets: make(map[string]int),
		byRaw:   make(map[asm.RawInstructionOffset]int),
		raw:     make([]asm.RawInstructionOffset, len(insns)),
		mem:     opts.Memory,
	}
	iter := insns.Iterate()
	for iter.Next() {
		m.byRaw[iter.Offset] = iter.Index
		m.raw[iter.Index] = iter.Offset
		if s := iter.Ins.Symbol(); s != "" {
			if _, dup := m.targets[s]; dup {
				return nil, fmt.Errorf("run program: duplicate symbol %q", s)
			}
			m.targets[s] = iter.Index
		}
	}
	for i, a := range args {
		m.reg[i+1], m.regInit[i+1] = a, true
	}
	m.reg[asm.R10], m.regInit[asm.R10] = StackTop, true
	max := opts.MaxSteps
	if max == 0 {
		max = DefaultMaxSteps
	}
	pc := 0
	for {
		if pc < 0 || pc >= len(insns) {
			return nil, fmt.Errorf("run program: pc %d: %w", pc, ErrBadJump)
		}
		if m.res.Steps >= max {
			return nil, fmt.Errorf("run program: %w after %d instructions", ErrStepLimit, m.res.Steps)
		}
		m.res.Steps++
		next, done, err := m.step(pc)
		if err == nil {
			err = m.err
		}
		if err != nil {
			return nil, fmt.Errorf("run program: insn %d (%v): %w", pc, insns[pc], err)
		}
		if done {
			m.res.R0 = m.get(asm.R0)
			if m.err != nil {
				return nil, fmt.Errorf("run program: insn %d (%v): %w", pc, insns[pc], m.err)
			}
			m.res.Registers = m.reg
			return &m.res, nil
		}
		pc = next
	}
}

func (m *machine) jumpTarget(pc int) (int, error) {
	ins := &m.insns[pc]
	if ref := ins.Reference(); ref != "" && ins.Offset == -1 {
		t, ok := m.targets[ref]
		if !ok {
			return 0, fmt.Errorf("label %q: %w", ref, ErrBadJump)
		}
		return t, nil
	}
	off := int64(m.raw[pc]) + 1 + int64(ins.Offset)
	if ins.OpCode.Class() == asm.Jump32Class && ins.OpCode.JumpOp() == asm.Ja {
		off = int64(m.raw[pc]) + 1 + ins.Constant
	}
	t, ok := m.byRaw[asm.RawInstructionOffset(off)]
	if off < 0 || !ok {
		return 0, fmt.Errorf("raw offset %d: %w", off, ErrBadJump)
	}
	return t, nil
}

func (m *machine) step(pc int) (int, bool, error) {
	ins := &m.insns[pc]
	op := ins.OpCode
	if int(ins.Dst) > 10 || int(ins.Src) > 10 && !(op.Class() == asm.LdClass || op.JumpOp() == asm.Call) {
		return 0, false, fmt.Errorf("register out of range: %w", ErrUnsupported)
	}
	switch cls := op.Class(); cls {
	case asm.ALUClass, asm.ALU64Class:
		if ins.Dst == asm.R10 {
			return 0, false, fmt.Errorf("write to r10: %w", ErrUnsupported)
		}
		if err := m.alu(ins, cls == asm.ALU64Class); err != nil {
			return 0, false, err
		}
		return pc + 1, false, nil
	case asm.JumpClass, asm.Jump32Class:
		return m.jump(pc, cls == asm.Jump32Class)
	case asm.LdClass:
		if op != asm.LoadImmOp(asm.DWord) || ins.Src != 0 {
			return 0, false, fmt.Errorf("%v: %w", op, ErrUnsupported)
		}
		m.set(ins.Dst, uint64(ins.Constant))
		return pc + 1, false, nil
	case asm.LdXClass:
		if op.Mode() != asm.MemMode {
			return 0, false, fmt.Errorf("%v: %w", op, ErrUnsupported)
		}
		v, err := m.load(m.get(ins.Src)+uint64(int64(ins.Offset)), op.Size())
		if err != nil {
			return 0, false, err
		}
		m.set(ins.Dst, v)
		return pc + 1, false, nil
	case asm.StClass, asm.StXClass:
		if op.Mode() != asm.MemMode {
			return 0, false, fmt.Errorf("%v: %w", op, ErrUnsupported)
		}
		v := uint64(ins.Constant)
		if cls == asm.StXClass {
			v = m.get(ins.Src)
		}
		return pc + 1, false, m.store(m.get(ins.Dst)+uint64(int64(ins.Offset)), op.Size(), v)
	}
	return 0, false, fmt.Errorf("%v: %w", op, ErrUnsupported)
}

func (m *machine) alu(ins *asm.Instruction, is64 bool) error {
	op := ins.OpCode.ALUOp()
	var dst uint64
	if op != asm.Mov {
		dst = m.get(ins.Dst)
	}
	var src uint64
	if ins.OpCode.Source() == asm.RegSource {
		src = m.get(ins.Src)
	} else {
		src = uint64(ins.Constant) // sign-extended immediate
	}
	if !is64 {
		dst, src = uint64(uint32(dst)), uint64(uint32(src))
	}
	if (op == asm.LSh || op == asm.RSh || op == asm.ArSh) && ins.OpCode.Source() == asm.ImmSource {
		// The verifier rejects constant shifts by the width or more.
		if width := map[bool]uint64{true: 64, false: 32}[is64]; uint64(ins.Constant) >= width {
			return fmt.Errorf("invalid shift %d: %w", ins.Constant, ErrUnsupported)
		}
	}
	var r uint64
	switch op {
	case asm.Add:
		r = dst + src
	case asm.Sub:
		r = dst - src
	case asm.Mul:
		r = dst * src
	case asm.Div:
		if src != 0 {
			r = dst / src
		}
	case asm.Mod:
		r = dst
		if src != 0 {
			r = dst % src
		}
	case asm.Or:
		r = dst | src
	case asm.And:
		r = dst & src
	case asm.Xor:
		r = dst ^ src
	case asm.LSh:
		if is64 {
			r = dst << (src & 63)
		} else {
			r = dst << (src & 31)
		}
	case asm.RSh:
		if is64 {
			r = dst >> (src & 63)
		} else {
			r = dst >> (src & 31)
		}
	case asm.ArSh:
		if is64 {
			r = uint64(int64(dst) >> (src & 63))
		} else {
			r = uint64(uint32(int32(uint32(dst)) >> (src & 31)))
		}
	case asm.Neg:
		r = -dst
	case asm.Mov:
		r = src
	case asm.Swap:
		return m.swap(ins, is64)
	default:
		return fmt.Errorf("alu op %v: %w", op, ErrUnsupported)
	}
	if !is64 {
		r = uint64(uint32(r))
	}
	m.set(ins.Dst, r)
	return nil
}

func (m *machine) swap(ins *asm.Instruction, is64 bool) error {
	v := m.get(ins.Dst)
	width := ins.Constant
	if width != 16 && width != 32 && width != 64 {
		return fmt.Errorf("swap width %d: %w", width, ErrUnsupported)
	}
	// The host order of the simulated machine is little endian, as on the
	// kernels pwru-record supports, so "to little endian" truncates and
	// "to big endian" (or an unconditional swap) reverses bytes.
	bswap := is64 || ins.OpCode.Endianness() == asm.BE
	switch width {
	case 16:
		v = uint64(uint16(v))
		if bswap {
			v = uint64(bits.ReverseBytes16(uint16(v)))
		}
	case 32:
		v = uint64(uint32(v))
		if bswap {
			v = uint64(bits.ReverseBytes32(uint32(v)))
		}
	case 64:
		if bswap {
			v = bits.ReverseBytes64(v)
		}
	}
	m.set(ins.Dst, v)
	return nil
}

func (m *machine) jump(pc int, is32 bool) (int, bool, error) {
	ins := &m.insns[pc]
	op := ins.OpCode.JumpOp()
	switch op {
	case asm.Exit:
		return 0, true, nil
	case asm.Call:
		if ins.Src != 0 || ins.Constant != int64(asm.FnProbeReadKernel) {
			return 0, false, fmt.Errorf("call %v: %w", ins.Constant, ErrUnsupported)
		}
		return pc + 1, false, m.probeReadKernel()
	case asm.JCOND:
		return 0, false, fmt.Errorf("may_goto: %w", ErrUnsupported)
	}
	t, err := m.jumpTarget(pc)
	if err != nil {
		return 0, false, err
	}
	if op == asm.Ja {
		return t, false, nil
	}
	dst := m.get(ins.Dst)
	var src uint64
	if ins.OpCode.Source() == asm.RegSource {
		src = m.get(ins.Src)
	} else {
		src = uint64(ins.Constant)
	}
	var sdst, ssrc int64 = int64(dst), int64(src)
	if is32 {
		dst, src = uint64(uint32(dst)), uint64(uint32(src))
		sdst, ssrc = int64(int32(uint32(dst))), int64(int32(uint32(src)))
	}
	var taken bool
	switch op {
	case asm.JEq:
		taken = dst == src
	case asm.JNE:
		taken = dst != src
	case asm.JGT:
		taken = dst > src
	case asm.JGE:
		taken = dst >= src
	case asm.JLT:
		taken = dst < src
	case asm.JLE:
		taken = dst <= src
	case asm.JSet:
		taken = dst&src != 0
	case asm.JSGT:
		taken = sdst > ssrc
	case asm.JSGE:
		taken = sdst >= ssrc
	case asm.JSLT:
		taken = sdst < ssrc
	case asm.JSLE:
		taken = sdst <= ssrc
	default:
		return 0, false, fmt.Errorf("jump op %v: %w", op, ErrUnsupported)
	}
	if taken {
		return t, false, nil
	}
	return pc + 1, false, nil
}

// stackIndex maps [addr, addr+n) to an index into the stack, or fails.
func (m *machine) stackIndex(addr uint64, n int) (int, error) {
	lo := StackTop - StackSize
	if addr < lo || addr > StackTop || uint64(n) > StackTop-addr {
		return 0, fmt.Errorf("%d bytes at %#x outside the stack: %w", n, addr, ErrFault)
	}
	i := int(addr - lo)
	if d := StackSize - i; d > m.res.MaxStackDepth {
		m.res.MaxStackDepth = d
	}
	return i, nil
}

func sizeBytes(s asm.Size) int {
	switch s {
	case asm.Byte:
		return 1
	case asm.Half:
		return 2
	case asm.Word:
		return 4
	case asm.DWord:
		return 8
	}
	return 0
}

func (m *machine) load(addr uint64, size asm.Size) (uint64, error) {
	n := sizeBytes(size)
	if n == 0 {
		return 0, fmt.Errorf("load size %v: %w", size, ErrUnsupported)
	}
	i, err := m.stackIndex(addr, n)
	if err != nil {
		return 0, err
	}
	for j := i; j < i+n; j++ {
		if !m.init[j] {
			return 0, fmt.Errorf("read of uninitialised stack at r10%d: %w", int(addr-StackTop), ErrFault)
		}
	}
	var buf [8]byte
	copy(buf[:], m.stack[i:i+n])
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (m *machine) store(addr uint64, size asm.Size, v uint64) error {
	n := sizeBytes(size)
	if n == 0 {
		return fmt.Errorf("store size %v: %w", size, ErrUnsupported)
	}
	i, err := m.stackIndex(addr, n)
	if err != nil {
		return err
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	copy(m.stack[i:i+n], buf[:n])
	for j := i; j < i+n; j++ {
		m.init[j] = true
	}
	return nil
}

// probeReadKernel implements bpf_probe_read_kernel(dst, size, unsafe_ptr):
// dst must be on the stack; on failure dst is zeroed and -EFAULT returned.
// R1-R5 are clobbered afterwards, as after any helper call.
func (m *machine) probeReadKernel() error {
	m.res.HelperCalls++
	dst, size, src := m.get(asm.R1), m.get(asm.R2), m.get(asm.R3)
	if m.err != nil {
		return m.err
	}
	if size == 0 || size > StackSize {
		return fmt.Errorf("probe_read_kernel size %d: %w", size, ErrFault)
	}
	i, err := m.stackIndex(dst, int(size))
	if err != nil {
		return fmt.Errorf("probe_read_kernel destination: %w", err)
	}
	data, ok := m.mem.Read(src, int(size))
	if ok {
		copy(m.stack[i:], data)
		m.set(asm.R0, 0)
	} else {
		clear(m.stack[i : i+int(size)])
		m.set(asm.R0, efault)
	}
	for j := i; j < i+int(size); j++ {
		m.init[j] = true
	}
	// Helper calls clobber the argument registers.
	for r := asm.R1; r <= asm.R5; r++ {
		m.reg[r], m.regInit[r] = 0, false
	}
	return nil
}
