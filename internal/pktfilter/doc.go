// Package pktfilter matches stored packet payloads against pcap-filter
// expressions (the tcpdump filter language) in pure Go, without cgo or
// libpcap, so the analyzer can filter captures on any operating system.
//
// [Compile] parses an expression once into a [Filter]: a small program of
// field tests joined by short-circuit jumps, much like the BPF code libpcap
// generates. [Filter.Match] runs it over the packet bytes, reading each
// field directly (no decoding into layers) and without allocating; a
// Filter is safe for concurrent use.
//
// The semantics are libpcap's (1.10, with the optimiser on, as tcpdump
// runs it) for the DLT_EN10MB (Ethernet) and DLT_RAW (IP) link types:
//
//   - and and or have equal precedence and group left to right; not binds
//     tighter; "tcp[13] & 2 != 0" compares (tcp[13] & 2) with 0.
//   - An address without qualifiers inherits the previous ones:
//     "host 10.0.0.1 or 10.0.0.2", "tcp dst port 80 or 443".
//   - "vlan" shifts the network-layer offset by 4 bytes for everything
//     that follows it in the expression, even across or; so does each
//     "mpls" label, after which only IPv4 and IPv6 can be tested (the
//     bottom-of-stack bit, then the version nibble). After "pppoes" the
//     link layer is the PPP frame inside the session (PPP protocol numbers
//     for ip, ip6, mpls, ...; no Ethernet addresses, no vlan). After
//     "geneve" (UDP to port 6081 over IPv4 or IPv6, Geneve version 0) the
//     inner headers are found at offsets computed from each packet: past
//     the Geneve options, and past an inner Ethernet header when the
//     Geneve protocol is 0x6558; Ethernet-address tests then require that
//     inner Ethernet header.
//   - "llc" is an 802.3 frame (length field at most 1500) that is not
//     Novell raw 802.3; "stp" is LLC SAP 0x42.
//   - "protochain N" walks the header chain as libpcap's BPF code does:
//     IPv6 hop-by-hop, routing, fragment and destination-options headers,
//     and AH, whose next offset libpcap computes from the start of the IP
//     header. Expressions with geneve or protochain are never optimised
//     (libpcap does not optimise them either).
//   - Port tests skip IPv4 fragments other than the first; IPv6 port tests
//     do not look past extension headers; "ip6 proto" and "tcp"/"udp"
//     look through one fragment header.
//   - A read past the captured bytes (or a division by zero) rejects the
//     packet, even under not.
//
// Like libpcap's optimiser, Compile folds constant arithmetic (reporting
// constant divisions by zero) and threads jumps past tests whose outcome
// is already known or irrelevant, so, as with tcpdump, a test that cannot
// change the verdict does not reject a packet too short for it. The
// optimisers differ in details, which shows only on packets cut short of
// a field the expression reads: the tests measure 99% agreement there on
// random expressions, and full agreement everywhere else.
//
// The conformance tests in this package check verdicts against the
// system's libpcap, optimised and not, on a corpus of Ethernet and raw-IP
// packets.
//
// # Differences from libpcap
//
// Link-layer primitives (ether host/src/dst, vlan, mpls, llc, broadcast
// and multicast at the link layer) are false for packets that start at the
// network header, where libpcap refuses to compile them (after "geneve"
// they test the inner frame, as in libpcap). (arp, rarp and ether proto
// of non-IP types are false there in libpcap too.)
// "byte N & V" and "byte N | V" test byte N; libpcap 1.10 ignores N there.
//
// # Unsupported syntax
//
// [Compile] rejects the following with an error wrapping [ErrUnsupported]
// ("pcap filter: unsupported primitive "X" at offset N"):
//
//   - anything that needs a name service: host names, network names,
//     /etc/ethers names (service names and IP protocol names come from a
//     built-in table of the common ones);
//   - gateway, ip broadcast (needs the netmask);
//   - other link layers and capture metadata: 802.11 (type, subtype, dir,
//     addr1-4, ra, ta), radio, ATM (lane, vpi, vci, oam, ...), SS7 MTP,
//     pf (on, ifname, rset, rnr, reason, action), inbound, outbound,
//     ifindex, ARCnet addresses ($xx);
//   - "vlan" after "geneve" (libpcap patches offsets at run time there),
//     and the LLC frame types "llc i", "llc s", "llc u" and subtypes;
//   - non-IP protocols: decnet, atalk, aarp, lat, sca, moprc, mopdl, iso,
//     esis, isis (and l1, l2, iih, lsp, snp, csnp, psnp), clnp, ipx,
//     netbeui, and ether proto values that need SNAP parsing (IPX,
//     AppleTalk, AARP).
//
// Where libpcap's own code is ill-defined, verdicts are pktfilter's: a
// test that uses Geneve's inner offsets when no Geneve test has matched
// ("geneve or tcp") reads uninitialised scratch memory in libpcap (here:
// offset 0), and a protochain walk over an AH header whose length leads
// back to itself loops forever in libpcap's interpreter (here: no match).
package pktfilter
