package pktfilter

import (
	"github.com/pwru-record/pwru-record/internal/testsupport/packets"

	"fmt"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// testPacket is one packet of the conformance corpus.
type testPacket struct {
	name    string
	data    []byte
	l3      bool // data starts at the IP header
	wirelen int  // original length; 0 means len(data)
}

var (
	macA     = net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	macB     = net.HardwareAddr{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	macBcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macV4MC  = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	macV6MC  = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
)

func mustSerialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst net.HardwareAddr, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sport, dport uint16, net gopacket.NetworkLayer, flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Window: 65535}
	packets.SetTCPFlags(t, flags)
	if err := t.SetNetworkLayerForChecksum(net); err != nil {
		panic(err)
	}
	return t
}

func udp(sport, dport uint16, net gopacket.NetworkLayer) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(net); err != nil {
		panic(err)
	}
	return u
}

func icmp6(typ, code uint8, net gopacket.NetworkLayer) *layers.ICMPv6 {
	i := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	if err := i.SetNetworkLayerForChecksum(net); err != nil {
		panic(err)
	}
	return i
}

func sctpData(sport, dport uint16) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{
		&layers.SCTP{SrcPort: layers.SCTPPort(sport), DstPort: layers.SCTPPort(dport), VerificationTag: 7},
		&layers.SCTPData{SCTPChunk: layers.SCTPChunk{Type: layers.SCTPChunkTypeData}, TSN: 1,
			PayloadProtocol: 0, Payload: []byte("diameter")},
	}
}

func payload(s string) gopacket.Payload { return gopacket.Payload(s) }

// corpus builds the conformance packets: Ethernet frames of every kind the
// filter language distinguishes, their raw-IP (L3) twins, and truncated
// variants of both.
func corpus(tb testing.TB) []testPacket {
	tb.Helper()
	var ps []testPacket
	add := func(name string, ls ...gopacket.SerializableLayer) []byte {
		data := mustSerialize(tb, ls...)
		ps = append(ps, testPacket{name: name, data: data})
		return data
	}
	// IPv4 TCP.
	v4 := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(12345, 80, v4, "S"))
	v4 = ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	add("v4 tcp synack 10.0.0.2:80>10.0.0.1:12345", eth(macB, macA, layers.EthernetTypeIPv4), v4, tcp(80, 12345, v4, "SA"))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("v4 tcp http get", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(12345, 80, v4, "PA"), payload("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	v4 = ip4("192.168.1.10", "192.168.1.20", layers.IPProtocolTCP)
	add("v4 tcp rst 443", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(443, 50000, v4, "RA"))
	v4 = ip4("10.200.3.4", "172.16.0.9", layers.IPProtocolTCP)
	v4.IHL = 6
	v4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	add("v4 ip options tcp fin 22", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(22, 40000, v4, "FA"))
	v4 = ip4("10.9.8.7", "10.0.0.2", layers.IPProtocolTCP)
	add("v4 tcp ece cwr 6000", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(6000, 6001, v4, "SEC"))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("v4 tcp urg push 8080", eth(macA, macB, layers.EthernetTypeIPv4), v4, tcp(1025, 8080, v4, "UPA"), payload("x"))
	// IPv4 UDP.
	v4 = ip4("10.0.0.1", "8.8.8.8", layers.IPProtocolUDP)
	add("v4 udp dns query", eth(macA, macB, layers.EthernetTypeIPv4), v4, udp(5353, 53, v4), payload("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"))
	v4 = ip4("8.8.8.8", "10.0.0.1", layers.IPProtocolUDP)
	add("v4 udp dns reply", eth(macB, macA, layers.EthernetTypeIPv4), v4, udp(53, 5353, v4), payload("\x12\x34\x81\x80"))
	v4 = ip4("0.0.0.0", "255.255.255.255", layers.IPProtocolUDP)
	add("v4 udp dhcp broadcast", eth(macA, macBcast, layers.EthernetTypeIPv4), v4, udp(68, 67, v4), payload("dhcp"))
	v4 = ip4("192.168.0.1", "192.168.255.255", layers.IPProtocolUDP)
	add("v4 udp 8080 to subnet broadcast", eth(macA, macBcast, layers.EthernetTypeIPv4), v4, udp(40000, 8080, v4), payload("hello"))
	v4 = ip4("172.16.5.4", "172.16.5.5", layers.IPProtocolUDP)
	add("v4 udp large", eth(macA, macB, layers.EthernetTypeIPv4), v4, udp(4789, 4789, v4), payload(string(make([]byte, 1400))))
	v4 = ip4("10.0.0.3", "224.0.0.251", layers.IPProtocolUDP)
	add("v4 udp mdns multicast", eth(macA, macV4MC, layers.EthernetTypeIPv4), v4, udp(5353, 5353, v4), payload("mdns"))
	// IPv4 ICMP.
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4)
	add("v4 icmp echo", eth(macA, macB, layers.EthernetTypeIPv4), v4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload("ping"))
	v4 = ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolICMPv4)
	add("v4 icmp echo reply", eth(macB, macA, layers.EthernetTypeIPv4), v4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1, Seq: 1}, payload("ping"))
	v4 = ip4("10.0.0.254", "10.0.0.1", layers.IPProtocolICMPv4)
	add("v4 icmp port unreachable", eth(macB, macA, layers.EthernetTypeIPv4), v4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, payload(string(make([]byte, 28))))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4)
	add("v4 icmp timestamp", eth(macA, macB, layers.EthernetTypeIPv4), v4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(13, 0)}, payload(string(make([]byte, 12))))
	// IPv4 SCTP, IGMP, GRE, ESP.
	v4 = ip4("10.1.2.3", "10.1.2.4", layers.IPProtocolSCTP)
	add("v4 sctp 3868", append([]gopacket.SerializableLayer{eth(macA, macB, layers.EthernetTypeIPv4), v4}, sctpData(3868, 3868)...)...)
	v4 = ip4("10.0.0.5", "224.0.0.1", layers.IPProtocolIGMP)
	add("v4 igmp", eth(macA, macV4MC, layers.EthernetTypeIPv4), v4, payload("\x11\x64\xee\x9b\x00\x00\x00\x00"))
	v4 = ip4("10.0.0.1", "10.0.0.9", layers.IPProtocolGRE)
	add("v4 gre", eth(macA, macB, layers.EthernetTypeIPv4), v4, payload("\x00\x00\x08\x00"))
	v4 = ip4("10.0.0.1", "10.0.0.9", layers.IPProtocolESP)
	add("v4 esp", eth(macA, macB, layers.EthernetTypeIPv4), v4, payload("\x00\x00\x10\x00\x00\x00\x00\x01esp!"))
	// IPv4 fragments.
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	v4.Flags = layers.IPv4MoreFragments
	add("v4 udp first fragment", eth(macA, macB, layers.EthernetTypeIPv4), v4, udp(5000, 53, v4), payload(string(make([]byte, 64))))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	v4.FragOffset = 9
	add("v4 udp later fragment", eth(macA, macB, layers.EthernetTypeIPv4), v4, payload("\x00\x35\x00\x35"+string(make([]byte, 40))))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	v4.FragOffset = 100
	add("v4 tcp later fragment", eth(macA, macB, layers.EthernetTypeIPv4), v4, payload("\x00\x50\x00\x50"+string(make([]byte, 40))))
	// IPv6.
	v6 := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP)
	add("v6 tcp 443", eth(macA, macB, layers.EthernetTypeIPv6), v6, tcp(50000, 443, v6, "S"))
	v6 = ip6("2001:db8::2", "2001:db8::1", layers.IPProtocolTCP)
	add("v6 tcp 443 reply", eth(macB, macA, layers.EthernetTypeIPv6), v6, tcp(443, 50000, v6, "SA"))
	v6 = ip6("fe80::1", "ff02::1:2", layers.IPProtocolUDP)
	add("v6 udp dhcpv6 multicast", eth(macA, macV6MC, layers.EthernetTypeIPv6), v6, udp(546, 547, v6), payload("solicit"))
	v6 = ip6("2001:db8:1::5", "2001:db8:2::6", layers.IPProtocolUDP)
	add("v6 udp dns", eth(macA, macB, layers.EthernetTypeIPv6), v6, udp(40000, 53, v6), payload("q"))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolICMPv6)
	add("v6 icmp6 echo", eth(macA, macB, layers.EthernetTypeIPv6), v6, icmp6(128, 0, v6), payload("\x00\x01\x00\x01ping"))
	v6 = ip6("2001:db8::2", "2001:db8::1", layers.IPProtocolICMPv6)
	add("v6 icmp6 echo reply", eth(macB, macA, layers.EthernetTypeIPv6), v6, icmp6(129, 0, v6), payload("\x00\x01\x00\x01ping"))
	v6 = ip6("fe80::1", "ff02::1:ff00:2", layers.IPProtocolICMPv6)
	add("v6 icmp6 neighbor solicit", eth(macA, macV6MC, layers.EthernetTypeIPv6), v6, icmp6(135, 0, v6), payload("\x00\x00\x00\x00\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolSCTP)
	add("v6 sctp 9899", append([]gopacket.SerializableLayer{eth(macA, macB, layers.EthernetTypeIPv6), v6}, sctpData(9899, 36412)...)...)
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment)
	add("v6 frag first udp", eth(macA, macB, layers.EthernetTypeIPv6), v6,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, MoreFragments: true, Identification: 9},
		payload("\x13\x88\x00\x35\x00\x40\x00\x00"+string(make([]byte, 16))))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment)
	add("v6 frag later udp", eth(macA, macB, layers.EthernetTypeIPv6), v6,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 3, Identification: 9},
		payload(string(make([]byte, 24))))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment)
	add("v6 frag first icmp6", eth(macA, macB, layers.EthernetTypeIPv6), v6,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolICMPv6, MoreFragments: true, Identification: 10},
		payload("\x80\x00\x00\x00\x00\x01\x00\x01"+string(make([]byte, 16))))
	v6 = ip6("fe80::1", "ff02::16", layers.IPProtocolIPv6HopByHop)
	add("v6 hop-by-hop mld report", eth(macA, macV6MC, layers.EthernetTypeIPv6), v6,
		payload("\x3a\x00\x05\x02\x00\x00\x01\x00"+"\x8f\x00\x00\x00\x00\x00\x00\x01"+"\x04\x00\x00\x00\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xfb"))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Routing)
	add("v6 routing header tcp", eth(macA, macB, layers.EthernetTypeIPv6), v6,
		payload("\x06\x00\x04\x00\x00\x00\x00\x00"+"\x04\x01\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\xff\xff\x00\x00\x00\x00"))
	v6 = ip6("::1", "::1", layers.IPProtocolNoNextHeader)
	add("v6 no next header loopback", eth(macA, macA, layers.EthernetTypeIPv6), v6)
	// ARP and RARP.
	add("arp request", eth(macA, macBcast, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: macA, SourceProtAddress: net.IP{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 0, 0, 2}})
	add("arp reply", eth(macB, macA, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply,
		SourceHwAddress: macB, SourceProtAddress: net.IP{10, 0, 0, 2}, DstHwAddress: macA, DstProtAddress: net.IP{10, 0, 0, 1}})
	add("rarp request", eth(macA, macBcast, layers.EthernetType(0x8035)), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 3,
		SourceHwAddress: macA, SourceProtAddress: net.IP{0, 0, 0, 0}, DstHwAddress: macA, DstProtAddress: net.IP{192, 168, 7, 7}})
	// VLAN.
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("vlan 100 v4 tcp 80", eth(macA, macB, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, tcp(12345, 80, v4, "S"))
	v6 = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
	add("vlan 200 v6 udp 53", eth(macA, macB, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 200, Priority: 3, Type: layers.EthernetTypeIPv6}, v6, udp(40000, 53, v6), payload("q"))
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	add("qinq 300/400 v4 udp", eth(macA, macB, layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 400, Type: layers.EthernetTypeIPv4}, v4, udp(1000, 2000, v4), payload("qq"))
	add("vlan 100 arp", eth(macA, macBcast, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: net.IP{10, 0, 0, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 0, 0, 2}})
	v4 = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4)
	add("vlan 4095 v4 icmp", eth(macA, macB, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 4095, Type: layers.EthernetTypeIPv4},
		v4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload("p"))
	// 802.3 with LLC (spanning tree) and an unknown EtherType.
	add("802.3 llc stp", &layers.Ethernet{SrcMAC: macA, DstMAC: net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0}, EthernetType: layers.EthernetTypeLLC, Length: 38},
		&layers.LLC{DSAP: 0x42, SSAP: 0x42, Control: 3}, payload(string(make([]byte, 35))))
	add("ethertype 0x88cc lldp", eth(macA, net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, layers.EthernetType(0x88cc)), payload(string(make([]byte, 40))))

	// Malformed headers: the filter reads fields where libpcap would.
	hdr := func(et uint16) []byte {
		b := append(append([]byte{}, macB...), macA...)
		return append(b, byte(et>>8), byte(et))
	}
	v4hdr := func(first byte, proto byte) []byte {
		b := []byte{first, 0, 0, 60, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		return append(b, 0x00, 0x50, 0x00, 0x35, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0)
	}
	ps = append(ps,
		testPacket{name: "v4 ihl 0 tcp", data: append(hdr(0x0800), v4hdr(0x40, 6)...)},
		testPacket{name: "v4 ihl 15 short tcp", data: append(hdr(0x0800), v4hdr(0x4f, 6)...)},
		testPacket{name: "ethertype ipv4 version 6", data: append(hdr(0x0800), v4hdr(0x65, 17)...)},
		testPacket{name: "ethertype ipv6 short header", data: append(hdr(0x86dd), v4hdr(0x60, 17)...)},
		testPacket{name: "vlan tag only", data: append(hdr(0x8100), 0x00, 0x64)},
		testPacket{name: "802.3 length 46 snap", data: append(hdr(46), append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}, v4hdr(0x45, 6)...)...)},
	)

	ps = append(ps, encapPackets()...)

	// Raw-IP twins of every untagged IP frame.
	n := len(ps)
	for _, p := range ps[:n] {
		if len(p.data) > 14 && (p.data[12] == 0x08 && p.data[13] == 0x00 || p.data[12] == 0x86 && p.data[13] == 0xdd) {
			ps = append(ps, testPacket{name: "l3 " + p.name, data: p.data[14:], l3: true})
		}
	}
	// Truncated captures: the original length stays the frame's length.
	trunc := func(name string, l3 bool, n int) {
		want := name
		if l3 {
			want = "l3 " + name
		}
		for _, p := range ps {
			if p.name == want {
				if n > len(p.data) {
					n = len(p.data)
				}
				ps = append(ps, testPacket{name: fmt.Sprintf("trunc%d %s", n, want), data: p.data[:n], l3: l3, wirelen: len(p.data)})
				return
			}
		}
		tb.Fatalf("no packet %q", name)
	}
	trunc("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false, 10)
	trunc("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false, 24)
	trunc("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false, 34)
	trunc("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false, 38)
	trunc("v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false, 40)
	trunc("v4 tcp http get", false, 54)
	trunc("v6 tcp 443", false, 34)
	trunc("v6 tcp 443", false, 56)
	trunc("v6 tcp 443", false, 58)
	trunc("v6 frag first udp", false, 60)
	trunc("vlan 100 v4 tcp 80", false, 20)
	trunc("arp request", false, 30)
	trunc("v4 udp dns query", true, 8)
	trunc("v4 udp dns query", true, 22)
	trunc("v6 icmp6 echo", true, 30)
	trunc("v6 icmp6 echo", true, 41)
	trunc("v4 icmp echo", true, 20)
	for _, t := range encapTruncations {
		for _, n := range t.n {
			trunc(t.name, false, n)
			if t.name[:2] == "v4" || t.name[:2] == "v6" || t.name[:6] == "geneve" {
				trunc(t.name, true, n-14)
			}
		}
	}
	ps = append(ps, testPacket{name: "empty l2"}, testPacket{name: "empty l3", l3: true},
		testPacket{name: "one byte l3 0x45", data: []byte{0x45}, l3: true},
		testPacket{name: "l3 garbage version 5", data: append([]byte{0x55}, make([]byte, 59)...), l3: true})
	return ps
}
