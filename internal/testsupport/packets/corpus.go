package packets

import (
	"fmt"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Packet is one corpus entry: an Ethernet frame and, for IP packets, the
// offset of the network header (0 for frames without an IP header).
type Packet struct {
	Name  string
	Frame []byte
	L3Off int
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	ip4A = net.IP{10, 0, 0, 1}
	ip4B = net.IP{10, 0, 0, 2}
	ip4C = net.IP{192, 168, 7, 9}
	ip6A = net.ParseIP("2001:db8::1")
	ip6B = net.ParseIP("2001:db8::2")
	ip6C = net.ParseIP("fe80::1")
)

// Build returns the full packets of the corpus, in a fixed order; see
// [Inputs] for truncated variants.
func Build() ([]Packet, error) {
	var out []Packet
	var err error
	fail := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	add := func(name string, l3off int, ls ...gopacket.SerializableLayer) {
		b, e := Serialize(ls...)
		if e != nil {
			fail(fmt.Errorf("build packet %s: %w", name, e))
			return
		}
		out = append(out, Packet{name, b, l3off})
	}
	tcp := func(sp, dp layers.TCPPort, flags string) *layers.TCP {
		t := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: 1000, Window: 512}
		SetTCPFlags(t, flags)
		return t
	}
	for _, c := range []struct {
		name   string
		src    net.IP
		dst    net.IP
		sp, dp layers.TCPPort
		flags  string
		pay    string
	}{
		{"tcp4-syn-80", ip4A, ip4B, 40000, 80, "S", ""},
		{"tcp4-synack-80", ip4B, ip4A, 80, 40000, "SA", ""},
		{"tcp4-ack-get", ip4A, ip4B, 40000, 80, "PA", "GET / HTTP/1.1\r\n\r\n"},
		{"tcp4-fin-8080", ip4C, ip4B, 12345, 8080, "FA", ""},
		{"tcp4-rst-22", ip4B, ip4C, 22, 5555, "R", ""},
		{"tcp4-fin-from-a", ip4A, ip4B, 40000, 80, "FA", ""},
	} {
		ip := ipv4(c.src, c.dst, layers.IPProtocolTCP)
		t := tcp(c.sp, c.dp, c.flags)
		fail(t.SetNetworkLayerForChecksum(ip))
		add(c.name, 14, ether(layers.EthernetTypeIPv4), ip, t, gopacket.Payload(c.pay))
	}
	for _, c := range []struct {
		name     string
		src, dst net.IP
		sp, dp   layers.UDPPort
		pay      []byte
	}{
		{"udp4-dns", ip4A, ip4B, 33333, 53, []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}},
		{"udp4-8080", ip4C, ip4A, 8080, 9000, make([]byte, 120)},
		{"udp4-multicast", ip4A, net.IP{224, 0, 0, 251}, 5353, 5353, []byte{1}},
		{"udp4-broadcast", ip4A, net.IP{255, 255, 255, 255}, 68, 67, make([]byte, 300)},
	} {
		ip := ipv4(c.src, c.dst, layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: c.sp, DstPort: c.dp}
		fail(u.SetNetworkLayerForChecksum(ip))
		add(c.name, 14, ether(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(c.pay))
	}
	add("icmp4-echo", 14, ether(layers.EthernetTypeIPv4), ipv4(ip4A, ip4B, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, gopacket.Payload("pingpingping"))
	add("icmp4-reply", 14, ether(layers.EthernetTypeIPv4), ipv4(ip4B, ip4A, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: 1})
	add("icmp4-unreach", 14, ether(layers.EthernetTypeIPv4), ipv4(ip4C, ip4A, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)})

	// IPv4 with options (IHL 6) carrying TCP to port 80.
	{
		ip := ipv4(ip4A, ip4B, layers.IPProtocolTCP)
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		t := tcp(1234, 80, "S")
		fail(t.SetNetworkLayerForChecksum(ip))
		add("tcp4-options-80", 14, ether(layers.EthernetTypeIPv4), ip, t)
	}
	// A non-first IPv4 fragment: the bytes after the header are not a
	// TCP header, so port filters must not match it.
	{
		ip := ipv4(ip4A, ip4B, layers.IPProtocolTCP)
		ip.FragOffset = 100
		add("tcp4-fragment", 14, ether(layers.EthernetTypeIPv4), ip, gopacket.Payload([]byte{0, 80, 0, 80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}))
	}

	for _, c := range []struct {
		name     string
		src, dst net.IP
		proto    string
	}{
		{"tcp6-syn-80", ip6A, ip6B, "tcp"},
		{"udp6-dns", ip6B, ip6A, "udp"},
		{"udp6-linklocal", ip6C, ip6A, "udp"},
		{"udp6-multicast", ip6C, net.ParseIP("ff02::fb"), "udp"},
	} {
		switch c.proto {
		case "tcp":
			ip := ipv6(c.src, c.dst, layers.IPProtocolTCP)
			t := tcp(40000, 80, "S")
			fail(t.SetNetworkLayerForChecksum(ip))
			add(c.name, 14, ether(layers.EthernetTypeIPv6), ip, t)
		case "udp":
			ip := ipv6(c.src, c.dst, layers.IPProtocolUDP)
			u := &layers.UDP{SrcPort: 5000, DstPort: 53}
			fail(u.SetNetworkLayerForChecksum(ip))
			add(c.name, 14, ether(layers.EthernetTypeIPv6), ip, u, gopacket.Payload("abcd"))
		}
	}
	for _, c := range []struct {
		name string
		typ  uint8
	}{
		{"icmp6-echo", layers.ICMPv6TypeEchoRequest},
		{"icmp6-reply", layers.ICMPv6TypeEchoReply},
		{"icmp6-ns", layers.ICMPv6TypeNeighborSolicitation},
	} {
		ip := ipv6(ip6A, ip6B, layers.IPProtocolICMPv6)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(c.typ, 0)}
		fail(ic.SetNetworkLayerForChecksum(ip))
		add(c.name, 14, ether(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload([]byte{0, 1, 0, 2, 'x', 'y'}))
	}
	// IPv6 with a hop-by-hop extension header in front of UDP.
	{
		ip := ipv6(ip6A, ip6B, layers.IPProtocolIPv6HopByHop)
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = layers.IPProtocolUDP
		hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		u := &layers.UDP{SrcPort: 7, DstPort: 53}
		fail(u.SetNetworkLayerForChecksum(ip))
		add("udp6-hopbyhop", 14, ether(layers.EthernetTypeIPv6), ip, hbh, u, gopacket.Payload("q"))
	}

	for _, op := range []uint16{layers.ARPRequest, layers.ARPReply} {
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: macA, SourceProtAddress: ip4A, DstHwAddress: macB, DstProtAddress: ip4B}
		eth := ether(layers.EthernetTypeARP)
		if op == layers.ARPRequest {
			eth.DstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		add("arp-"+map[uint16]string{layers.ARPRequest: "request", layers.ARPReply: "reply"}[op], 0, eth, arp)
	}

	// 802.1Q VLAN 100 carrying UDP, and VLAN 200 carrying TCP, and QinQ.
	{
		ip := ipv4(ip4A, ip4B, layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 1000, DstPort: 53}
		fail(u.SetNetworkLayerForChecksum(ip))
		add("vlan100-udp4", 18, ether(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, ip, u)
	}
	{
		ip := ipv4(ip4C, ip4A, layers.IPProtocolTCP)
		t := tcp(443, 50000, "A")
		fail(t.SetNetworkLayerForChecksum(ip))
		add("vlan200-tcp4", 18, ether(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}, ip, t)
		add("qinq-tcp4", 22, ether(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}, ip, t)
	}
	// Encapsulations: MPLS label stacks, PPPoE session and discovery,
	// Geneve with options and an inner Ethernet frame, 802.3 with LLC.
	{
		ip := ipv4(ip4A, ip4B, layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 1000, DstPort: 53}
		fail(u.SetNetworkLayerForChecksum(ip))
		inner, e := Serialize(ip, u, gopacket.Payload("abcd"))
		fail(e)
		add("mpls100-udp4", 18, ether(layers.EthernetTypeMPLSUnicast), gopacket.Payload(append(mplsEntry(100, true), inner...)))
		ip = ipv4(ip4C, ip4A, layers.IPProtocolTCP)
		t := tcp(443, 80, "S")
		fail(t.SetNetworkLayerForChecksum(ip))
		inner, e = Serialize(ip, t)
		fail(e)
		add("mpls-stack-tcp4", 22, ether(layers.EthernetTypeMPLSUnicast),
			gopacket.Payload(append(append(mplsEntry(200, false), mplsEntry(300, true)...), inner...)))
		sess := []byte{0x11, 0x00, 0x12, 0x34, byte((len(inner) + 2) >> 8), byte(len(inner) + 2), 0x00, 0x21}
		add("pppoes-tcp4", 22, ether(layers.EthernetTypePPPoESession), gopacket.Payload(append(sess, inner...)))
		add("pppoed-padi", 0, &layers.Ethernet{SrcMAC: macA, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypePPPoEDiscovery},
			gopacket.Payload([]byte{0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0}))
		frame, e := Serialize(&layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv4}, ip, t)
		fail(e)
		// Geneve: version 0, 2 words of options, protocol 0x6558
		// (Ethernet), VNI 7, one option.
		gen := append([]byte{0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x80, 0x01, 0xaa, 0xbb, 0xcc, 0xdd}, frame...)
		oip := ipv4(ip4A, ip4B, layers.IPProtocolUDP)
		ou := &layers.UDP{SrcPort: 5555, DstPort: 6081}
		fail(ou.SetNetworkLayerForChecksum(oip))
		add("geneve-tcp4", 14, ether(layers.EthernetTypeIPv4), oip, ou, gopacket.Payload(gen))
	}
	add("llc-stp", 0, &layers.Ethernet{SrcMAC: macA, DstMAC: net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0}, EthernetType: layers.EthernetTypeLLC, Length: 38},
		&layers.LLC{DSAP: 0x42, SSAP: 0x42, Control: 3}, gopacket.Payload(make([]byte, 35)))
	// Something neither IPv4, IPv6 nor ARP.
	add("lldp-ish", 0, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: 0x88cc}, gopacket.Payload(make([]byte, 40)))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mplsEntry is one MPLS label stack entry (TTL 64).
func mplsEntry(label uint32, bottom bool) []byte {
	v := label<<12 | 64
	if bottom {
		v |= 1 << 8
	}
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// truncations returns interesting prefix lengths below n.
func truncations(n int) []int {
	var out []int
	for _, l := range []int{0, 1, 12, 13, 14, 15, 19, 20, 23, 24, 33, 34, 35, 37, 38, 40, 41, 53, 54, 55, 57, 58, 61, 62} {
		if l < n {
			out = append(out, l)
		}
	}
	return out
}

// Inputs returns the corpus as filter inputs by name: for l2 every frame,
// for l3 the network-layer part of every IP packet plus one non-IP blob;
// each with its truncations at header boundaries ("name[:n]").
func Inputs(l3 bool) (map[string][]byte, error) {
	pkts, err := Build()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte)
	for _, p := range pkts {
		data := p.Frame
		if l3 {
			if p.L3Off == 0 {
				continue
			}
			data = p.Frame[p.L3Off:]
		}
		out[p.Name] = data
		for _, n := range truncations(len(data)) {
			out[fmt.Sprintf("%s[:%d]", p.Name, n)] = data[:n]
		}
	}
	if l3 {
		out["garbage-version-5"] = append([]byte{0x55}, make([]byte, 40)...)
	}
	return out, nil
}
