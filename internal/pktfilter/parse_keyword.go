package pktfilter

// This file parses the terms that start with a keyword or an id:
// qualified primitives, casts, "byte", "vlan" and bare ids.

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
