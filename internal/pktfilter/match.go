package pktfilter

import "encoding/binary"

// nodeOp is the operation of a compiled predicate node.
type nodeOp uint8

const (
	opTrue     nodeOp = iota
	opFalse           // never matches
	opAnd             // a and b, left first
	opOr              // a or b, left first
	opNot             // not a
	opL2              // a, but false on packets without a link-layer header
	opLinkType        // EtherType == val (IPv4/IPv6 version nibble on raw IP)
	opCmp             // load(base+off, size) & mask <rel> val
	opMAC             // the 6 bytes at the link header + off == mac
	opLen             // wire length <rel> val
	opRel             // x <rel> y, both arithmetic
)

// base selects what a load offset is relative to.
type base uint8

const (
	baseLinkHdr  base = iota // start of the packet (the link-layer header)
	baseLinkType             // the EtherType field (L2 only)
	baseLinkPL               // the network-layer header
	baseTran4                // the transport header after an IPv4 header (IHL)
	baseTran6                // the transport header after a fixed IPv6 header
)

// relation is a comparison; relSet is "x & val != 0". An out-of-range
// read or a division by zero rejects the whole packet, as in BPF.
type relation uint8

const (
	relEQ relation = iota
	relGT
	relGE
	relSet
)

// node is one predicate of a compiled filter.
type node struct {
	op    nodeOp
	rel   relation
	base  base
	size  uint8  // load size in bytes: 1, 2 or 4
	shift uint32 // bytes of VLAN tags before the EtherType (L2 only)
	off   uint32
	mask  uint32
	val   uint32
	mac   [6]byte
	a, b  *node
	x, y  *arith
}

// arithOp is the operation of an arithmetic expression node.
type arithOp uint8

const (
	aConst arithOp = iota
	aLen
	aLoad // load size bytes at base + value of a
	aNeg
	aAdd
	aSub
	aMul
	aDiv
	aMod
	aAnd
	aOr
	aXor
	aLsh
	aRsh
)

// arith is an arithmetic expression over packet bytes (unsigned 32 bits).
type arith struct {
	op    arithOp
	base  base
	size  uint8
	shift uint32
	val   uint32
	a, b  *arith
}

// machine evaluates a compiled filter over one packet.
type machine struct {
	data    []byte
	wirelen uint32
	l3      bool
}

// load reads a big-endian value of size bytes at off.
func (m *machine) load(off uint32, size uint8) (uint32, bool) {
	if uint64(off)+uint64(size) > uint64(len(m.data)) {
		return 0, false
	}
	switch size {
	case 1:
		return uint32(m.data[off]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(m.data[off:])), true
	default:
		return binary.BigEndian.Uint32(m.data[off:]), true
	}
}

// start returns the offset of b in the packet.
func (m *machine) start(b base, shift uint32) (uint32, bool) {
	pl := uint32(0)
	if !m.l3 {
		pl = 14 + shift
	}
	switch b {
	case baseLinkHdr:
		return 0, true
	case baseLinkType:
		return 12 + shift, true
	case baseLinkPL:
		return pl, true
	case baseTran4:
		v, ok := m.load(pl, 1)
		if !ok {
			return 0, false
		}
		return pl + (v&0xf)*4, true
	default:
		return pl + 40, true
	}
}

func compare(r relation, x, y uint32) bool {
	switch r {
	case relEQ:
		return x == y
	case relGT:
		return x > y
	case relGE:
		return x >= y
	default:
		return x&y != 0
	}
}

// arith evaluates e; false means the filter aborts.
func (m *machine) arith(e *arith) (uint32, bool) {
	switch e.op {
	case aConst:
		return e.val, true
	case aLen:
		return m.wirelen, true
	case aLoad:
		idx, ok := m.arith(e.a)
		if !ok {
			return 0, false
		}
		s, ok := m.start(e.base, e.shift)
		if !ok {
			return 0, false
		}
		return m.load(idx+s, e.size)
	case aNeg:
		v, ok := m.arith(e.a)
		return -v, ok
	}
	x, ok := m.arith(e.a)
	if !ok {
		return 0, false
	}
	y, ok := m.arith(e.b)
	if !ok {
		return 0, false
	}
	switch e.op {
	case aAdd:
		return x + y, true
	case aSub:
		return x - y, true
	case aMul:
		return x * y, true
	case aDiv:
		if y == 0 {
			return 0, false
		}
		return x / y, true
	case aMod:
		if y == 0 {
			return 0, false
		}
		return x % y, true
	case aAnd:
		return x & y, true
	case aOr:
		return x | y, true
	case aXor:
		return x ^ y, true
	case aLsh:
		if y > 31 {
			return 0, true
		}
		return x << y, true
	default:
		if y > 31 {
			return 0, true
		}
		return x >> y, true
	}
}
