package pktfilter

import (
	"strconv"
)

// This file generates the link-layer primitives: link and Ether types,
// LLC, and the encapsulations (mpls, pppoes, geneve) that move the
// offsets of what follows.

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
