// Package pktcorpus builds a fixed corpus of packets with gopacket for
// filter tests: Ethernet frames carrying IPv4/IPv6 TCP, UDP, ICMP and
// ICMPv6 (with IP options, a fragment, an IPv6 extension header), ARP,
// 802.1Q and QinQ VLAN tags and a non-IP frame, plus their truncations at
// header boundaries. The same bytes come out on every call.
package pktcorpus
