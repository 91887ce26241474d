package pktfilter

import "encoding/binary"

// Packets for the encapsulations and header chains (MPLS, PPPoE, Geneve,
// 802.3/LLC, IPv6 extension headers), built byte by byte so that every
// field a filter reads is deliberate.

func ethHdr(et uint16) []byte {
	b := append(append([]byte{}, macB...), macA...)
	return binary.BigEndian.AppendUint16(b, et)
}

// v4 is an IPv4 header (no options) for a payload of n bytes.
func v4(proto byte, n int, src, dst [4]byte) []byte {
	b := []byte{0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(20+n))
	return append(append(b, src[:]...), dst[:]...)
}

// v6 is an IPv6 header for a payload of n bytes, 2001:db8::1 > 2001:db8::2.
func v6(next byte, n int) []byte {
	b := []byte{0x60, 0, 0, 0, 0, 0, next, 64}
	binary.BigEndian.PutUint16(b[4:], uint16(n))
	src := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dst := append(append([]byte{}, src[:15]...), 2)
	return append(append(b, src...), dst...)
}

func udpHdr(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	return append(append(b, 0, 0), payload...)
}

func tcpSyn(sport, dport uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	addrA = [4]byte{10, 0, 0, 1}
	addrB = [4]byte{10, 0, 0, 2}
	addrC = [4]byte{192, 168, 1, 1}
)

// mplsLabel is one label stack entry.
func mplsLabel(label uint32, bottom bool) []byte {
	v := label<<12 | 64
	if bottom {
		v |= 1 << 8
	}
	return binary.BigEndian.AppendUint32(nil, v)
}

// pppoeSession is a PPPoE session header and the PPP protocol field.
func pppoeSession(id uint16, ppp uint16, n int) []byte {
	b := []byte{0x11, 0x00}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(n+2))
	return binary.BigEndian.AppendUint16(b, ppp)
}

// geneveHdr is a Geneve header with optWords 4-byte words of options.
func geneveHdr(version byte, optWords int, proto uint16, vni uint32) []byte {
	b := []byte{version<<6 | byte(optWords), 0}
	b = binary.BigEndian.AppendUint16(b, proto)
	b = binary.BigEndian.AppendUint32(b, vni<<8)
	for i := range optWords {
		b = append(b, 0x01, 0x02, 0x80|byte(i), 0)
	}
	return b
}

// ext6 is an IPv6 extension header of 8*(hdrLen+1) bytes.
func ext6(next, hdrLen byte) []byte {
	b := make([]byte, 8*(int(hdrLen)+1))
	b[0], b[1] = next, hdrLen
	return b
}

// ahHdr is an authentication header of 4*(payloadLen+2) bytes.
func ahHdr(next, payloadLen byte) []byte {
	b := make([]byte, 4*(int(payloadLen)+2))
	b[0], b[1] = next, payloadLen
	return b
}

// encapPackets returns the Ethernet frames (and a few raw-IP packets)
// for the encapsulation constructs, including truncated variants.
func encapPackets() []testPacket {
	var ps []testPacket
	add := func(name string, data []byte) {
		ps = append(ps, testPacket{name: name, data: data})
	}
	tcp80 := tcpSyn(40000, 80)
	dns := udpHdr(33333, 53, []byte{0xde, 0xad, 0xbe, 0xef})

	// MPLS stacks.
	add("mpls 100 v4 udp 53", cat(ethHdr(0x8847), mplsLabel(100, true), v4(17, len(dns), addrA, addrB), dns))
	add("mpls 200/300 v4 tcp 80", cat(ethHdr(0x8847), mplsLabel(200, false), mplsLabel(300, true), v4(6, 20, addrA, addrB), tcp80))
	add("mpls 100 v6 tcp 80", cat(ethHdr(0x8847), mplsLabel(100, true), v6(6, 20), tcp80))
	add("mpls 5/6/7 v4 udp", cat(ethHdr(0x8847), mplsLabel(5, false), mplsLabel(6, false), mplsLabel(7, true), v4(17, len(dns), addrC, addrA), dns))
	add("mpls 100 not bottom then junk", cat(ethHdr(0x8847), mplsLabel(100, false), []byte{0x45, 0, 0, 20}))
	add("mpls multicast 0x8848 v4", cat(ethHdr(0x8848), mplsLabel(100, true), v4(6, 20, addrA, addrB), tcp80))
	add("vlan 100 mpls 100 v4", cat(ethHdr(0x8100), []byte{0, 100, 0x88, 0x47}, mplsLabel(100, true), v4(6, 20, addrA, addrB), tcp80))

	// PPPoE.
	v4tcp := cat(v4(6, 20, addrA, addrB), tcp80)
	add("pppoes 0x1234 v4 tcp 80", cat(ethHdr(0x8864), pppoeSession(0x1234, 0x0021, len(v4tcp)), v4tcp))
	v6udp := cat(v6(17, len(dns)), dns)
	add("pppoes 1 v6 udp 53", cat(ethHdr(0x8864), pppoeSession(1, 0x0057, len(v6udp)), v6udp))
	add("pppoes lcp", cat(ethHdr(0x8864), pppoeSession(7, 0xc021, 8), []byte{1, 1, 0, 8, 1, 4, 5, 0xd4}))
	mplsIn := cat(mplsLabel(42, true), v4tcp)
	add("pppoes mpls 42 v4", cat(ethHdr(0x8864), pppoeSession(9, 0x0281, len(mplsIn)), mplsIn))
	add("pppoed padi", cat(ethHdr(0x8863), []byte{0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0}))
	add("vlan 10 pppoes v4", cat(ethHdr(0x8100), []byte{0, 10, 0x88, 0x64}, pppoeSession(3, 0x0021, len(v4tcp)), v4tcp))

	// Geneve over IPv4 and IPv6, with and without options and an inner
	// Ethernet header.
	inner := cat(ethHdr(0x0800), v4(6, 20, addrC, addrA), tcp80)
	g := cat(geneveHdr(0, 0, 0x6558, 0x123456), inner)
	gu := udpHdr(5555, 6081, g)
	add("geneve v4 vni 0x123456 teb v4 tcp 80", cat(ethHdr(0x0800), v4(17, len(gu), addrA, addrB), gu))
	innerIP := cat(v4(17, len(dns), addrB, addrC), dns)
	g = cat(geneveHdr(0, 4, 0x0800, 7), innerIP)
	gu = udpHdr(5555, 6081, g)
	add("geneve v4 vni 7 options ip udp 53", cat(ethHdr(0x0800), v4(17, len(gu), addrA, addrB), gu))
	inner6 := cat(ethHdr(0x86dd), v6(17, len(dns)), dns)
	g = cat(geneveHdr(0, 2, 0x6558, 99), inner6)
	gu = udpHdr(5555, 6081, g)
	add("geneve v6 vni 99 options teb v6 udp", cat(ethHdr(0x86dd), v6(17, len(gu)), gu))
	innerARP := cat(ethHdr(0x0806), []byte{0, 1, 8, 0, 6, 4, 0, 1}, macA, addrC[:], macB, addrA[:])
	g = cat(geneveHdr(0, 0, 0x6558, 5), innerARP)
	gu = udpHdr(5555, 6081, g)
	add("geneve v4 vni 5 teb arp", cat(ethHdr(0x0800), v4(17, len(gu), addrB, addrA), gu))
	g = cat(geneveHdr(1, 0, 0x6558, 0x123456), inner)
	gu = udpHdr(5555, 6081, g)
	add("geneve version 1", cat(ethHdr(0x0800), v4(17, len(gu), addrA, addrB), gu))
	g = cat(geneveHdr(0, 0, 0x8847, 8), mplsLabel(77, true), innerIP)
	gu = udpHdr(5555, 6081, g)
	add("geneve v4 mpls 77 ip", cat(ethHdr(0x0800), v4(17, len(gu), addrA, addrB), gu))
	g = cat(geneveHdr(0, 1, 0x6558, 0x123456), cat(ethHdr(0x0800), v4(17, len(g)+8, addrA, addrC), udpHdr(1, 6081, cat(geneveHdr(0, 0, 0x0800, 3), innerIP))))
	gu = udpHdr(5555, 6081, g)
	add("geneve in geneve", cat(ethHdr(0x0800), v4(17, len(gu), addrA, addrB), gu))
	add("udp 6081 too short for geneve", cat(ethHdr(0x0800), v4(17, 10, addrA, addrB), udpHdr(1, 6081, []byte{0, 0})))

	// 802.3 frames: Novell raw 802.3 (0xffff), LLC with a SNAP header,
	// LLC for IP (SAP 6).
	add("802.3 novell raw", cat(ethHdr(40), []byte{0xff, 0xff, 0, 40, 0, 4}, make([]byte, 34)))
	add("802.3 llc sap 6", cat(ethHdr(30), []byte{0x06, 0x06, 0x03}, v4(6, 0, addrA, addrB)))
	add("802.3 llc sap 0xf0 netbeui", cat(ethHdr(20), []byte{0xf0, 0xf0, 0x03}, make([]byte, 17)))

	// IPv6 extension header chains and IPv4 AH.
	hop := ext6(43, 0)
	rt := ext6(60, 1)
	dst := ext6(6, 0)
	chain := cat(hop, rt, dst, tcp80)
	add("v6 hop route dst tcp 80", cat(ethHdr(0x86dd), v6(0, len(chain)), chain))
	frag := cat(ext6(17, 0), dns)
	add("v6 frag udp 53", cat(ethHdr(0x86dd), v6(44, len(frag)), frag))
	ah := cat(ahHdr(6, 4), tcp80)
	add("v6 ah tcp", cat(ethHdr(0x86dd), v6(51, len(ah)), ah))
	ahv4 := cat(ahHdr(17, 3), dns)
	add("v4 ah udp", cat(ethHdr(0x0800), v4(51, len(ahv4), addrA, addrB), ahv4))
	hopAH := cat(ext6(51, 0), ahHdr(6, 2), tcp80)
	add("v6 hop ah tcp", cat(ethHdr(0x86dd), v6(0, len(hopAH)), hopAH))
	none := ext6(59, 0)
	add("v6 dst no next header", cat(ethHdr(0x86dd), v6(60, len(none)), none))
	long := cat(ext6(0, 2), ext6(0, 0), ext6(43, 0), ext6(44, 0), ext6(17, 0), dns)
	add("v6 five extension headers udp", cat(ethHdr(0x86dd), v6(0, len(long)), long))
	add("v6 esp", cat(ethHdr(0x86dd), v6(50, 16), make([]byte, 16)))
	return ps
}

// encapTruncations are the truncated variants: header boundaries of the
// encapsulations, and inside the extension header chains.
var encapTruncations = []struct {
	name string
	n    []int
}{
	{"mpls 100 v4 udp 53", []int{15, 17, 18, 24, 33, 40}},
	{"mpls 200/300 v4 tcp 80", []int{18, 21, 22, 31, 42, 46}},
	{"pppoes 0x1234 v4 tcp 80", []int{16, 19, 20, 22, 30, 41, 44}},
	{"geneve v4 vni 0x123456 teb v4 tcp 80", []int{36, 42, 43, 44, 46, 49, 50, 53, 57, 63, 64, 70, 77, 98, 100}},
	{"geneve v4 vni 7 options ip udp 53", []int{43, 45, 50, 58, 59, 66, 67, 78, 80}},
	{"geneve v6 vni 99 options teb v6 udp", []int{63, 65, 69, 78, 83, 90, 110, 130}},
	{"v6 hop route dst tcp 80", []int{54, 55, 62, 63, 78, 79, 86, 88}},
	{"v6 ah tcp", []int{54, 55, 78}},
	{"v4 ah udp", []int{34, 35, 54}},
	{"v6 five extension headers udp", []int{54, 79, 80, 95, 110}},
	{"802.3 llc stp", []int{14, 15, 16}},
}
