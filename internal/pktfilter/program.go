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
	org   origin
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
	if optimize && len(pr.insns) <= maxOptimizeInsns {
		pr.optimize()
	}
	return pr
}

// Limits that keep optimisation fast on huge expressions; beyond them the
// program is merely less optimised (verdicts only differ on packets too
// short for some test).
const (
	maxOptimizeInsns = 4096 // larger programs are not optimised
	maxThreadSteps   = 256  // tests one branch may be threaded past per pass
)

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
			return pr.emit(insn{op: opCmp, base: baseAbs, org: n.org, off: n.off, size: 2, mask: 0xffffffff, val: n.val, jt: t, jf: f})
		}
		// Raw IP: the version nibble tells IPv4 from IPv6.
		switch n.val {
		case etherIP:
			return pr.emit(insn{op: opCmp, base: baseAbs, size: 1, mask: 0xf0, val: 0x40, jt: t, jf: f})
		case etherIP6:
			return pr.emit(insn{op: opCmp, base: baseAbs, size: 1, mask: 0xf0, val: 0x60, jt: t, jf: f})
		}
		return f
	}
	return pr.emit(insn{op: n.op, rel: n.rel, base: n.base, org: n.org, size: n.size, shift: n.shift, off: n.off,
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
			s := m.origin(in.org)
			if in.base == baseTran4 {
				l := s + in.shift
				h, loaded := m.load(l, 1)
				if !loaded {
					return false, true
				}
				s = l + (h&0xf)*4
			}
			v, loaded := m.load(s+in.off, in.size)
			if !loaded {
				return false, true
			}
			ok = compare(in.rel, v&in.mask, in.val)
		case opMAC:
			s := m.origin(in.org) + in.off
			w, loaded := m.load(s+2, 4)
			if !loaded {
				return false, true
			}
			if w == binary.BigEndian.Uint32(in.mac[2:]) {
				h, loaded := m.load(s, 2)
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
		case opGeneve:
			if !m.geneve(m.origin(in.org)+in.shift, in.val == 6) {
				return false, true
			}
			ok = true
		case opGeneveLL:
			ok = m.origin(orgGLinkHdr) != m.origin(orgGLinkPL)
		case opChain:
			var loaded bool
			ok, loaded = m.chain(m.origin(in.org)+in.shift, in.val, in.size == 6)
			if !loaded {
				return false, true
			}
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

// optimize threads jumps the way libpcap's optimiser does: a branch that
// leads to a test whose outcome is implied by the facts holding on that
// branch (the same test taken before on every path, or an equality with
// another constant known to hold), or to a test whose two branches meet,
// is redirected past it. The bypassed test's load then never happens, so
// a packet too short for it is judged by the remaining tests, as libpcap
// judges it. Jumps go to lower indices, so the program stays a DAG.
func (pr *program) optimize() {
	for range 32 {
		changed := false
		facts := pr.dominatingFacts()
		for i := len(pr.insns) - 1; i >= 0; i-- {
			if !facts[i].reachable {
				continue
			}
			in := &pr.insns[i]
			k, keyed := in.key()
			for _, br := range [2]*int32{&in.jt, &in.jf} {
				known := facts[i].list
				if keyed {
					known = &factList{fact: fact{key: k, val: in.val, taken: br == &in.jt}, next: known}
				}
				t := *br
				for steps := 0; t >= 0 && steps < maxThreadSteps; steps++ {
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

// fact is what a taken branch tells about a tested value.
type fact struct {
	key   testKey
	val   uint32
	taken bool // the test held
}

// factList is an immutable list of facts; lists share their tails.
type factList struct {
	fact fact
	next *factList
}

// maxFactDepth bounds how far back outcome looks for a fact, which keeps
// optimisation linear in the size of the program.
const maxFactDepth = 128

// testKey identifies the value a test compares and how; two tests with
// equal keys compare the same packet bytes the same way.
type testKey struct {
	op    nodeOp
	rel   relation
	base  base
	org   origin
	size  uint8
	shift uint32
	off   uint32
	mask  uint32
}

func (in *insn) key() (testKey, bool) {
	switch in.op {
	case opCmp, opLen:
		return testKey{op: in.op, rel: in.rel, base: in.base, org: in.org, size: in.size, shift: in.shift, off: in.off, mask: in.mask}, true
	}
	return testKey{}, false
}

// outcome reports whether the facts decide the test.
func outcome(in *insn, facts *factList) (bool, bool) {
	k, ok := in.key()
	if !ok {
		return false, false
	}
	for d := 0; facts != nil && d < maxFactDepth; facts, d = facts.next, d+1 {
		f := facts.fact
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

// nodeFacts are the facts established by branches on every path from the
// entry to an instruction.
type nodeFacts struct {
	reachable bool
	list      *factList
}

// dominatingFacts computes nodeFacts for every instruction. An
// instruction reached by a single branch knows what its predecessor knows
// plus that branch's outcome; one reached by several branches knows what
// its immediate dominator knows.
func (pr *program) dominatingFacts() []nodeFacts {
	n := len(pr.insns)
	facts := make([]nodeFacts, n)
	idom := make([]int32, n)
	preds := make([]int, n)    // number of incoming branches
	single := make([]int32, n) // the predecessor, when preds == 1
	taken := make([]bool, n)   // which branch of it, when preds == 1
	if pr.entry < 0 {
		return facts
	}
	facts[pr.entry].reachable = true
	idom[pr.entry] = pr.entry
	intersect := func(a, b int32) int32 {
		for a != b {
			for a < b {
				a = idom[a]
			}
			for b < a {
				b = idom[b]
			}
		}
		return a
	}
	// Jumps go to lower indices: decreasing index order is topological.
	for i := n - 1; i >= 0; i-- {
		if !facts[i].reachable {
			continue
		}
		if int32(i) != pr.entry {
			if preds[i] == 1 {
				p := single[i]
				facts[i].list = facts[p].list
				if k, ok := pr.insns[p].key(); ok {
					facts[i].list = &factList{fact: fact{key: k, val: pr.insns[p].val, taken: taken[i]}, next: facts[p].list}
				}
			} else {
				facts[i].list = facts[idom[i]].list
			}
		}
		in := &pr.insns[i]
		for _, br := range [2]struct {
			to    int32
			taken bool
		}{{in.jt, true}, {in.jf, false}} {
			t := br.to
			if t < 0 {
				continue
			}
			preds[t]++
			if !facts[t].reachable {
				facts[t].reachable = true
				idom[t] = int32(i)
				single[t], taken[t] = int32(i), br.taken
				continue
			}
			idom[t] = intersect(idom[t], int32(i))
		}
	}
	return facts
}
