package packets

import (
	"encoding/binary"
	"net/netip"
)

// This file builds packets byte by byte, with fixed field values (the
// scenario captures and their goldens depend on these exact bytes): an
// IPv4 header checksum, but no TCP/UDP/ICMP checksums.

// Ethernet builds an Ethernet frame around an IPv4 packet.
func Ethernet(ip []byte) []byte {
	f := make([]byte, 14, 14+len(ip))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	return append(f, ip...)
}

// IPv4 builds an IPv4 header (with checksum) followed by l4.
func IPv4(src, dst string, proto uint8, id uint16, l4 []byte) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:], id)
	h[6] = 0x40
	h[8] = 64
	h[9] = proto
	s := netip.MustParseAddr(src).As4()
	d := netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return append(h, l4...)
}

// TCP builds a TCP header without options plus payload.
func TCP(sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 64240)
	return append(h, payload...)
}

// UDP builds a UDP header plus payload.
func UDP(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// ICMPEcho builds an ICMP echo request (typ 8) or reply (0).
func ICMPEcho(typ uint8, id, seq uint16) []byte {
	h := make([]byte, 16)
	h[0] = typ
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], seq)
	return h
}
