package pktfilter

import "encoding/binary"

// Jump targets that end a program.
const (
	accept int32 = -1
	reject int32 = -2
)

// insn is one test of a compiled program: a leaf of the predicate tree
// with the instruction to continue at when it holds (jt) and when it does
// not (jf), like a BPF conditional jump. and, or and not disappear into
// the jump targets.
type insn struct {
	op    nodeOp // opL2, opLinkType, opCmp, opMAC, opLen or opRel
	rel   relation
	base  base
	size  uint8
	shift uint32
	off   uint32
	mask  uint32
	val   uint32
	mac   [6]byte
	x, y  *arith
	jt    int32
	jf    int32
}

// program is a flattened filter; entry may be accept or reject.
type program struct {
	insns []insn
	entry int32
}

// compileProgram flattens the predicate tree with short-circuit jumps.
func compileProgram(root *node) program {
	var pr program
	pr.entry = pr.gen(root, accept, reject)
	return pr
}

// gen emits n so that it continues at t when n holds and at f otherwise,
// and returns the index of n's first test. Later-evaluated parts are
// emitted first, so each subtree is emitted exactly once.
func (pr *program) gen(n *node, t, f int32) int32 {
	switch n.op {
	case opTrue:
		return t
	case opFalse:
		return f
	case opAnd:
		return pr.gen(n.a, pr.gen(n.b, t, f), f)
	case opOr:
		return pr.gen(n.a, t, pr.gen(n.b, t, f))
	case opNot:
		return pr.gen(n.a, f, t)
	case opL2:
		return pr.emit(insn{op: opL2, jt: pr.gen(n.a, t, f), jf: f})
	}
	return pr.emit(insn{op: n.op, rel: n.rel, base: n.base, size: n.size, shift: n.shift, off: n.off,
		mask: n.mask, val: n.val, mac: n.mac, x: n.x, y: n.y, jt: t, jf: f})
}

func (pr *program) emit(in insn) int32 {
	pr.insns = append(pr.insns, in)
	return int32(len(pr.insns) - 1)
}

// run executes the program over the packet in m.
func (pr *program) run(m *machine) bool {
	pc := pr.entry
	for pc >= 0 {
		in := &pr.insns[pc]
		var ok bool
		switch in.op {
		case opL2:
			ok = !m.l3
		case opLinkType:
			if m.l3 {
				if len(m.data) == 0 {
					return false
				}
				switch in.val {
				case 0x0800:
					ok = m.data[0]&0xf0 == 0x40
				case 0x86dd:
					ok = m.data[0]&0xf0 == 0x60
				}
				break
			}
			v, loaded := m.load(12+in.shift, 2)
			if !loaded {
				return false
			}
			ok = v == in.val
		case opCmp:
			s, loaded := m.start(in.base, in.shift)
			if !loaded {
				return false
			}
			v, loaded := m.load(s+in.off, in.size)
			if !loaded {
				return false
			}
			ok = compare(in.rel, v&in.mask, in.val)
		case opMAC:
			w, loaded := m.load(in.off+2, 4)
			if !loaded {
				return false
			}
			if w == binary.BigEndian.Uint32(in.mac[2:]) {
				h, loaded := m.load(in.off, 2)
				if !loaded {
					return false
				}
				ok = h == uint32(binary.BigEndian.Uint16(in.mac[:]))
			}
		case opLen:
			ok = compare(in.rel, m.wirelen, in.val)
		case opRel:
			x, loaded := m.arith(in.x)
			if !loaded {
				return false
			}
			y, loaded := m.arith(in.y)
			if !loaded {
				return false
			}
			ok = compare(in.rel, x, y)
		default:
			return false
		}
		if ok {
			pc = in.jt
		} else {
			pc = in.jf
		}
	}
	return pc == accept
}
