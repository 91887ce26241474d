package pktfilter

import (
	"net/netip"
	"strconv"
	"strings"
)

// protocol qualifiers ("pqual" in libpcap's grammar).
type qproto uint8

const (
	pDefault qproto = iota
	pLink
	pIP
	pARP
	pRARP
	pSCTP
	pTCP
	pUDP
	pICMP
	pIGMP
	pIGRP
	pPIM
	pVRRP
	pCARP
	pIP6
	pICMP6
	pAH
	pESP
	pUndef
)

var protoByKeyword = map[string]qproto{
	"link": pLink, "ip": pIP, "arp": pARP, "rarp": pRARP, "sctp": pSCTP, "tcp": pTCP, "udp": pUDP,
	"icmp": pICMP, "igmp": pIGMP, "igrp": pIGRP, "pim": pPIM, "vrrp": pVRRP, "carp": pCARP,
	"ip6": pIP6, "icmp6": pICMP6, "ah": pAH, "esp": pESP,
}

var protoName = [...]string{
	pDefault: "", pLink: "link", pIP: "ip", pARP: "arp", pRARP: "rarp", pSCTP: "sctp", pTCP: "tcp",
	pUDP: "udp", pICMP: "icmp", pIGMP: "igmp", pIGRP: "igrp", pPIM: "pim", pVRRP: "vrrp",
	pCARP: "carp", pIP6: "ip6", pICMP6: "icmp6", pAH: "ah", pESP: "esp", pUndef: "",
}

// unsupportedKeywords are libpcap keywords whose primitives pktfilter does
// not implement.
var unsupportedKeywords = map[string]bool{
	"radio": true, "atalk": true, "aarp": true, "decnet": true, "lat": true, "sca": true,
	"moprc": true, "mopdl": true, "iso": true, "esis": true, "isis": true, "l1": true, "l2": true,
	"iih": true, "lsp": true, "snp": true, "csnp": true, "psnp": true, "clnp": true,
	"ipx": true, "netbeui": true, "gateway": true, "type": true, "subtype": true,
	"dir": true, "addr1": true, "addr2": true, "addr3": true, "addr4": true, "ra": true, "ta": true,
	"inbound": true, "outbound": true, "ifindex": true,
	"lane": true, "metac": true, "bcc": true, "oam": true, "oamf4": true,
	"oamf4ec": true, "oamf4sc": true, "sc": true, "ilmic": true, "vpi": true, "vci": true,
	"connectmsg": true, "metaconnect": true, "ifname": true, "rset": true, "rnr": true, "srnr": true,
	"reason": true, "action": true, "fisu": true, "lssu": true, "msu": true, "hfisu": true,
	"hlssu": true, "hmsu": true, "sio": true, "opc": true, "dpc": true, "sls": true, "hsio": true,
	"hopc": true, "hdpc": true, "hsls": true,
}

// direction qualifiers.
type qdir uint8

const (
	dDefault qdir = iota
	dSrc
	dDst
	dOr
	dAnd
	dUndef
)

// address-type qualifiers.
type qaddr uint8

const (
	aqDefault qaddr = iota
	aqHost
	aqNet
	aqPort
	aqPortRange
	aqProto
	aqProtochain
	aqUndef
)

// qual is the qualifier set that an address inherits ("port 53 or 80").
type qual struct {
	proto qproto
	dir   qdir
	addr  qaddr
}

var qerr = qual{proto: pUndef, dir: dUndef, addr: aqUndef}

// EtherTypes and IP protocol numbers used by the code generator.
const (
	etherIP     = 0x0800
	etherARP    = 0x0806
	etherRARP   = 0x8035
	etherIP6    = 0x86dd
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8
	etherQinQ   = 0x9100
	etherMPLS   = 0x8847
	etherPPPoED = 0x8863
	etherPPPoES = 0x8864
	llcsapSTP   = 0x42

	pppMPLSUnicast = 0x0281
	genevePort     = 6081

	ipprotoICMP  = 1
	ipprotoIGMP  = 2
	ipprotoIGRP  = 9
	ipprotoTCP   = 6
	ipprotoUDP   = 17
	ipprotoFrag  = 44
	ipprotoESP   = 50
	ipprotoAH    = 51
	ipprotoICMP6 = 58
	ipprotoPIM   = 103
	ipprotoVRRP  = 112
	ipprotoSCTP  = 132
	protoUndef   = -1
)

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

var headKeywords = []string{"src", "dst", "host", "net", "port", "portrange", "proto", "protochain", "gateway"}

func (p *parser) parseKeywordTerm() (*node, qual, error) {
	t := p.cur()
	kw := t.kw
	if unsupportedKeywords[kw] {
		return nil, qerr, unsupported(t.pos, t.text)
	}
	if proto, ok := protoByKeyword[kw]; ok {
		nt := p.at(p.pos + 1)
		switch {
		case isOp(nt, "["):
			return p.parseRelation()
		case isKW(nt, headKeywords...):
			return p.parseHeadID()
		case isKW(nt, "broadcast", "multicast"):
			p.next()
			return p.parseCast(proto)
		case nt.kind == tkKW && unsupportedKeywords[nt.kw]:
			return nil, qerr, unsupported(nt.pos, nt.text)
		}
		p.next()
		n, err := p.abbrev(proto, t.pos)
		return n, qerr, err
	}
	switch kw {
	case "src", "dst", "host", "net", "port", "portrange", "proto", "protochain":
		return p.parseHeadID()
	case "mpls", "pppoes", "geneve":
		return p.parseEncap()
	case "pppoed":
		p.next()
		return p.linkType(etherPPPoED), qerr, nil
	case "llc":
		p.next()
		if nt := p.cur(); nt.kind == tkID || nt.kind == tkNum {
			return nil, qerr, unsupported(nt.pos, "llc "+nt.text)
		}
		return p.llc(t.pos), qerr, nil
	case "stp":
		p.next()
		if nt := p.cur(); isOp(nt, "[") || nt.kind == tkKW && (isKW(nt, headKeywords...) || isKW(nt, "broadcast", "multicast")) {
			return nil, qerr, unsupported(nt.pos, "stp "+nt.text)
		}
		return p.linkType(llcsapSTP), qerr, nil
	case "broadcast", "multicast":
		return p.parseCast(pDefault)
	case "len":
		return p.parseRelation()
	case "less", "greater":
		p.next()
		nt := p.next()
		if nt.kind != tkNum {
			return nil, qerr, unexpected(nt)
		}
		if kw == "less" {
			return not(&node{op: opLen, rel: relGT, val: nt.num}), qerr, nil
		}
		return &node{op: opLen, rel: relGE, val: nt.num}, qerr, nil
	case "byte":
		return p.parseByte()
	case "vlan":
		return p.parseVLAN()
	}
	return nil, qerr, unexpected(t)
}

// parseCast parses "[proto] broadcast" and "[proto] multicast".
func (p *parser) parseCast(proto qproto) (*node, qual, error) {
	t := p.next()
	if t.kw == "broadcast" {
		switch proto {
		case pDefault, pLink:
			if p.ls.ppp {
				return nil, qerr, errorf(t.pos, "not a broadcast link")
			}
			return p.linkAddr(p.ehost([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst), t.pos), qerr, nil
		case pIP:
			return nil, qerr, unsupported(t.pos, "ip broadcast")
		}
		return nil, qerr, errorf(t.pos, "only link-layer/IP broadcast filters supported")
	}
	switch proto {
	case pDefault, pLink:
		if p.ls.ppp {
			return nil, qerr, errorf(t.pos, "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
		}
		return p.linkAddr(p.cmp(refLinkHdr, 0, 1, relSet, 0xffffffff, 1), t.pos), qerr, nil
	case pIP:
		return and(p.linkType(etherIP), p.cmp(refLinkPL, 16, 1, relGE, 0xffffffff, 224)), qerr, nil
	case pIP6:
		return and(p.linkType(etherIP6), p.cmp(refLinkPL, 24, 1, relEQ, 0xffffffff, 255)), qerr, nil
	}
	return nil, qerr, errorf(t.pos, "only link-layer/IP multicast filters supported")
}

// parseByte parses "byte IDX OP VAL".
func (p *parser) parseByte() (*node, qual, error) {
	p.next()
	idx, op, val := p.next(), p.next(), p.next()
	if idx.kind != tkNum {
		return nil, qerr, unexpected(idx)
	}
	if val.kind != tkNum {
		return nil, qerr, unexpected(val)
	}
	if op.kind != tkOp {
		return nil, qerr, unexpected(op)
	}
	switch op.text {
	case "=":
		return p.cmp(refLinkHdr, idx.num, 1, relEQ, 0xffffffff, val.num), qerr, nil
	case "<":
		return not(p.cmp(refLinkHdr, idx.num, 1, relGE, 0xffffffff, val.num)), qerr, nil
	case ">":
		return p.cmp(refLinkHdr, idx.num, 1, relGT, 0xffffffff, val.num), qerr, nil
	case "&", "|":
		aop := aAnd
		if op.text == "|" {
			aop = aOr
		}
		ld := p.loadAt(refLinkHdr, 1, &arith{op: aConst, val: idx.num})
		x := &arith{op: aop, a: ld, b: &arith{op: aConst, val: val.num}}
		return not(&node{op: opRel, rel: relEQ, x: x, y: &arith{op: aConst}}), qerr, nil
	}
	return nil, qerr, unexpected(op)
}

// parseVLAN parses "vlan [id]"; everything parsed afterwards sees the
// network header 4 bytes further on.
func (p *parser) parseVLAN() (*node, qual, error) {
	t := p.next()
	switch {
	case p.ls.mpls > 0:
		return nil, qerr, errorf(t.pos, "no VLAN match after MPLS")
	case p.ls.ppp:
		return nil, qerr, errorf(t.pos, "no VLAN support for PPP")
	case p.ls.geneve:
		return nil, qerr, unsupported(t.pos, "vlan after geneve")
	}
	tpid := or(or(p.linkType(ether8021Q), p.linkType(ether8021AD)), p.linkType(etherQinQ))
	n := tpid
	var id token
	switch {
	case p.cur().kind == tkNum:
		id = p.next()
	case isOp(p.cur(), "(") && p.at(p.pos+1).kind == tkNum && isOp(p.at(p.pos+2), ")"):
		p.next()
		id = p.next()
		p.next()
	}
	if id.kind == tkNum {
		if id.num > 0x0fff {
			return nil, qerr, errorf(id.pos, "VLAN tag %d greater than maximum %d", id.num, 0x0fff)
		}
		n = and(tpid, p.cmp(refLinkPL, 0, 2, relEQ, 0x0fff, id.num))
	}
	p.ls.typ.k += 4
	p.ls.pl.k += 4
	return l2only(n), qerr, nil
}

// parseHeadID parses "[proto] [dir] [type] id".
func (p *parser) parseHeadID() (*node, qual, error) {
	q := qual{}
	if t := p.cur(); t.kind == tkKW {
		if proto, ok := protoByKeyword[t.kw]; ok {
			q.proto = proto
			p.next()
		}
	}
	hasDir := false
	if t := p.cur(); isKW(t, "src", "dst") {
		hasDir = true
		p.next()
		q.dir = dSrc
		other := "dst"
		if t.kw == "dst" {
			q.dir, other = dDst, "src"
		}
		if c := p.cur(); c.kind == tkAnd || c.kind == tkOr {
			p.next()
			o := p.next()
			if !isKW(o, other) {
				return nil, qerr, unexpected(o)
			}
			q.dir = dOr
			if c.kind == tkAnd {
				q.dir = dAnd
			}
		}
	}
	t := p.cur()
	switch {
	case isKW(t, "host"):
		q.addr = aqHost
	case isKW(t, "net"):
		q.addr = aqNet
	case isKW(t, "port"):
		q.addr = aqPort
	case isKW(t, "portrange"):
		q.addr = aqPortRange
	case isKW(t, "proto") && !hasDir:
		q.addr = aqProto
	case isKW(t, "protochain") && !hasDir:
		q.addr = aqProtochain
	case isKW(t, "gateway") && !hasDir:
		return nil, qerr, unsupported(t.pos, t.text)
	case t.kind == tkKW && unsupportedKeywords[t.kw]:
		return nil, qerr, unsupported(t.pos, t.text)
	case !hasDir:
		return nil, qerr, unexpected(t)
	}
	if q.addr != aqDefault {
		p.next()
	}
	n, err := p.parseID(q)
	return n, q, err
}

// parseID parses an address (or a parenthesised list of them, or a
// negated one) under the qualifiers q.
func (p *parser) parseID(q qual) (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.cur()
	switch t.kind {
	case tkNot:
		p.next()
		n, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		return not(n), nil
	case tkOp:
		if t.text != "(" {
			break
		}
		p.next()
		n, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		for {
			c := p.cur()
			if c.kind != tkAnd && c.kind != tkOr {
				break
			}
			p.next()
			r, err := p.parseID(q)
			if err != nil {
				return nil, err
			}
			if c.kind == tkAnd {
				n = and(n, r)
			} else {
				n = or(n, r)
			}
		}
		if c := p.next(); !isOp(c, ")") {
			return nil, unexpected(c)
		}
		return n, nil
	case tkNum:
		p.next()
		return p.ncode("", t.num, q, t.pos)
	case tkHID:
		p.next()
		if isOp(p.cur(), "/") {
			p.next()
			m := p.next()
			if m.kind != tkNum {
				return nil, unexpected(m)
			}
			return p.mcode(t.text, "", m.num, q, t.pos)
		}
		if isKW(p.cur(), "mask") {
			p.next()
			m := p.next()
			if m.kind != tkHID {
				return nil, unexpected(m)
			}
			return p.mcode(t.text, m.text, 0, q, t.pos)
		}
		switch q.addr {
		case aqPort:
			return nil, errorf(t.pos, "'port' modifier applied to ip host")
		case aqPortRange:
			return nil, errorf(t.pos, "'portrange' modifier applied to ip host")
		case aqProto:
			return nil, errorf(t.pos, "'proto' modifier applied to ip host")
		}
		return p.ncode(t.text, 0, q, t.pos)
	case tkHID6:
		p.next()
		bits := uint32(128)
		if isOp(p.cur(), "/") {
			p.next()
			m := p.next()
			if m.kind != tkNum {
				return nil, unexpected(m)
			}
			bits = m.num
		}
		return p.mcode6(t.text, bits, q, t.pos)
	case tkEID:
		p.next()
		if (q.addr != aqHost && q.addr != aqDefault) || q.proto != pLink {
			return nil, errorf(t.pos, "ethernet address used in non-ether expression")
		}
		return p.linkAddr(p.ehost(parseMAC(t.text), q.dir), t.pos), nil
	case tkID:
		p.next()
		return p.scode(t.text, q, t.pos)
	}
	return nil, unexpected(t)
}

// parseMAC converts a MAC token (already validated by the lexer).
func parseMAC(s string) [6]byte {
	var mac [6]byte
	i := 0
	for k := 0; k < 6 && i < len(s); k++ {
		if s[i] == ':' || s[i] == '.' || s[i] == '-' {
			i++
		}
		d := hexVal(s[i])
		i++
		if i < len(s) && isHex(s[i]) {
			d = d<<4 | hexVal(s[i])
			i++
		}
		mac[k] = d
	}
	return mac
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// atoin parses a dotted decimal prefix ("10", "10.1", "10.1.2.3") and
// returns its value and its length in bits.
func atoin(s string) (uint32, uint32, bool) {
	var v, bits uint32
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, true
}

// ncode generates code for a number or dotted prefix (s != "") under q.
func (p *parser) ncode(s string, v uint32, q qual, pos int) (*node, error) {
	vlen := uint32(32)
	if s != "" {
		var ok bool
		v, vlen, ok = atoin(s)
		if !ok {
			return nil, errorf(pos, "invalid IPv4 address '%s'", s)
		}
	}
	switch q.addr {
	case aqDefault, aqHost, aqNet:
		if q.proto == pLink {
			return nil, errorf(pos, "illegal link layer address")
		}
		mask := uint32(0xffffffff)
		if s == "" && q.addr == aqNet {
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else {
			v <<= 32 - vlen
			mask <<= 32 - vlen
		}
		return p.host(v, mask, q.proto, q.dir, q.addr == aqNet, pos)
	case aqPort, aqPortRange:
		proto, err := portProto(q, pos)
		if err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, errorf(pos, "illegal port number %d > 65535", v)
		}
		if q.addr == aqPort {
			return p.port(v, v, proto, q.dir, false, pos)
		}
		return p.port(v, v, proto, q.dir, true, pos)
	case aqProto:
		return p.proto(v, q.proto, q.dir, pos)
	case aqProtochain:
		return p.protochain(v, q.proto, pos)
	}
	return nil, errorf(pos, "syntax error: address without a qualifier")
}

// portProto maps the protocol qualifier of a port to an IP protocol.
func portProto(q qual, pos int) (int, error) {
	switch q.proto {
	case pUDP:
		return ipprotoUDP, nil
	case pTCP:
		return ipprotoTCP, nil
	case pSCTP:
		return ipprotoSCTP, nil
	case pDefault:
		return protoUndef, nil
	}
	if q.addr == aqPortRange {
		return 0, errorf(pos, "illegal qualifier of 'portrange'")
	}
	return 0, errorf(pos, "illegal qualifier of 'port'")
}

// mcode generates code for "net a.b.c.d/len" and "net a.b.c.d mask m".
func (p *parser) mcode(s1, s2 string, masklen uint32, q qual, pos int) (*node, error) {
	n, nlen, ok := atoin(s1)
	if !ok {
		return nil, errorf(pos, "invalid IPv4 address '%s'", s1)
	}
	n <<= 32 - nlen
	var m uint32
	if s2 != "" {
		mv, mlen, ok := atoin(s2)
		if !ok {
			return nil, errorf(pos, "invalid IPv4 address '%s'", s2)
		}
		m = mv << (32 - mlen)
		if n&^m != 0 {
			return nil, errorf(pos, "non-network bits set in \"%s mask %s\"", s1, s2)
		}
	} else {
		if masklen > 32 {
			return nil, errorf(pos, "mask length must be <= 32")
		}
		if masklen != 0 {
			m = 0xffffffff << (32 - masklen)
		}
		if n&^m != 0 {
			return nil, errorf(pos, "non-network bits set in \"%s/%d\"", s1, masklen)
		}
	}
	if q.addr != aqNet {
		return nil, errorf(pos, "Mask syntax for networks only")
	}
	return p.host(n, m, q.proto, q.dir, true, pos)
}

// mcode6 generates code for an IPv6 address or prefix.
func (p *parser) mcode6(s string, bits uint32, q qual, pos int) (*node, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return nil, errorf(pos, "invalid ip6 address %s", s)
	}
	if bits > 128 {
		return nil, errorf(pos, "mask length must be <= 128")
	}
	addr := a.As16()
	var mask [16]byte
	for i := uint32(0); i < bits; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			return nil, errorf(pos, "non-network bits set in \"%s/%d\"", s, bits)
		}
	}
	switch q.addr {
	case aqDefault, aqHost:
		if bits != 128 {
			return nil, errorf(pos, "Mask syntax for networks only")
		}
	case aqNet:
	default:
		return nil, errorf(pos, "invalid qualifier against IPv6 address")
	}
	return p.host6(addr, mask, q.proto, q.dir, q.addr == aqNet, pos)
}

// scode generates code for a name under q.
func (p *parser) scode(name string, q qual, pos int) (*node, error) {
	switch q.addr {
	case aqDefault, aqHost, aqNet:
		return nil, unsupported(pos, name)
	case aqPort:
		proto, err := portProto(q, pos)
		if err != nil {
			return nil, err
		}
		port, real, ok := nameToPort(name)
		if !ok {
			return nil, errorf(pos, "unknown port '%s'", name)
		}
		if real, err = checkPortProto(real, proto, "port '"+name+"'", pos); err != nil {
			return nil, err
		}
		return p.port(port, port, real, q.dir, false, pos)
	case aqPortRange:
		proto, err := portProto(q, pos)
		if err != nil {
			return nil, err
		}
		p1, p2, real, ok := nameToPortRange(name)
		if !ok {
			return nil, errorf(pos, "unknown port in range '%s'", name)
		}
		if real, err = checkPortProto(real, proto, "port in range '"+name+"'", pos); err != nil {
			return nil, err
		}
		if p1 > 65535 || p2 > 65535 {
			return nil, errorf(pos, "illegal port number > 65535")
		}
		return p.port(p1, p2, real, q.dir, true, pos)
	case aqProtochain:
		v, ok := ipProtocols[name]
		if !ok {
			return nil, errorf(pos, "unknown ip proto '%s'", name)
		}
		return p.protochain(v, q.proto, pos)
	case aqProto:
		switch q.proto {
		case pDefault, pIP, pIP6:
			v, ok := ipProtocols[name]
			if !ok {
				return nil, errorf(pos, "unknown ip proto '%s'", name)
			}
			return p.proto(v, q.proto, q.dir, pos)
		case pLink:
			v, ok := etherProtocols[name]
			if !ok {
				switch name {
				case "iso", "stp", "ipx", "netbeui":
					return nil, unsupported(pos, "ether proto \\"+name)
				}
				return nil, errorf(pos, "unknown ether proto '%s'", name)
			}
			return p.proto(v, q.proto, q.dir, pos)
		}
		return nil, errorf(pos, "unknown protocol: %s", name)
	}
	return nil, errorf(pos, "syntax error: name without a qualifier")
}

// checkPortProto reconciles the protocol a service name belongs to with
// the protocol qualifier, like libpcap.
func checkPortProto(real, want int, what string, pos int) (int, error) {
	names := map[int]string{ipprotoTCP: "tcp", ipprotoUDP: "udp", ipprotoSCTP: "sctp"}
	if want == protoUndef {
		return real, nil
	}
	if real != protoUndef && real != want {
		return 0, errorf(pos, "%s is %s", what, names[real])
	}
	return want, nil
}

// nameToPort resolves a service name (or a decimal number) to a port and
// the IP protocol it belongs to (protoUndef for both TCP and UDP).
func nameToPort(name string) (uint32, int, bool) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), protoUndef, n <= 65535
	}
	s, ok := services[name]
	if !ok {
		return 0, 0, false
	}
	switch {
	case s.tcp >= 0 && s.udp == s.tcp:
		return uint32(s.tcp), protoUndef, true
	case s.tcp >= 0:
		return uint32(s.tcp), ipprotoTCP, true
	default:
		return uint32(s.udp), ipprotoUDP, true
	}
}

// nameToPortRange resolves "a-b" where a and b are numbers or names.
func nameToPortRange(name string) (uint32, uint32, int, bool) {
	a, b, ok := strings.Cut(name, "-")
	if !ok {
		return 0, 0, 0, false
	}
	p1, r1, ok1 := nameToPort(a)
	p2, r2, ok2 := nameToPort(b)
	if !ok1 || !ok2 {
		return 0, 0, 0, false
	}
	if r1 != r2 {
		r1 = protoUndef
	}
	return p1, p2, r1, true
}

// linkType is libpcap's gen_linktype: a test of the link-layer type,
// an EtherType (or an LLC SAP when at most 1500), for the current link
// state. On raw IP only IPv4 and IPv6 can match, by the version nibble.
func (p *parser) linkType(v uint32) *node {
	ls := &p.ls
	switch {
	case ls.mpls > 0:
		// Over MPLS: the bottom-of-stack bit, then the IP version.
		var ver uint32
		switch v {
		case etherIP:
			ver = 0x40
		case etherIP6:
			ver = 0x60
		default:
			return p.fail(errorf(p.cur().pos, "unsupported protocol over mpls"))
		}
		return and(p.cmp(refLinkPL, 0xfffffffe, 1, relEQ, 0x01, 0x01), p.cmp(refLinkPL, 0, 1, relEQ, 0xf0, ver))
	case ls.ppp:
		return p.cmp(refLinkType, 0, 2, relEQ, 0xffffffff, pppType(v))
	}
	return p.etherLinkType(v)
}

// etherLinkType is libpcap's gen_ether_linktype, 802.3 length-field
// frames included (the supported cases; see etherProto).
func (p *parser) etherLinkType(v uint32) *node {
	switch {
	case v == 0xfe || v == 0x06 || v == 0xf0: // LLC SAPs for ISO, IP and NetBEUI: DSAP and SSAP
		notType := not(p.cmp(refLinkType, 0, 2, relGT, 0xffffffff, 1500))
		return p.l2(and(notType, p.cmp(refLLC, 0, 2, relEQ, 0xffffffff, v<<8|v)))
	case v <= 1500:
		notType := not(p.cmp(refLinkType, 0, 2, relGT, 0xffffffff, 1500))
		return p.l2(and(notType, p.cmp(refLinkType, 2, 1, relEQ, 0xffffffff, v)))
	case p.ls.geneve:
		return p.cmp(refLinkType, 0, 2, relEQ, 0xffffffff, v)
	}
	t := p.ls.typ
	return &node{op: opLinkType, org: t.org, off: t.k, val: v}
}

// pppType maps an EtherType or SAP to the PPP protocol number libpcap
// tests after "pppoes" (ethertype_to_ppptype).
func pppType(v uint32) uint32 {
	switch v {
	case etherIP:
		return 0x0021
	case etherIP6:
		return 0x0057
	case 0x6003: // DECnet
		return 0x0027
	case 0x809b: // AppleTalk
		return 0x0029
	case 0x0600: // XNS
		return 0x0025
	case 0xfe: // ISO
		return 0x0023
	case llcsapSTP:
		return 0x0201
	case 0xe0: // IPX
		return 0x002b
	}
	return v
}

// etherProto is "ether proto v", including 802.3 length-field frames.
func (p *parser) etherProto(v uint32, pos int) (*node, error) {
	switch v {
	case 0xe0, 0x809b, 0x80f3: // IPX, AppleTalk, AARP need SNAP parsing
		if !p.ls.ppp && p.ls.mpls == 0 {
			return nil, unsupported(pos, "ether proto "+strconv.FormatUint(uint64(v), 10))
		}
	}
	return p.linkType(v), nil
}

// llc is libpcap's gen_llc: an 802.2 frame, that is an 802.3 length field
// not followed by 0xffff (Novell's raw 802.3).
func (p *parser) llc(pos int) *node {
	if p.ls.ppp {
		return p.fail(errorf(pos, "'llc' not supported for PPP"))
	}
	notType := not(p.cmp(refLinkType, 0, 2, relGT, 0xffffffff, 1500))
	return p.l2(and(notType, not(p.cmp(refLLC, 0, 2, relEQ, 0xffffffff, 0xffff))))
}

// parseEncap parses "mpls [label]", "pppoes [session]" and "geneve
// [vni]"; like "vlan", each moves the headers that later tests see.
func (p *parser) parseEncap() (*node, qual, error) {
	t := p.next()
	var num token
	switch {
	case p.cur().kind == tkNum:
		num = p.next()
	case isOp(p.cur(), "(") && p.at(p.pos+1).kind == tkNum && isOp(p.at(p.pos+2), ")"):
		p.next()
		num = p.next()
		p.next()
	}
	has := num.kind == tkNum
	var n *node
	var err error
	switch t.kw {
	case "mpls":
		n, err = p.mpls(num.num, has, t.pos, num.pos)
	case "pppoes":
		n, err = p.pppoes(num.num, has, num.pos)
	default:
		n, err = p.geneve(num.num, has, num.pos)
	}
	if err == nil {
		err = p.err
	}
	return n, qerr, err
}

// mpls is libpcap's gen_mpls.
func (p *parser) mpls(label uint32, has bool, pos, numPos int) (*node, error) {
	var n *node
	ls := &p.ls
	switch {
	case ls.mpls > 0: // an inner label: the previous one is not the bottom of the stack
		n = p.cmp(refLinkPL, 0xfffffffe, 1, relEQ, 0x01, 0)
	case ls.ppp:
		n = p.linkType(pppMPLSUnicast)
	default:
		n = p.linkType(etherMPLS)
		if !ls.geneve {
			n = l2only(n) // libpcap has no MPLS on raw IP
		}
	}
	if has {
		if label > 0xfffff {
			return nil, errorf(numPos, "MPLS label %d greater than maximum %d", label, 0xfffff)
		}
		n = and(n, p.cmp(refLinkPL, 0, 4, relEQ, 0xfffff000, label<<12))
	}
	ls.nl += 4
	ls.mpls++
	return n, nil
}

// pppoes is libpcap's gen_pppoes: later tests see the PPP frame inside.
func (p *parser) pppoes(sess uint32, has bool, numPos int) (*node, error) {
	n := p.linkType(etherPPPoES)
	if has {
		if sess > 0xffff {
			return nil, errorf(numPos, "PPPoE session number %d greater than maximum %d", sess, 0xffff)
		}
		n = and(n, p.cmp(refLinkPL, 0, 4, relEQ, 0xffff, sess))
	}
	ls := &p.ls
	ls.hdr = offset{ls.pl.org, ls.pl.k + ls.nl + 6}
	ls.typ = ls.hdr
	ls.pl = offset{ls.hdr.org, ls.hdr.k + 2}
	ls.nl = 0
	ls.ppp = true
	return n, nil
}

// geneve is libpcap's gen_geneve: UDP to port 6081 over IPv4 or IPv6, a
// version 0 Geneve header (with the VNI), after which later tests see the
// inner packet at offsets computed from the packet (the Geneve option
// length, and whether an Ethernet header follows).
func (p *parser) geneve(vni uint32, has bool, numPos int) (*node, error) {
	if has && vni > 0xffffff {
		return nil, errorf(numPos, "Geneve VNI %d greater than maximum %d", vni, 0xffffff)
	}
	check := func(tran ref, n *node) *node {
		n = and(n, p.cmp(tran, 8, 1, relEQ, 0xc0, 0))
		if has {
			n = and(n, p.cmp(tran, 12, 4, relEQ, 0xffffff00, vni<<8))
		}
		return n
	}
	_, org, k := p.place(refLinkPL)
	udp4 := and(and(p.cmp(refLinkPL, 9, 1, relEQ, 0xffffffff, ipprotoUDP), p.fragOK()), p.cmp(refTran4, 2, 2, relEQ, 0xffffffff, genevePort))
	g4 := and(check(refTran4, and(p.linkType(etherIP), udp4)), &node{op: opGeneve, org: org, shift: k, val: 4})
	udp6 := and(p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, ipprotoUDP), p.cmp(refTran6, 2, 2, relEQ, 0xffffffff, genevePort))
	g6 := and(check(refTran6, and(p.linkType(etherIP6), udp6)), &node{op: opGeneve, org: org, shift: k, val: 6})
	ls := &p.ls
	ls.hdr, ls.typ, ls.pl = offset{orgGLinkHdr, 0}, offset{orgGLinkTyp, 0}, offset{orgGLinkPL, 0}
	ls.nl = 0
	ls.ppp = false
	ls.geneve = true
	p.noOpt = true
	return or(g4, g6), nil
}

// protochain is libpcap's gen_protochain: the IP header chain, walked as
// its BPF code does, reaches protocol v.
func (p *parser) protochain(v uint32, proto qproto, pos int) (*node, error) {
	var et uint32
	var ver uint8
	switch proto {
	case pDefault:
		a, err := p.protochain(v, pIP, pos)
		if err != nil {
			return nil, err
		}
		b, err := p.protochain(v, pIP6, pos)
		if err != nil {
			return nil, err
		}
		return or(a, b), nil
	case pIP:
		et, ver = etherIP, 4
	case pIP6:
		et, ver = etherIP6, 6
	default:
		return nil, errorf(pos, "bad protocol applied for 'protochain'")
	}
	if p.ls.geneve {
		return nil, errorf(pos, "'protochain' not supported with variable length headers")
	}
	p.noOpt = true
	_, org, k := p.place(refLinkPL)
	lt := p.linkType(et)
	return and(lt, &node{op: opChain, org: org, shift: k, val: v, size: ver}), nil
}

// proto is libpcap's gen_proto: "[ip|ip6|ether] proto v".
func (p *parser) proto(v uint32, proto qproto, dir qdir, pos int) (*node, error) {
	if dir != dDefault {
		return nil, errorf(pos, "direction applied to 'proto'")
	}
	switch proto {
	case pDefault:
		a, err := p.proto(v, pIP, dir, pos)
		if err != nil {
			return nil, err
		}
		b, err := p.proto(v, pIP6, dir, pos)
		if err != nil {
			return nil, err
		}
		return or(a, b), nil
	case pLink:
		return p.etherProto(v, pos)
	case pIP:
		return and(p.linkType(etherIP), p.cmp(refLinkPL, 9, 1, relEQ, 0xffffffff, v)), nil
	case pIP6:
		direct := p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, v)
		frag := and(p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, ipprotoFrag), p.cmp(refLinkPL, 40, 1, relEQ, 0xffffffff, v))
		return and(p.linkType(etherIP6), or(direct, frag)), nil
	case pARP, pRARP:
		return nil, errorf(pos, "%s does not encapsulate another protocol", protoName[proto])
	}
	return nil, errorf(pos, "'%s proto' is bogus", protoName[proto])
}

// abbrev is the code for a protocol name on its own ("tcp", "ip6").
func (p *parser) abbrev(proto qproto, pos int) (*node, error) {
	switch proto {
	case pSCTP:
		return p.proto(ipprotoSCTP, pDefault, dDefault, pos)
	case pTCP:
		return p.proto(ipprotoTCP, pDefault, dDefault, pos)
	case pUDP:
		return p.proto(ipprotoUDP, pDefault, dDefault, pos)
	case pICMP:
		return p.proto(ipprotoICMP, pIP, dDefault, pos)
	case pIGMP:
		return p.proto(ipprotoIGMP, pIP, dDefault, pos)
	case pIGRP:
		return p.proto(ipprotoIGRP, pIP, dDefault, pos)
	case pPIM:
		return p.proto(ipprotoPIM, pDefault, dDefault, pos)
	case pVRRP, pCARP:
		return p.proto(ipprotoVRRP, pIP, dDefault, pos)
	case pIP:
		return p.linkType(etherIP), nil
	case pARP:
		return p.linkType(etherARP), nil
	case pRARP:
		return p.linkType(etherRARP), nil
	case pIP6:
		return p.linkType(etherIP6), nil
	case pICMP6:
		return p.proto(ipprotoICMP6, pIP6, dDefault, pos)
	case pAH:
		return p.proto(ipprotoAH, pDefault, dDefault, pos)
	case pESP:
		return p.proto(ipprotoESP, pDefault, dDefault, pos)
	}
	return nil, errorf(pos, "link layer applied in wrong context")
}

// byDir combines the source and destination variants of a test.
func byDir(dir qdir, src, dst func() *node) *node {
	switch dir {
	case dSrc:
		return src()
	case dDst:
		return dst()
	case dAnd:
		return and(src(), dst())
	}
	return or(src(), dst())
}

// host is libpcap's gen_host for IPv4 addresses and networks.
func (p *parser) host(addr, mask uint32, proto qproto, dir qdir, isNet bool, pos int) (*node, error) {
	what := "host"
	if isNet {
		what = "net"
	}
	hostop := func(et, srcOff, dstOff uint32) *node {
		return byDir(dir,
			func() *node { return and(p.linkType(et), p.cmp(refLinkPL, srcOff, 4, relEQ, mask, addr)) },
			func() *node { return and(p.linkType(et), p.cmp(refLinkPL, dstOff, 4, relEQ, mask, addr)) })
	}
	switch proto {
	case pDefault:
		if p.ls.mpls > 0 { // only IPv4 inside MPLS
			return hostop(etherIP, 12, 16), nil
		}
		return or(or(hostop(etherIP, 12, 16), hostop(etherARP, 14, 24)), hostop(etherRARP, 14, 24)), nil
	case pIP:
		return hostop(etherIP, 12, 16), nil
	case pARP:
		return hostop(etherARP, 14, 24), nil
	case pRARP:
		return hostop(etherRARP, 14, 24), nil
	case pLink:
		return nil, errorf(pos, "link-layer modifier applied to %s", what)
	case pIP6:
		return nil, errorf(pos, "'ip6' modifier applied to ip host")
	}
	return nil, errorf(pos, "'%s' modifier applied to %s", protoName[proto], what)
}

// host6 is libpcap's gen_host6.
func (p *parser) host6(addr, mask [16]byte, proto qproto, dir qdir, isNet bool, pos int) (*node, error) {
	what := "host"
	if isNet {
		what = "net"
	}
	switch proto {
	case pDefault, pIP6:
	case pLink:
		return nil, errorf(pos, "link-layer modifier applied to ip6 %s", what)
	default:
		return nil, errorf(pos, "'%s' modifier applied to ip6 %s", protoName[proto], what)
	}
	hostop := func(off uint32) func() *node {
		return func() *node {
			n := p.linkType(etherIP6)
			for i := uint32(0); i < 4; i++ {
				a := uint32(addr[4*i])<<24 | uint32(addr[4*i+1])<<16 | uint32(addr[4*i+2])<<8 | uint32(addr[4*i+3])
				m := uint32(mask[4*i])<<24 | uint32(mask[4*i+1])<<16 | uint32(mask[4*i+2])<<8 | uint32(mask[4*i+3])
				n = and(n, p.cmp(refLinkPL, off+4*i, 4, relEQ, m, a))
			}
			return n
		}
	}
	return byDir(dir, hostop(8), hostop(24)), nil
}

// ehost matches Ethernet source/destination addresses.
func (p *parser) ehost(mac [6]byte, dir qdir) *node {
	h := p.ls.hdr
	return byDir(dir,
		func() *node { return &node{op: opMAC, org: h.org, off: h.k + 6, mac: mac} },
		func() *node { return &node{op: opMAC, org: h.org, off: h.k, mac: mac} })
}

// fragOK is "not an IPv4 fragment other than the first".
func (p *parser) fragOK() *node {
	return not(p.cmp(refLinkPL, 6, 2, relSet, 0xffffffff, 0x1fff))
}

// port is libpcap's gen_port/gen_portrange (IPv4 or IPv6).
func (p *parser) port(lo, hi uint32, ipproto int, dir qdir, isRange bool, pos int) (*node, error) {
	if lo > hi {
		lo, hi = hi, lo
	}
	atom := func(b ref, off uint32) *node {
		if !isRange {
			return p.cmp(b, off, 2, relEQ, 0xffffffff, lo)
		}
		return and(p.cmp(b, off, 2, relGE, 0xffffffff, lo), not(p.cmp(b, off, 2, relGT, 0xffffffff, hi)))
	}
	protos := []uint32{ipprotoTCP, ipprotoUDP, ipprotoSCTP}
	if ipproto != protoUndef {
		protos = []uint32{uint32(ipproto)}
	}
	var v4, v6 *node
	for _, pr := range protos {
		d4 := byDir(dir, func() *node { return atom(refTran4, 0) }, func() *node { return atom(refTran4, 2) })
		op4 := and(and(p.cmp(refLinkPL, 9, 1, relEQ, 0xffffffff, pr), p.fragOK()), d4)
		d6 := byDir(dir, func() *node { return atom(refTran6, 0) }, func() *node { return atom(refTran6, 2) })
		op6 := and(p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, pr), d6)
		if v4 == nil {
			v4, v6 = op4, op6
		} else {
			v4, v6 = or(v4, op4), or(v6, op6)
		}
	}
	return or(and(p.linkType(etherIP), v4), and(p.linkType(etherIP6), v6)), nil
}

// Arithmetic.

// operand is an arithmetic expression with the protocol checks that must
// hold before its loads are made.
type operand struct {
	e     *arith
	guard *node
	// first is the leftmost leaf of the expression as written, before
	// constant folding: libpcap checks it for division by zero.
	first *arith
}

// parseRelation parses "arith relop arith".
func (p *parser) parseRelation() (*node, qual, error) {
	x, err := p.parseArith(1)
	if err != nil {
		return nil, qerr, err
	}
	t := p.next()
	var r relation
	neg := false
	switch {
	case isOp(t, ">"):
		r = relGT
	case isOp(t, ">="):
		r = relGE
	case isOp(t, "="):
		r = relEQ
	case isOp(t, "<="):
		r, neg = relGT, true
	case isOp(t, "<"):
		r, neg = relGE, true
	case isOp(t, "!="):
		r, neg = relEQ, true
	default:
		return nil, qerr, unexpected(t)
	}
	y, err := p.parseArith(1)
	if err != nil {
		return nil, qerr, err
	}
	var n *node
	if x.e.op == aConst && y.e.op == aConst && p.optimize {
		// libpcap's optimiser decides the comparison at compile time.
		n = &node{op: opFalse}
		if compare(r, x.e.val, y.e.val) {
			n.op = opTrue
		}
	} else {
		n = &node{op: opRel, rel: r, x: x.e, y: y.e}
	}
	if neg {
		n = not(n)
	}
	return and(and(x.guard, y.guard), n), qerr, nil
}

var arithPrec = map[string]int{"|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5}

var arithOps = map[string]arithOp{
	"|": aOr, "&": aAnd, "<<": aLsh, ">>": aRsh, "+": aAdd, "-": aSub, "*": aMul, "/": aDiv,
	"%": aMod, "^": aXor,
}

const unaryPrec = 6

// parseArith parses an arithmetic expression by precedence climbing. "%"
// and "^" have no precedence in libpcap's grammar, so its parser always
// shifts them: they bind to the operand on their left and take the whole
// rest of the expression as their right operand.
func (p *parser) parseArith(minPrec int) (operand, error) {
	if err := p.enter(); err != nil {
		return operand{}, err
	}
	defer p.leave()
	lhs, err := p.parseUnary()
	if err != nil {
		return operand{}, err
	}
	for {
		t := p.cur()
		if t.kind != tkOp {
			return lhs, nil
		}
		op, ok := arithOps[t.text]
		if !ok {
			return lhs, nil
		}
		next := 1
		if prec, ok := arithPrec[t.text]; ok {
			if prec < minPrec {
				return lhs, nil
			}
			next = prec + 1
		}
		p.next()
		rhs, err := p.parseArith(next)
		if err != nil {
			return operand{}, err
		}
		if err := checkConstOperand(op, rhs.first, t.pos); err != nil {
			return operand{}, err
		}
		e := &arith{op: op, a: lhs.e, b: rhs.e}
		if p.optimize {
			if e, err = fold(op, lhs.e, rhs.e, t.pos); err != nil {
				return operand{}, err
			}
		}
		// libpcap keeps only the left operand's protocol checks.
		lhs = operand{e: e, guard: lhs.guard, first: lhs.first}
	}
}

// checkConstOperand reproduces libpcap's compile-time checks, which look
// at the first instruction of the right operand as written.
func checkConstOperand(op arithOp, first *arith, pos int) error {
	if first.op != aConst {
		return nil
	}
	switch {
	case op == aDiv && first.val == 0:
		return errorf(pos, "division by zero")
	case op == aMod && first.val == 0:
		return errorf(pos, "modulus by zero")
	case (op == aLsh || op == aRsh) && first.val > 31:
		return errorf(pos, "shift by more than 31 bits")
	}
	return nil
}

// fold simplifies "a op b" the way libpcap's optimiser does: constant
// operands are folded (with its errors), and an operand whose value cannot
// matter is dropped together with its loads, so reading it can no longer
// reject a short packet.
func fold(op arithOp, a, b *arith, pos int) (*arith, error) {
	zero := &arith{op: aConst}
	if b.op == aConst {
		k := b.val
		if a.op == aConst {
			if (op == aDiv || op == aMod) && k == 0 {
				return nil, errorf(pos, "%s by zero", map[arithOp]string{aDiv: "division", aMod: "modulus"}[op])
			}
			m := machine{}
			v, _ := m.arith(&arith{op: op, a: a, b: b})
			return &arith{op: aConst, val: v}, nil
		}
		if (op == aLsh || op == aRsh) && k > 31 {
			return nil, errorf(pos, "shift by more than 31 bits")
		}
		if k == 0 {
			switch op {
			case aAdd, aLsh, aRsh, aOr, aXor:
				return a, nil
			case aMul, aAnd:
				return zero, nil
			case aDiv:
				return nil, errorf(pos, "division by zero")
			case aMod:
				return nil, errorf(pos, "modulus by zero")
			}
		}
	} else if a.op == aConst && a.val == 0 {
		switch op {
		case aAdd, aOr, aXor:
			return b, nil
		case aMul, aDiv, aMod, aAnd, aLsh, aRsh:
			return zero, nil
		}
	}
	return &arith{op: op, a: a, b: b}, nil
}

func (p *parser) parseUnary() (operand, error) {
	t := p.cur()
	switch t.kind {
	case tkOp:
		switch t.text {
		case "-":
			p.next()
			x, err := p.parseArith(unaryPrec)
			if err != nil {
				return operand{}, err
			}
			if x.e.op == aConst && p.optimize {
				return operand{e: &arith{op: aConst, val: -x.e.val}, guard: x.guard, first: x.first}, nil
			}
			return operand{e: &arith{op: aNeg, a: x.e}, guard: x.guard, first: x.first}, nil
		case "(":
			p.next()
			x, err := p.parseArith(1)
			if err != nil {
				return operand{}, err
			}
			if c := p.next(); !isOp(c, ")") {
				return operand{}, unexpected(c)
			}
			return x, nil
		}
	case tkNum:
		p.next()
		c := &arith{op: aConst, val: t.num}
		return operand{e: c, first: c}, nil
	case tkKW:
		if t.kw == "len" {
			p.next()
			l := &arith{op: aLen}
			return operand{e: l, first: l}, nil
		}
		if unsupportedKeywords[t.kw] {
			return operand{}, unsupported(t.pos, t.text)
		}
		if proto, ok := protoByKeyword[t.kw]; ok && isOp(p.at(p.pos+1), "[") {
			p.next()
			p.next()
			return p.parseLoad(proto, t.pos)
		}
	}
	return operand{}, unexpected(t)
}

// loadAt is a load of size bytes at index idx from the header r.
func (p *parser) loadAt(r ref, size uint8, idx *arith) *arith {
	b, org, k := p.place(r)
	return &arith{op: aLoad, base: b, org: org, shift: k, size: size, a: idx}
}

// parseLoad parses "idx]" or "idx:size]" after "proto[".
func (p *parser) parseLoad(proto qproto, pos int) (operand, error) {
	idx, err := p.parseArith(1)
	if err != nil {
		return operand{}, err
	}
	size := uint32(1)
	if isOp(p.cur(), ":") {
		p.next()
		s := p.next()
		if s.kind != tkNum {
			return operand{}, unexpected(s)
		}
		size = s.num
	}
	if c := p.next(); !isOp(c, "]") {
		return operand{}, unexpected(c)
	}
	if size != 1 && size != 2 && size != 4 {
		return operand{}, errorf(pos, "data size must be 1, 2, or 4")
	}
	var ld *arith
	var guard *node
	switch proto {
	case pLink:
		ld, guard = p.loadAt(refLinkHdr, uint8(size), idx.e), idx.guard
	case pIP, pARP, pRARP, pIP6:
		ab, err := p.abbrev(proto, pos)
		if err != nil {
			return operand{}, err
		}
		ld, guard = p.loadAt(refLinkPL, uint8(size), idx.e), and(idx.guard, ab)
	case pSCTP, pTCP, pUDP, pICMP, pIGMP, pIGRP, pPIM, pVRRP, pCARP:
		ab, err := p.abbrev(proto, pos)
		if err != nil {
			return operand{}, err
		}
		ld = p.loadAt(refTran4, uint8(size), idx.e)
		guard = and(p.linkType(etherIP), and(idx.guard, and(ab, p.fragOK())))
	case pICMP6:
		ld = p.loadAt(refTran6, uint8(size), idx.e)
		guard = and(and(idx.guard, p.linkType(etherIP6)), p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, ipprotoICMP6))
	default:
		return operand{}, errorf(pos, "unsupported index operation")
	}
	return operand{e: ld, guard: guard, first: idx.first}, nil
}
