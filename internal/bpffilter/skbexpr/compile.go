package skbexpr

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Stack layout below R10.
const (
	// offBuf is the 8-byte buffer bpf_probe_read_kernel copies into.
	offBuf = -8
	// tempStart is where the temporaries holding left operands begin.
	tempStart = 8
	// maxTemps bounds the left operands pending at once.
	maxTemps = 16
)

// StackBytes is the most stack (in bytes below R10) that compiled code
// uses: the read buffer and up to 16 temporaries.
const StackBytes = tempStart + 8*maxTemps

// regRoot holds the root pointer for the whole program.
const regRoot = asm.R6

// gen accumulates instructions with forward labels.
type gen struct {
	insns   asm.Instructions
	prefix  string
	n       int    // label counter
	pending string // label for the next instruction
	reads   int
	root    *btf.Struct
	ident   string
}

func (g *gen) label() string {
	g.n++
	return fmt.Sprintf("%s_l%d", g.prefix, g.n)
}

func (g *gen) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if g.pending != "" {
			in = in.WithSymbol(g.pending)
			g.pending = ""
		}
		g.insns = append(g.insns, in)
	}
}

// place makes sym the label of the next instruction emitted.
func (g *gen) place(sym string) {
	if g.pending != "" {
		// Two labels at one spot: give the first a no-op jump to hold it.
		g.emit(asm.Instruction{OpCode: asm.Ja.Op(asm.ImmSource), Offset: 0})
	}
	g.pending = sym
}

func (g *gen) fault() string { return g.prefix + "_fault" }

// read emits r0 = *(size *)(base + off) through bpf_probe_read_kernel,
// jumping to the fault label if the read fails. base may be R0 or R6.
func (g *gen) read(base asm.Register, off uint32, size uint32) {
	g.reads++
	g.emit(asm.Mov.Reg(asm.R3, base))
	if off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.emit(
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, offBuf),
		asm.Mov.Imm(asm.R2, int32(size)),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, g.fault()),
	)
}

func loadSize(n uint32) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}

// field emits code leaving the value of a in R0, zero- or sign-extended
// to 64 bits.
func (g *gen) field(a *access) {
	if a.size == 0 {
		g.emit(asm.Mov.Reg(asm.R0, regRoot))
		return
	}
	base := regRoot
	for _, off := range a.derefs {
		g.read(base, off, 8)
		g.emit(asm.LoadMem(asm.R0, asm.R10, offBuf, asm.DWord))
		base = asm.R0
	}
	if a.bitSize == 0 {
		g.read(base, a.off, a.size)
		g.emit(asm.LoadMem(asm.R0, asm.R10, offBuf, loadSize(a.size)))
		if a.signed && a.size < 8 {
			shift := int32(64 - 8*a.size)
			g.emit(asm.LSh.Imm(asm.R0, shift), asm.ArSh.Imm(asm.R0, shift))
		}
		return
	}
	// Bitfield: clear the buffer so that bytes past the read are zero,
	// read the bytes holding it, then shift it to the top and back down.
	// base may be R0, which the stores do not touch.
	g.emit(
		asm.StoreImm(asm.R10, offBuf, 0, asm.Word),
		asm.StoreImm(asm.R10, offBuf+4, 0, asm.Word),
	)
	g.read(base, a.off, a.size)
	g.emit(asm.LoadMem(asm.R0, asm.R10, offBuf, asm.DWord))
	if up := int32(64 - a.bitOff - a.bitSize); up > 0 {
		g.emit(asm.LSh.Imm(asm.R0, up))
	}
	down := int32(64 - a.bitSize)
	if a.signed {
		g.emit(asm.ArSh.Imm(asm.R0, down))
	} else {
		g.emit(asm.RSh.Imm(asm.R0, down))
	}
}

func tempOff(depth int) int16 { return -int16(tempStart + 8*(depth+1)) }

var errTooDeep = errors.New("expression too deeply nested for the stack")

// signedness of a value expression: 1 signed field involved, -1 unsigned
// field involved, 0 only literals; mixed reports -1 (unsigned wins).
func (g *gen) signedness(n node) int {
	switch n := n.(type) {
	case *fieldNode:
		a, err := resolve(n, g.root, g.ident)
		if err != nil || !a.signed {
			return -1
		}
		return 1
	case *binNode:
		if n.op == "&" || n.op == "|" {
			l, r := g.signedness(n.l), g.signedness(n.r)
			if l < 0 || r < 0 {
				return -1
			}
			return max(l, r)
		}
		return -1 // a truth value, 0 or 1
	case *notNode:
		return -1
	}
	return 0
}

// value emits code leaving the value of n in R0. depth is the number of
// temporaries in use.
func (g *gen) value(n node, depth int) error {
	switch n := n.(type) {
	case *numNode:
		v := int64(n.val)
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			g.emit(asm.Mov.Imm(asm.R0, int32(v)))
		} else {
			g.emit(asm.LoadImm(asm.R0, v, asm.DWord))
		}
		return nil
	case *fieldNode:
		a, err := resolve(n, g.root, g.ident)
		if err != nil {
			return err
		}
		g.field(a)
		return nil
	case *binNode:
		if n.op == "&" || n.op == "|" {
			if depth >= maxTemps {
				return errTooDeep
			}
			if err := g.value(n.l, depth); err != nil {
				return err
			}
			g.emit(asm.StoreMem(asm.R10, tempOff(depth), asm.R0, asm.DWord))
			if err := g.value(n.r, depth+1); err != nil {
				return err
			}
			g.emit(asm.LoadMem(asm.R1, asm.R10, tempOff(depth), asm.DWord))
			if n.op == "&" {
				g.emit(asm.And.Reg(asm.R0, asm.R1))
			} else {
				g.emit(asm.Or.Reg(asm.R0, asm.R1))
			}
			return nil
		}
	}
	// A truth value used as a number: 1 or 0.
	t, f, end := g.label(), g.label(), g.label()
	if err := g.cond(n, t, f, depth); err != nil {
		return err
	}
	g.place(t)
	g.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(end))
	g.place(f)
	g.emit(asm.Mov.Imm(asm.R0, 0))
	g.place(end)
	return nil
}

var jumps = map[string][2]asm.JumpOp{ // unsigned, signed
	"==": {asm.JEq, asm.JEq},
	"!=": {asm.JNE, asm.JNE},
	"<":  {asm.JLT, asm.JSLT},
	"<=": {asm.JLE, asm.JSLE},
	">":  {asm.JGT, asm.JSGT},
	">=": {asm.JGE, asm.JSGE},
}

// cond emits code that jumps to t if n is true and to f otherwise; it
// never falls through.
func (g *gen) cond(n node, t, f string, depth int) error {
	switch n := n.(type) {
	case *notNode:
		return g.cond(n.x, f, t, depth)
	case *binNode:
		switch n.op {
		case "||", "&&":
			mid := g.label()
			var err error
			if n.op == "||" {
				err = g.cond(n.l, t, mid, depth)
			} else {
				err = g.cond(n.l, mid, f, depth)
			}
			if err != nil {
				return err
			}
			g.place(mid)
			return g.cond(n.r, t, f, depth)
		}
		if j, ok := jumps[n.op]; ok {
			op := j[0]
			ls, rs := g.signedness(n.l), g.signedness(n.r)
			if ls >= 0 && rs >= 0 && (ls > 0 || rs > 0) {
				op = j[1]
			}
			if num, ok := n.r.(*numNode); ok && int64(num.val) >= math.MinInt32 && int64(num.val) <= math.MaxInt32 {
				if err := g.value(n.l, depth); err != nil {
					return err
				}
				g.emit(op.Imm(asm.R0, int32(int64(num.val)), t), asm.Ja.Label(f))
				return nil
			}
			if depth >= maxTemps {
				return errTooDeep
			}
			if err := g.value(n.l, depth); err != nil {
				return err
			}
			g.emit(asm.StoreMem(asm.R10, tempOff(depth), asm.R0, asm.DWord))
			if err := g.value(n.r, depth+1); err != nil {
				return err
			}
			g.emit(
				asm.LoadMem(asm.R1, asm.R10, tempOff(depth), asm.DWord),
				op.Reg(asm.R1, asm.R0, t),
				asm.Ja.Label(f),
			)
			return nil
		}
	}
	// A number used as a truth value: true when not zero.
	if err := g.value(n, depth); err != nil {
		return err
	}
	g.emit(asm.JNE.Imm(asm.R0, 0, t), asm.Ja.Label(f))
	return nil
}

// check resolves every field of n so that field errors surface before
// code generation, in source order.
func (g *gen) check(n node) error {
	switch n := n.(type) {
	case *fieldNode:
		_, err := resolve(n, g.root, g.ident)
		return err
	case *notNode:
		return g.check(n.x)
	case *binNode:
		if err := g.check(n.l); err != nil {
			return err
		}
		return g.check(n.r)
	}
	return nil
}
