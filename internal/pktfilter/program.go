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
	op    nodeOp // opCmp, opMAC, opLen or opRel
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

// program is a flattened filter for one kind of packet (with or without
// a link-layer header); entry may be accept or reject.
type program struct {
	insns []insn
	entry int32
	l3    bool
}

// compileProgram flattens the predicate tree for packets that start at the
// link-layer header (l3 false) or at the IP header, with short-circuit
// jumps, and then simplifies the jumps like libpcap's optimiser (see
// optimize). As libpcap compiles per link type, link-layer tests become
// constants or plain field tests here.
func compileProgram(root *node, l3, optimize bool) program {
	pr := program{l3: l3}
	pr.entry = pr.gen(root, accept, reject)
	if optimize {
		pr.optimize()
	}
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
		if pr.l3 {
			return f
		}
		return pr.gen(n.a, t, f)
	case opLinkType:
		if !pr.l3 {
			return pr.emit(insn{op: opCmp, base: baseLinkType, size: 2, shift: n.shift, mask: 0xffffffff, val: n.val, jt: t, jf: f})
		}
		// Raw IP: the version nibble tells IPv4 from IPv6.
		switch n.val {
		case etherIP:
			return pr.emit(insn{op: opCmp, base: baseLinkHdr, size: 1, mask: 0xf0, val: 0x40, jt: t, jf: f})
		case etherIP6:
			return pr.emit(insn{op: opCmp, base: baseLinkHdr, size: 1, mask: 0xf0, val: 0x60, jt: t, jf: f})
		}
		return f
	}
	return pr.emit(insn{op: n.op, rel: n.rel, base: n.base, size: n.size, shift: n.shift, off: n.off,
		mask: n.mask, val: n.val, mac: n.mac, x: n.x, y: n.y, jt: t, jf: f})
}

func (pr *program) emit(in insn) int32 {
	pr.insns = append(pr.insns, in)
	return int32(len(pr.insns) - 1)
}

// run executes the program over the packet in m. aborted reports that a
// test read past the captured bytes (or divided by zero), which rejects
// the packet.
func (pr *program) run(m *machine) (match, aborted bool) {
	pc := pr.entry
	for pc >= 0 {
		in := &pr.insns[pc]
		var ok bool
		switch in.op {
		case opCmp:
			s, loaded := m.start(in.base, in.shift)
			if !loaded {
				return false, true
			}
			v, loaded := m.load(s+in.off, in.size)
			if !loaded {
				return false, true
			}
			ok = compare(in.rel, v&in.mask, in.val)
		case opMAC:
			w, loaded := m.load(in.off+2, 4)
			if !loaded {
				return false, true
			}
			if w == binary.BigEndian.Uint32(in.mac[2:]) {
				h, loaded := m.load(in.off, 2)
				if !loaded {
					return false, true
				}
				ok = h == uint32(binary.BigEndian.Uint16(in.mac[:]))
			}
		case opLen:
			ok = compare(in.rel, m.wirelen, in.val)
		case opRel:
			x, loaded := m.arith(in.x)
			if !loaded {
				return false, true
			}
			y, loaded := m.arith(in.y)
			if !loaded {
				return false, true
			}
			ok = compare(in.rel, x, y)
		default:
			return false, true
		}
		if ok {
			pc = in.jt
		} else {
			pc = in.jf
		}
	}
	return pc == accept, false
}

// fact is what a taken branch tells about a tested value.
type fact struct {
	key   testKey
	val   uint32
	taken bool // the test held
}

// testKey identifies the value a test compares and how; two tests with
// equal keys compare the same packet bytes the same way.
type testKey struct {
	op    nodeOp
	rel   relation
	base  base
	size  uint8
	shift uint32
	off   uint32
	mask  uint32
}

func (in *insn) key() (testKey, bool) {
	switch in.op {
	case opCmp, opLen:
		return testKey{op: in.op, rel: in.rel, base: in.base, size: in.size, shift: in.shift, off: in.off, mask: in.mask}, true
	}
	return testKey{}, false
}

// optimize threads jumps the way libpcap's optimiser does: a branch that
// leads to a test whose outcome is implied by the facts holding on that
// branch (the same test taken before on every path, or an equality with
// another constant known to hold), or to a test whose two branches meet,
// is redirected past it. The bypassed test's load then never happens, so
// a packet too short for it is judged by the remaining tests, as libpcap
// judges it. The first test always runs. Jumps go to lower indices, so
// the program stays a DAG.
func (pr *program) optimize() {
	for range 64 {
		changed := false
		facts := pr.dominatingFacts()
		for i := len(pr.insns) - 1; i >= 0; i-- {
			if facts[i] == nil {
				continue
			}
			in := &pr.insns[i]
			k, keyed := in.key()
			for _, br := range [2]*int32{&in.jt, &in.jf} {
				known := facts[i]
				if keyed {
					known = append(known[:len(known):len(known)], fact{key: k, val: in.val, taken: br == &in.jt})
				}
				t := *br
				for t >= 0 {
					next := &pr.insns[t]
					if next.jt == next.jf {
						t = next.jt
						continue
					}
					out, ok := outcome(next, known)
					if !ok {
						break
					}
					if out {
						t = next.jt
					} else {
						t = next.jf
					}
				}
				if t != *br {
					*br = t
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	// The first test's load stays even when its branches meet (libpcap
	// keeps the root block's statements), unless every path ends in the
	// same verdict: then nothing is read at all.
	t := pr.entry
	for t >= 0 && pr.insns[t].jt == pr.insns[t].jf {
		t = pr.insns[t].jt
	}
	if t < 0 {
		pr.entry = t
	}
}

// outcome reports whether the facts decide the test.
func outcome(in *insn, facts []fact) (bool, bool) {
	k, ok := in.key()
	if !ok {
		return false, false
	}
	for _, f := range facts {
		if f.key != k {
			continue
		}
		if f.val == in.val {
			return f.taken, true
		}
		if f.taken && k.rel == relEQ && k.op != opLen {
			return false, true
		}
	}
	return false, false
}

// dominatingFacts returns, for every instruction, the facts established
// by branches on all paths from the entry to it (nil when unreachable).
func (pr *program) dominatingFacts() [][]fact {
	facts := make([][]fact, len(pr.insns))
	seen := make([]bool, len(pr.insns))
	if pr.entry >= 0 {
		seen[pr.entry] = true
		facts[pr.entry] = []fact{}
	}
	for i := len(pr.insns) - 1; i >= 0; i-- {
		if !seen[i] {
			continue
		}
		in := &pr.insns[i]
		k, ok := in.key()
		for _, br := range [2]struct {
			to    int32
			taken bool
		}{{in.jt, true}, {in.jf, false}} {
			if br.to < 0 {
				continue
			}
			out := append([]fact(nil), facts[i]...)
			if ok {
				out = append(out, fact{key: k, val: in.val, taken: br.taken})
			}
			if !seen[br.to] {
				seen[br.to] = true
				facts[br.to] = out
				continue
			}
			facts[br.to] = intersect(facts[br.to], out)
		}
	}
	return facts
}

func intersect(a, b []fact) []fact {
	var out []fact
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}
