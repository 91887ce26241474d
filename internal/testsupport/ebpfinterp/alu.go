package ebpfinterp

import (
	"fmt"
	"math/bits"

	"github.com/cilium/ebpf/asm"
)

// This file executes the ALU, byte swap and jump instructions.

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
