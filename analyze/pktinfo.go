package analyze

import (
	"encoding/binary"
	"net/netip"

	"github.com/pwru-record/pwru-record/format"
)

// pktInfo is what the analyzer reads from a stored payload: the outer
// tuple, TCP flags, the fields that identify one packet across captures,
// and the inner tuple of a VXLAN or Geneve tunnel.
type pktInfo struct {
	ok       bool
	tuple    format.Tuple
	tcpFlags uint8
	// ident identifies the packet within its flow: IPv4 ID, TCP sequence
	// number, or ICMP id<<16|seq; hasIdent says whether it is usable.
	ident    uint64
	hasIdent bool
	// ipID is the IPv4 identification or the IPv6 fragment id (hasIPID).
	ipID     uint32
	hasIPID  bool
	inner    format.Tuple
	innerOK  bool
	innerTCP uint8
}

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8
)

// parsePacket decodes data (from the MAC header, or the network header
// when l3) without allocating.
func parsePacket(data []byte, l3 bool) pktInfo {
	var pi pktInfo
	parseInto(&pi, data, l3, false)
	return pi
}

func parseInto(pi *pktInfo, data []byte, l3, inner bool) {
	etype := uint16(0)
	if l3 {
		if len(data) == 0 {
			return
		}
		switch data[0] >> 4 {
		case 4:
			etype = etherIPv4
		case 6:
			etype = etherIPv6
		default:
			return
		}
	} else {
		if len(data) < 14 {
			return
		}
		etype = binary.BigEndian.Uint16(data[12:14])
		data = data[14:]
		for (etype == etherVLAN || etype == etherQinQ) && len(data) >= 4 {
			etype = binary.BigEndian.Uint16(data[2:4])
			data = data[4:]
		}
	}
	var t format.Tuple
	var l4 []byte
	var ident uint64
	hasIdent := false
	var ipID uint32
	hasIPID := false
	fragOff := false
	switch etype {
	case etherIPv4:
		if len(data) < 20 || data[0]>>4 != 4 {
			return
		}
		ihl := int(data[0]&0xf) * 4
		if ihl < 20 || len(data) < ihl {
			return
		}
		t.Src = netip.AddrFrom4([4]byte(data[12:16]))
		t.Dst = netip.AddrFrom4([4]byte(data[16:20]))
		t.Proto = data[9]
		ident = uint64(binary.BigEndian.Uint16(data[4:6]))
		hasIdent = true
		ipID, hasIPID = uint32(ident), true
		fragOff = binary.BigEndian.Uint16(data[6:8])&0x1fff != 0
		l4 = data[ihl:]
	case etherIPv6:
		if len(data) < 40 {
			return
		}
		t.Src = netip.AddrFrom16([16]byte(data[8:24]))
		t.Dst = netip.AddrFrom16([16]byte(data[24:40]))
		t.Proto = data[6]
		l4 = data[40:]
		// skip a few extension headers
		for range 4 {
			switch t.Proto {
			case 0, 43, 60: // hop-by-hop, routing, dest options
				if len(l4) < 8 {
					return
				}
				n := (int(l4[1]) + 1) * 8
				if len(l4) < n {
					return
				}
				t.Proto = l4[0]
				l4 = l4[n:]
				continue
			case 44: // fragment
				if len(l4) < 8 {
					return
				}
				t.Proto = l4[0]
				ident = uint64(binary.BigEndian.Uint32(l4[4:8]))
				hasIdent = true
				ipID, hasIPID = uint32(ident), true
				fragOff = binary.BigEndian.Uint16(l4[2:4])&0xfff8 != 0
				l4 = l4[8:]
				continue
			}
			break
		}
	default:
		return
	}
	var flags uint8
	if !fragOff {
		switch t.Proto {
		case 6:
			if len(l4) >= 14 {
				t.Sport = binary.BigEndian.Uint16(l4[0:2])
				t.Dport = binary.BigEndian.Uint16(l4[2:4])
				flags = l4[13]
				// sequence and acknowledgment numbers
				ident = uint64(binary.BigEndian.Uint32(l4[4:8]))<<32 | uint64(binary.BigEndian.Uint32(l4[8:12]))
				hasIdent = true
			}
		case 17:
			if len(l4) >= 8 {
				t.Sport = binary.BigEndian.Uint16(l4[0:2])
				t.Dport = binary.BigEndian.Uint16(l4[2:4])
				if !inner && (t.Dport == 4789 || t.Dport == 8472 || t.Dport == 6081) {
					parseTunnel(pi, l4[8:], t.Dport)
				}
			}
		case 1, 58:
			if len(l4) >= 8 {
				typ := l4[0]
				echo := (t.Proto == 1 && (typ == 8 || typ == 0)) || (t.Proto == 58 && (typ == 128 || typ == 129))
				if echo {
					ident = uint64(binary.BigEndian.Uint16(l4[4:6]))<<16 | uint64(binary.BigEndian.Uint16(l4[6:8])) | uint64(typ)<<32
					hasIdent = true
				}
			}
		}
	}
	if inner {
		pi.inner, pi.innerOK, pi.innerTCP = t, true, flags
		return
	}
	pi.ok = true
	pi.tuple, pi.tcpFlags = t, flags
	pi.ident, pi.hasIdent = ident, hasIdent
	pi.ipID, pi.hasIPID = ipID, hasIPID
}

// parseTunnel decodes the inner packet of a VXLAN (4789, 8472) or Geneve
// (6081) payload.
func parseTunnel(pi *pktInfo, p []byte, port uint16) {
	switch port {
	case 4789, 8472:
		if len(p) < 8 {
			return
		}
		parseInto(pi, p[8:], false, true)
	case 6081:
		if len(p) < 8 {
			return
		}
		optLen := int(p[0]&0x3f) * 4
		proto := binary.BigEndian.Uint16(p[2:4])
		if len(p) < 8+optLen {
			return
		}
		inner := p[8+optLen:]
		switch proto {
		case 0x6558: // transparent ethernet bridging
			parseInto(pi, inner, false, true)
		case etherIPv4, etherIPv6:
			parseInto(pi, inner, true, true)
		}
	}
}
