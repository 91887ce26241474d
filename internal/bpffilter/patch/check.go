package patch

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// regSet is a bit set of registers R0-R10.
type regSet uint16

func (s regSet) has(r asm.Register) bool { return s&(1<<r) != 0 }

// Check verifies the structural rules generated function bodies must follow
// before they replace a placeholder, and returns the first violation:
//   - every jump targets an instruction of body (by label or raw offset);
//   - control never runs off the end (the last instruction is an exit or an
//     unconditional jump);
//   - memory is only accessed through R10, within the 512-byte stack, and
//     R10 is never written;
//   - the only helper called is bpf_probe_read_kernel, and there are no
//     calls to other functions;
//   - on every path, no register is read before it is written, taking
//     the nargs arguments (R1...) and R10 as written at entry and R1-R5 as
//     clobbered by each helper call (the verifier's "!read_ok");
//   - every exit follows the [Frame] epilogue, which returns 0 or 1.
//
// Check is a lint for code generators, not a verifier: it does not track
// values, only which registers hold one.
func Check(body asm.Instructions, nargs int) error {
	if nargs < 0 || nargs > 5 {
		return fmt.Errorf("check body: %d arguments, want 0 to 5", nargs)
	}
	if len(body) == 0 {
		return fmt.Errorf("check body: empty")
	}
	syms := make(map[string]int)
	byRaw := make(map[asm.RawInstructionOffset]int)
	iter := body.Iterate()
	for iter.Next() {
		byRaw[iter.Offset] = iter.Index
		if s := iter.Ins.Symbol(); s != "" {
			if _, dup := syms[s]; dup {
				return fmt.Errorf("check body: symbol %q defined twice", s)
			}
			syms[s] = iter.Index
		}
	}
	last := body[len(body)-1].OpCode
	if !(last.Class().IsJump() && (last.JumpOp() == asm.Exit || last.JumpOp() == asm.Ja)) {
		return fmt.Errorf("check body: last instruction %v falls through", body[len(body)-1])
	}

	// succ[i] lists the instructions control may reach after i.
	succ := make([][]int, len(body))
	iter = body.Iterate()
	for iter.Next() {
		i, ins := iter.Index, iter.Ins
		op := ins.OpCode
		if ins.Dst == asm.R10 && (op.Class().IsALU() || op.Class() == asm.LdClass || op.Class() == asm.LdXClass) {
			return fmt.Errorf("check body: insn %d writes r10", i)
		}
		switch cls := op.Class(); {
		case cls == asm.LdXClass:
			if ins.Src != asm.R10 {
				return fmt.Errorf("check body: insn %d loads through %v, not the stack", i, ins.Src)
			}
			if err := stackRange(ins.Offset, op.Size()); err != nil {
				return fmt.Errorf("check body: insn %d: %w", i, err)
			}
		case cls == asm.StClass || cls == asm.StXClass:
			if ins.Dst != asm.R10 {
				return fmt.Errorf("check body: insn %d stores through %v, not the stack", i, ins.Dst)
			}
			if err := stackRange(ins.Offset, op.Size()); err != nil {
				return fmt.Errorf("check body: insn %d: %w", i, err)
			}
		case cls == asm.LdClass:
			if op != asm.LoadImmOp(asm.DWord) || ins.Src != 0 {
				return fmt.Errorf("check body: insn %d: unsupported load %v", i, op)
			}
		case cls.IsJump():
			switch op.JumpOp() {
			case asm.Call:
				if ins.Src != 0 || ins.Constant != int64(asm.FnProbeReadKernel) {
					return fmt.Errorf("check body: insn %d calls %v, only bpf_probe_read_kernel is allowed", i, ins)
				}
				succ[i] = []int{i + 1}
				continue
			case asm.Exit:
				continue
			}
			var target int
			if ref := ins.Reference(); ref != "" && ins.Offset == -1 {
				t, ok := syms[ref]
				if !ok {
					return fmt.Errorf("check body: insn %d jumps to unknown label %q", i, ref)
				}
				target = t
			} else {
				t, ok := byRaw[asm.RawInstructionOffset(int64(iter.Offset)+1+int64(ins.Offset))]
				if int64(iter.Offset)+1+int64(ins.Offset) < 0 || !ok {
					return fmt.Errorf("check body: insn %d jumps out of the body", i)
				}
				target = t
			}
			succ[i] = []int{target}
			if op.JumpOp() != asm.Ja {
				succ[i] = append(succ[i], i+1)
			}
			continue
		}
		succ[i] = []int{i + 1}
	}
	if err := checkInit(body, succ, nargs); err != nil {
		return err
	}
	for i, ins := range body {
		if !ins.OpCode.Class().IsJump() || ins.OpCode.JumpOp() != asm.Exit {
			continue
		}
		if i < 2 || body[i-1].OpCode != asm.Mov.Op(asm.ImmSource) || body[i-1].Dst != asm.R0 || body[i-1].Constant != 1 ||
			body[i-2].OpCode != asm.JEq.Op(asm.ImmSource) || body[i-2].Dst != asm.R0 || body[i-2].Constant != 0 {
			return fmt.Errorf("check body: exit at insn %d does not follow the 0/1 verdict epilogue", i)
		}
	}
	return nil
}

// uses returns the registers ins reads and writes; a helper call also
// clobbers R1-R5.
func uses(ins *asm.Instruction) (reads, writes regSet) {
	op := ins.OpCode
	reg := func(r asm.Register) regSet { return 1 << r }
	switch cls := op.Class(); {
	case cls.IsALU():
		if op.ALUOp() != asm.Mov {
			reads |= reg(ins.Dst)
		}
		if op.ALUOp() != asm.Swap && op.Source() == asm.RegSource {
			reads |= reg(ins.Src)
		}
		writes |= reg(ins.Dst)
	case cls == asm.LdClass:
		writes |= reg(ins.Dst)
	case cls == asm.LdXClass:
		reads |= reg(ins.Src)
		writes |= reg(ins.Dst)
	case cls == asm.StClass:
		reads |= reg(ins.Dst)
	case cls == asm.StXClass:
		reads |= reg(ins.Dst) | reg(ins.Src)
	case cls.IsJump():
		switch op.JumpOp() {
		case asm.Call:
			reads |= reg(asm.R1) | reg(asm.R2) | reg(asm.R3)
			writes |= reg(asm.R0)
		case asm.Exit:
			reads |= reg(asm.R0)
		case asm.Ja:
		default:
			reads |= reg(ins.Dst)
			if op.Source() == asm.RegSource {
				reads |= reg(ins.Src)
			}
		}
	}
	return reads, writes
}

// checkInit runs a must-be-written analysis over the control flow graph.
func checkInit(body asm.Instructions, succ [][]int, nargs int) error {
	const all = regSet(1<<11 - 1)
	const clobbered = regSet(0b11111 << 1)
	in := make([]regSet, len(body))
	seen := make([]bool, len(body))
	for i := range in {
		in[i] = all
	}
	in[0], seen[0] = regSet((1<<nargs-1)<<1|1<<10), true
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		ins := &body[i]
		reads, writes := uses(ins)
		if missing := reads &^ in[i]; missing != 0 {
			for r := asm.R0; r <= asm.R10; r++ {
				if missing.has(r) {
					return fmt.Errorf("check body: insn %d (%v) reads %v before it is written on some path", i, *ins, r)
				}
			}
		}
		out := in[i] | writes
		if ins.OpCode.Class().IsJump() && ins.OpCode.JumpOp() == asm.Call {
			out = (in[i] &^ clobbered) | writes
		}
		for _, s := range succ[i] {
			if s >= len(body) {
				return fmt.Errorf("check body: insn %d falls off the end", i)
			}
			next := in[s] & out
			if !seen[s] || next != in[s] {
				in[s], seen[s] = next, true
				work = append(work, s)
			}
		}
	}
	return nil
}

func stackRange(off int16, size asm.Size) error {
	n := map[asm.Size]int16{asm.Byte: 1, asm.Half: 2, asm.Word: 4, asm.DWord: 8}[size]
	if n == 0 || off >= 0 || off < -512 || off+n > 0 || off%n != 0 {
		return fmt.Errorf("stack access of %d bytes at r10%+d is out of range or misaligned", n, off)
	}
	return nil
}
