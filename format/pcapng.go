package format

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// This file writes and parses the pcapng blocks that packets sections
// carry. Only what the format needs is supported: little-endian blocks, one
// section header, interface descriptions and enhanced packet blocks.

// pcapng block types and option codes.
const (
	pcapngSHB = 0x0A0D0D0A
	pcapngIDB = 0x00000001
	pcapngEPB = 0x00000006

	pcapngBOM = 0x1A2B3C4D

	optEnd         = 0
	optSHBHardware = 2
	optSHBOS       = 3
	optSHBUserAppl = 4
	optIfName      = 2
	optIfDesc      = 3
	optIfTsresol   = 9

	linkTypeEthernet = 1
	linkTypeRaw      = 101 // raw IPv4/IPv6, no link header

	epbFixed = 28 // EPB header bytes before the packet data
)

func pad4(n int) int { return (n + 3) &^ 3 }

// appendOption appends a pcapng option padded to 4 bytes.
func appendOption(b []byte, code uint16, val []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for i := len(val); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

// finishBlock writes the block type and both total-length fields of the
// block that starts at start (its first 8 bytes reserved).
func finishBlock(b []byte, start int, typ uint32) []byte {
	total := len(b) - start + 4
	binary.LittleEndian.PutUint32(b[start:], typ)
	binary.LittleEndian.PutUint32(b[start+4:], uint32(total))
	return appendU32(b, uint32(total))
}

// appendSHB appends a section header block describing the recording host.
func appendSHB(b []byte, h *Header) []byte {
	start := len(b)
	b = append(b, make([]byte, 8)...)
	b = appendU32(b, pcapngBOM)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = appendU64(b, ^uint64(0)) // section length unknown
	if h.Uname.Machine != "" {
		b = appendOption(b, optSHBHardware, []byte(truncOpt(h.Uname.Machine)))
	}
	if os := h.Uname.Sysname + " " + h.Uname.Release; h.Uname.Release != "" {
		b = appendOption(b, optSHBOS, []byte(truncOpt(os)))
	}
	if h.WriterVersion != "" {
		b = appendOption(b, optSHBUserAppl, []byte(truncOpt(h.WriterVersion)))
	}
	b = appendOption(b, optEnd, nil)
	return finishBlock(b, start, pcapngSHB)
}

// truncOpt keeps an option value within the 16-bit option length.
func truncOpt(s string) string {
	if len(s) > 0xfff0 {
		return s[:0xfff0]
	}
	return s
}

// ifaceKey identifies one pcapng interface.
type ifaceKey struct {
	Netns, Ifindex uint32
	L3             bool
}

// appendIDB appends an interface description block for k, named after
// its interface when known.
func appendIDB(b []byte, k ifaceKey, name string) []byte {
	start := len(b)
	b = append(b, make([]byte, 8)...)
	lt := uint16(linkTypeEthernet)
	if k.L3 {
		lt = linkTypeRaw
	}
	b = binary.LittleEndian.AppendUint16(b, lt)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = appendU32(b, 0) // snaplen: no limit
	if name == "" {
		name = "if" + strconv.FormatUint(uint64(k.Ifindex), 10)
	}
	b = appendOption(b, optIfName, []byte(truncOpt(name)))
	desc := fmt.Sprintf("netns %d ifindex %d", k.Netns, k.Ifindex)
	b = appendOption(b, optIfDesc, []byte(desc))
	b = appendOption(b, optIfTsresol, []byte{9})
	b = appendOption(b, optEnd, nil)
	return finishBlock(b, start, pcapngIDB)
}

// appendEPB appends an enhanced packet block; ts is in nanoseconds.
func appendEPB(b []byte, iface uint32, ts uint64, origLen uint32, data []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, 8)...)
	b = appendU32(b, iface)
	b = appendU32(b, uint32(ts>>32))
	b = appendU32(b, uint32(ts))
	b = appendU32(b, uint32(len(data)))
	b = appendU32(b, origLen)
	b = append(b, data...)
	for i := len(data); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return finishBlock(b, start, pcapngEPB)
}

// epb is a parsed enhanced packet block; data aliases the section payload.
type epb struct {
	iface   uint32
	ts      uint64
	origLen uint32
	data    []byte
}

// parsePcapng walks the blocks of p, appending every EPB to out. It
// returns the number of IDBs seen.
func parsePcapng(p []byte, out []epb) ([]epb, int, error) {
	le := binary.LittleEndian
	idbs := 0
	for off := 0; off < len(p); {
		if len(p)-off < 12 {
			return out, idbs, corruptf("pcapng block at %d: %d bytes left", off, len(p)-off)
		}
		typ := le.Uint32(p[off:])
		total := le.Uint32(p[off+4:])
		if total < 12 || total%4 != 0 || uint64(total) > uint64(len(p)-off) {
			return out, idbs, corruptf("pcapng block at %d: bad length %d", off, total)
		}
		blk := p[off : off+int(total)]
		if le.Uint32(blk[total-4:]) != total {
			return out, idbs, corruptf("pcapng block at %d: trailing length mismatch", off)
		}
		switch typ {
		case pcapngSHB:
			if total < 28 || le.Uint32(blk[8:]) != pcapngBOM {
				return out, idbs, corruptf("pcapng section header at %d: bad byte order", off)
			}
		case pcapngIDB:
			idbs++
		case pcapngEPB:
			if total < epbFixed+4 {
				return out, idbs, corruptf("pcapng packet block at %d too short", off)
			}
			caplen := le.Uint32(blk[20:])
			if uint64(pad4(int(caplen))) > uint64(total-epbFixed-4) {
				return out, idbs, corruptf("pcapng packet block at %d: captured length %d exceeds block", off, caplen)
			}
			out = append(out, epb{
				iface:   le.Uint32(blk[8:]),
				ts:      uint64(le.Uint32(blk[12:]))<<32 | uint64(le.Uint32(blk[16:])),
				origLen: le.Uint32(blk[24:]),
				data:    blk[epbFixed : epbFixed+caplen : epbFixed+caplen],
			})
		}
		off += int(total)
	}
	return out, idbs, nil
}

// appendPacketsPrefix encodes the interface table of a packets section:
// every pcapng interface id that its EPBs use.
func appendPacketsPrefix(b []byte, ids []uint32, keys []ifaceKey) []byte {
	b = appendUvarint(b, uint64(len(ids)))
	for i, id := range ids {
		k := keys[i]
		l3 := uint64(0)
		if k.L3 {
			l3 = 1
		}
		b = appendUvarint(b, uint64(id))
		b = appendUvarint(b, uint64(k.Netns))
		b = appendUvarint(b, uint64(k.Ifindex))
		b = appendUvarint(b, l3)
	}
	return b
}
