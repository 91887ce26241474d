package ebpfinterp

import (
	"errors"
	"fmt"

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
