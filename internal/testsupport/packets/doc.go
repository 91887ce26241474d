// Package packets is the one packet builder of the tests: frames built
// byte by byte with fixed fields (raw.go: Ethernet, IPv4, TCP, UDP,
// ICMP echo, used by the fake captures' scenarios), gopacket layers
// serialized with lengths and checksums ([Serialize], used by the
// generated streams), and a fixed corpus built from them for the filter
// tests ([Build], [Inputs]): Ethernet frames carrying IPv4/IPv6 TCP, UDP,
// ICMP and ICMPv6 (with IP options, a fragment, an IPv6 extension
// header), ARP, 802.1Q and QinQ VLAN tags and a non-IP frame, plus their
// truncations at header boundaries. The same bytes come out on every call.
package packets
