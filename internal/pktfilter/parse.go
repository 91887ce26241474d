package pktfilter

// This file holds the parser's state, the node builders and the top of
// the grammar (programs, expressions, terms, nesting depth).

// parser is a recursive-descent rendering of libpcap's LALR grammar that
// generates predicate nodes as it reduces, like libpcap's gencode: the
// VLAN offset shift applies to everything parsed after a "vlan".
type parser struct {
	toks     []token
	pos      int
	ls       linkState
	depth    int
	optimize bool // fold constants like libpcap's optimiser
	// noOpt is set by constructs whose code libpcap never optimises
	// (geneve, protochain): the whole expression is then compiled as
	// pcap_compile with optimize 0 would.
	noOpt bool
	err   error // the first error of a code generator without an error result
}

// offset is where a header starts: an origin plus a constant.
type offset struct {
	org origin
	k   uint32
}

// linkState is what libpcap's code generator knows about the headers at
// this point of the expression; "vlan", "mpls", "pppoes" and "geneve"
// change it for everything parsed after them.
type linkState struct {
	hdr, typ, pl offset // link-layer header, EtherType field, link payload
	nl           uint32 // MPLS label bytes between pl and the network header
	mpls         int    // MPLS labels matched so far
	ppp          bool   // after "pppoes": the link layer is PPP
	geneve       bool   // after "geneve": inner offsets are variable
}

func initialLinkState() linkState {
	return linkState{hdr: offset{orgPacket, 0}, typ: offset{orgNet, 0xfffffffe}, pl: offset{orgNet, 0}}
}

// ref names a header the way libpcap's gencode does (OR_LINKHDR, ...),
// resolved against the current link state by place.
type ref uint8

const (
	refLinkHdr  ref = iota // the link-layer header
	refLinkType            // the EtherType (or PPP protocol) field
	refLLC                 // the link payload, before MPLS labels (OR_LLC)
	refLinkPL              // the network-layer header
	refTran4               // the header after the IPv4 header
	refTran6               // the header after a fixed IPv6 header
)

// place resolves r to a load kind, its origin and a constant: the
// offset of the header (baseAbs) or of the IPv4 header (baseTran4).
func (p *parser) place(r ref) (base, origin, uint32) {
	ls := &p.ls
	switch r {
	case refLinkHdr:
		return baseAbs, ls.hdr.org, ls.hdr.k
	case refLinkType:
		return baseAbs, ls.typ.org, ls.typ.k
	case refLLC:
		return baseAbs, ls.pl.org, ls.pl.k
	case refLinkPL:
		return baseAbs, ls.pl.org, ls.pl.k + ls.nl
	case refTran4:
		return baseTran4, ls.pl.org, ls.pl.k + ls.nl
	}
	return baseAbs, ls.pl.org, ls.pl.k + ls.nl + 40
}

// fail records the first error of a code generator that cannot return
// one; parseProgram reports it.
func (p *parser) fail(err error) *node {
	if p.err == nil {
		p.err = err
	}
	return &node{op: opFalse}
}

func (p *parser) at(i int) token {
	if i >= len(p.toks) {
		i = len(p.toks) - 1
	}
	return p.toks[i]
}

func (p *parser) cur() token { return p.at(p.pos) }

func (p *parser) next() token {
	t := p.at(p.pos)
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func isOp(t token, s string) bool { return t.kind == tkOp && t.text == s }

func isKW(t token, kws ...string) bool {
	if t.kind != tkKW {
		return false
	}
	for _, k := range kws {
		if t.kw == k {
			return true
		}
	}
	return false
}

func unexpected(t token) error {
	if t.kind == tkEOF {
		return errorf(t.pos, "syntax error: unexpected end of expression")
	}
	return errorf(t.pos, "syntax error: unexpected %q", t.text)
}

// Node constructors.

func and(a, b *node) *node {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return &node{op: opAnd, a: a, b: b}
}

func or(a, b *node) *node { return &node{op: opOr, a: a, b: b} }

func not(a *node) *node { return &node{op: opNot, a: a} }

func l2only(a *node) *node { return &node{op: opL2, a: a} }

// cmp tests a packet field. A comparison under a zero mask needs no load
// (libpcap's optimiser folds it away), so it is a constant.
func (p *parser) cmp(rf ref, off uint32, size uint8, r relation, mask, val uint32) *node {
	if mask == 0 && p.optimize {
		if compare(r, 0, val) {
			return &node{op: opTrue}
		}
		return &node{op: opFalse}
	}
	b, org, k := p.place(rf)
	n := &node{op: opCmp, base: b, org: org, off: off, size: size, rel: r, mask: mask, val: val}
	if b == baseAbs {
		n.off += k
	} else {
		n.shift = k
	}
	return n
}

// l2 marks n as a test of the outermost link layer, false on packets
// without one (libpcap refuses it on raw IP), unless a Geneve header
// brought an inner link layer.
func (p *parser) l2(n *node) *node {
	if p.ls.geneve {
		return n
	}
	return l2only(n)
}

// linkAddr guards a test of link-layer addresses (libpcap's
// gen_prevlinkhdr_check): after Geneve the payload must carry an
// Ethernet header; after PPPoE there are none.
func (p *parser) linkAddr(n *node, pos int) *node {
	switch {
	case p.ls.ppp:
		return p.fail(errorf(pos, "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel"))
	case p.ls.geneve:
		return and(&node{op: opGeneveLL}, n)
	}
	return l2only(n)
}

// parseProgram parses the whole token stream; nil means "match all".
func (p *parser) parseProgram() (*node, error) {
	if p.cur().kind == tkEOF {
		return nil, nil
	}
	p.ls = initialLinkState()
	n, _, err := p.parseExpr(qerr)
	if err == nil {
		err = p.err
	}
	if err != nil {
		return nil, err
	}
	if t := p.cur(); t.kind != tkEOF {
		return nil, unexpected(t)
	}
	return n, nil
}

// parseExpr: expr (and|or) (term|id) ..., left to right, equal precedence.
func (p *parser) parseExpr(prev qual) (*node, qual, error) {
	n, q, err := p.parseTerm(prev)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.cur()
		if t.kind != tkAnd && t.kind != tkOr {
			return n, q, nil
		}
		p.next()
		var r *node
		if p.idStart(p.pos) {
			r, err = p.parseID(q)
		} else {
			r, q, err = p.parseTerm(q)
		}
		if err != nil {
			return nil, q, err
		}
		if t.kind == tkAnd {
			n = and(n, r)
		} else {
			n = or(n, r)
		}
	}
}

// matching returns the index of the ")" closing the "(" at i, or the EOF
// index.
func (p *parser) matching(i int) int {
	depth := 0
	for j := i; j < len(p.toks); j++ {
		switch {
		case isOp(p.toks[j], "("):
			depth++
		case isOp(p.toks[j], ")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(p.toks) - 1
}

// arithFollow reports whether t continues an arithmetic expression or
// starts a comparison.
func arithFollow(t token) bool {
	if t.kind != tkOp {
		return false
	}
	switch t.text {
	case "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", ">", "<", ">=", "<=", "=", "!=":
		return true
	}
	return false
}

// idStart reports whether the token at i starts a bare address that
// inherits the previous qualifiers. Past maxDepth negations and
// parentheses it answers false; the parser then reports the nesting.
func (p *parser) idStart(i int) bool {
	for d := 0; d < maxDepth; d++ {
		t := p.at(i)
		switch t.kind {
		case tkHID, tkHID6, tkEID, tkID:
			return true
		case tkNum:
			return !arithFollow(p.at(i + 1))
		case tkNot:
			i++
			continue
		case tkOp:
			if t.text == "(" && !arithFollow(p.at(p.matching(i)+1)) {
				i++
				continue
			}
		}
		return false
	}
	return false
}

// parseTerm parses a term; prev is the qualifier context before it.
func (p *parser) parseTerm(prev qual) (*node, qual, error) {
	t := p.cur()
	switch t.kind {
	case tkNot:
		if err := p.enter(); err != nil {
			return nil, qerr, err
		}
		defer p.leave()
		p.next()
		n, q, err := p.parseTerm(prev)
		if err != nil {
			return nil, q, err
		}
		return not(n), q, nil
	case tkOp:
		if t.text == "(" {
			return p.parseParenTerm(prev)
		}
		if t.text == "-" {
			return p.parseRelation()
		}
	case tkNum:
		return p.parseRelation()
	case tkKW:
		return p.parseKeywordTerm()
	}
	return nil, qerr, unexpected(t)
}

// parseParenTerm parses "( expr )", or a comparison that starts with a
// parenthesised arithmetic expression when an operator follows the
// closing parenthesis.
func (p *parser) parseParenTerm(prev qual) (*node, qual, error) {
	if arithFollow(p.at(p.matching(p.pos) + 1)) {
		return p.parseRelation()
	}
	if err := p.enter(); err != nil {
		return nil, qerr, err
	}
	defer p.leave()
	p.next()
	n, _, err := p.parseExpr(prev)
	if err != nil {
		return nil, qerr, err
	}
	if c := p.next(); !isOp(c, ")") {
		return nil, qerr, unexpected(c)
	}
	return n, prev, nil
}

// maxDepth bounds the nesting of parentheses, negations and operators.
const maxDepth = 200

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errorf(p.cur().pos, "expression nested more than %d deep", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }
