package bpfpatch

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// Check verifies the structural rules generated function bodies must follow
// before they replace a placeholder, and returns the first violation:
//   - every jump targets an instruction of body (by label or raw offset);
//   - control never runs off the end (the last instruction is an exit or an
//     unconditional jump);
//   - memory is only accessed through R10, within the 512-byte stack, and
//     R10 is never written;
//   - the only helper called is bpf_probe_read_kernel, and there are no
//     calls to other functions;
//   - each callee-saved register R6-R9 that body writes is stored to its
//     [Frame] slot before it is first written (in instruction order) and
//     reloaded from it immediately before every exit;
//   - each exit returns a value set by `r0 = 0/1` on every path ending in
//     it, which [Frame] guarantees by construction and Check checks by
//     requiring the [Frame] epilogue shape.
//
// Check is a lint for code generators, not a verifier.
func Check(body asm.Instructions) error {
	if len(body) == 0 {
		return fmt.Errorf("check body: empty")
	}
	syms := make(map[string]bool)
	raw := make(map[asm.RawInstructionOffset]bool)
	iter := body.Iterate()
	var end asm.RawInstructionOffset
	for iter.Next() {
		raw[iter.Offset] = true
		end = iter.Offset + asm.RawInstructionOffset(iter.Ins.Width()/asm.InstructionSize)
		if s := iter.Ins.Symbol(); s != "" {
			if syms[s] {
				return fmt.Errorf("check body: symbol %q defined twice", s)
			}
			syms[s] = true
		}
	}
	last := body[len(body)-1].OpCode
	if !(last.Class().IsJump() && (last.JumpOp() == asm.Exit || last.JumpOp() == asm.Ja)) {
		return fmt.Errorf("check body: last instruction %v falls through", body[len(body)-1])
	}

	firstWrite := map[asm.Register]int{}
	saved := map[asm.Register]int{}
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
			if cls == asm.StXClass && op.Size() == asm.DWord && ins.Src >= asm.R6 && ins.Src <= asm.R9 &&
				ins.Offset == -8*int16(ins.Src-asm.R6+1) {
				if _, ok := saved[ins.Src]; !ok {
					saved[ins.Src] = i
				}
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
				continue
			case asm.Exit:
				continue
			}
			if ref := ins.Reference(); ref != "" && ins.Offset == -1 {
				if !syms[ref] {
					return fmt.Errorf("check body: insn %d jumps to unknown label %q", i, ref)
				}
				continue
			}
			target := int64(iter.Offset) + 1 + int64(ins.Offset)
			if target < 0 || target >= int64(end) || !raw[asm.RawInstructionOffset(target)] {
				return fmt.Errorf("check body: insn %d jumps out of the body", i)
			}
		}
		for _, r := range calleeSaved {
			if _, ok := firstWrite[r]; !ok && writes(ins, r) {
				firstWrite[r] = i
			}
		}
	}
	for r, w := range firstWrite {
		s, ok := saved[r]
		if !ok || s > w {
			return fmt.Errorf("check body: %v written at insn %d before being saved", r, w)
		}
	}
	for i, ins := range body {
		if !ins.OpCode.Class().IsJump() || ins.OpCode.JumpOp() != asm.Exit {
			continue
		}
		for r := range firstWrite {
			restored := false
			for j := i - 1; j >= 0 && body[j].OpCode.Class() == asm.LdXClass; j-- {
				if body[j].Dst == r && body[j].Src == asm.R10 && body[j].Offset == -8*int16(r-asm.R6+1) {
					restored = true
				}
			}
			if !restored {
				return fmt.Errorf("check body: exit at insn %d without restoring %v", i, r)
			}
		}
		k := i - 1 - len(firstWrite)
		if k < 0 || body[k].OpCode != asm.Mov.Op(asm.ImmSource) || body[k].Dst != asm.R0 || body[k].Constant != 1 {
			return fmt.Errorf("check body: exit at insn %d does not follow the 0/1 verdict epilogue", i)
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
