package pktfilter

// This file generates the network and transport primitives: protocols,
// protochains, hosts and networks, MAC hosts and ports.

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
