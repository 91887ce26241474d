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
	opGeneve          // compute the inner offsets after a Geneve header; val 6: over IPv6
	opGeneveLL        // the Geneve payload has a link-layer header (Ethernet)
	opChain           // protochain: the IP header chain at org+shift reaches val; size 6: IPv6
)

// origin is where a load offset counts from: the start of the packet, the
// network header of the outermost link (14 bytes in on Ethernet, 0 on raw
// IP), or one of the offsets a "geneve" test computes from the packet
// (libpcap's variable offsets, kept in scratch registers).
type origin uint8

const (
	orgPacket   origin = iota
	orgNet             // the outermost network header
	orgGLinkHdr        // the inner link-layer header after Geneve
	orgGLinkTyp        // the inner EtherType field after Geneve
	orgGLinkPL         // the inner network header after Geneve
)

// base selects how a load address is formed from its origin.
type base uint8

const (
	baseAbs   base = iota // origin + off
	baseTran4             // after the IPv4 header at origin + shift (IHL)
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
	org   origin
	size  uint8  // load size in bytes: 1, 2 or 4
	shift uint32 // baseTran4: the IPv4 header is at org + shift
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
	org   origin
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
	// orgs holds the offset of every origin: 0, the network header, and
	// the offsets a Geneve test computed (like libpcap's scratch memory,
	// 0 until then).
	orgs [5]uint32
	// hung reports that a protochain walk would loop forever in
	// libpcap's interpreter (see chain).
	hung bool
	// regSet reports that reg holds computed offsets; uninit that a load
	// used them before (libpcap reads uninitialised scratch memory there).
	regSet, uninit bool
}

// newMachine prepares a machine for one packet.
func newMachine(data []byte, wirelen uint32, l3 bool) machine {
	m := machine{data: data, wirelen: wirelen, l3: l3}
	if !l3 {
		m.orgs[orgNet] = 14
	}
	return m
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

// load64 reads a big-endian value of size bytes at off, which may lie
// beyond 32 bits (then the read is out of range, as in BPF).
func (m *machine) load64(off uint64, size uint8) (uint32, bool) {
	if off+uint64(size) > uint64(len(m.data)) {
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

// origin returns the offset of o in the packet.
func (m *machine) origin(o origin) uint32 {
	if o >= orgGLinkHdr && !m.regSet {
		m.uninit = true
	}
	return m.orgs[o]
}

// addr returns the packet offset a load of the given kind makes, before
// its own offset is added.
func (m *machine) addr(b base, o origin, shift uint32) (uint32, bool) {
	s := m.origin(o)
	if b == baseAbs {
		return s, true
	}
	l := s + shift
	v, ok := m.load(l, 1)
	if !ok {
		return 0, false
	}
	return l + (v&0xf)*4, true
}

// geneve computes the inner offsets after the Geneve header that follows
// the UDP header of the IP packet at l (v6: a fixed IPv6 header), as
// libpcap's gen_geneve_offsets does.
func (m *machine) geneve(l uint32, v6 bool) bool {
	hl := uint32(40)
	if !v6 {
		v, ok := m.load(l, 1)
		if !ok {
			return false
		}
		hl = (v & 0xf) * 4
	}
	gh := l + hl + 8
	optlen, ok := m.load(gh, 1)
	if !ok {
		return false
	}
	end := gh + (optlen&0x3f)*4 + 8
	proto, ok := m.load(gh+2, 2)
	if !ok {
		return false
	}
	m.orgs[orgGLinkHdr], m.orgs[orgGLinkTyp], m.orgs[orgGLinkPL] = end, gh+2, end
	m.regSet = true
	if proto == 0x6558 { // Transparent Ethernet Bridging: an inner Ethernet header
		m.orgs[orgGLinkTyp], m.orgs[orgGLinkPL] = end+12, end+14
	}
	return true
}

// maxChainSteps bounds a protochain walk; libpcap's interpreter loops
// forever on an AH header whose length leads back to itself.
const maxChainSteps = 1024

// chain walks the IP header chain at l as libpcap's protochain code does
// and reports whether it reaches protocol v: IPv6 extension headers
// (hop-by-hop, destination options, routing, fragment) advance by their
// length field, AH by its length field from the start of the IP header
// (libpcap's arithmetic), anything else ends the walk.
func (m *machine) chain(l, v uint32, v6 bool) (match, ok bool) {
	var a, x uint32
	if v6 {
		p, ok := m.load(l+6, 1)
		if !ok {
			return false, false
		}
		a, x = p, 40
	} else {
		p, ok := m.load(l+9, 1)
		if !ok {
			return false, false
		}
		h, ok := m.load(l, 1)
		if !ok {
			return false, false
		}
		a, x = p, (h&0xf)*4
	}
	for range maxChainSteps {
		if a == v {
			return true, true
		}
		switch {
		case a == 59: // no next header
			return false, true
		case v6 && (a == 0 || a == 60 || a == 43 || a == 44):
			next, ok := m.load(l+x, 1)
			if !ok {
				return false, false
			}
			n, ok := m.load(l+x+1, 1)
			if !ok {
				return false, false
			}
			a, x = next, x+(n+1)*8
		case a == ipprotoAH:
			next, ok := m.load(l+x, 1)
			if !ok {
				return false, false
			}
			n, ok := m.load(l+x+1, 1)
			if !ok {
				return false, false
			}
			a, x = next, (n+2)*4
		default:
			return false, true
		}
	}
	m.hung = true
	return false, true
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
		s, ok := m.addr(e.base, e.org, e.shift)
		if !ok {
			return 0, false
		}
		if e.base == baseTran4 {
			// X = IHL*4 + index, then a load at X + the header offset.
			l := m.origin(e.org) + e.shift
			return m.load64(uint64(s-l+idx)+uint64(l), e.size)
		}
		if e.org >= orgGLinkHdr {
			return m.load64(uint64(s+idx)+uint64(e.shift), e.size)
		}
		return m.load64(uint64(idx)+uint64(s+e.shift), e.size)
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
