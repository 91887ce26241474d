package pktfilter

import (
	"net/netip"
	"strconv"
	"strings"
)

// This file turns the id of a primitive into code: numbers, addresses,
// networks, MACs and names (ncode, mcode, scode in libpcap's gencode).

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
