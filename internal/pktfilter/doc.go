// Package pktfilter matches stored packet payloads against pcap-filter
// expressions (the tcpdump filter language) in pure Go, without cgo or
// libpcap, so the analyzer can filter captures on any operating system.
//
// [Compile] parses an expression once into a [Filter]; [Filter.Match] then
// decodes the fields it needs directly from the packet bytes, without
// allocating. The semantics follow libpcap's code generator for the
// DLT_EN10MB (Ethernet) and DLT_RAW (IP) link types: the same qualifier
// inheritance ("host 10.0.0.1 or 10.0.0.2"), the same precedence (and and
// or bind equally, left to right), the same offsets after "vlan", and the
// same rule that a read past the end of the captured bytes rejects the
// packet. A conformance test compares the verdicts with libpcap's on a
// corpus of packets.
//
// Primitives that libpcap cannot compile for raw IP packets (ether host,
// vlan, broadcast, multicast at the link layer) are false for packets that
// start at the network header. Expressions that need a name service (host
// names, network names, /etc/ethers), 802.11, MPLS, PPPoE, Geneve, ISO,
// DECnet, AppleTalk, IPX, gateway and protochain are rejected by [Compile]
// with an error that wraps [ErrUnsupported].
package pktfilter
