package format

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// This file decodes one column of an events payload into values, with
// its value count checked before anything is allocated.

// eventSize is the memory of one skb state of a chunkDecoder.
const eventSize = int64(unsafe.Sizeof(Event{}))

// countValues returns the number of uvarints in src: one ends at each
// byte without the high bit.
func countValues(src []byte) int {
	values := 0
	i := 0
	for ; i+8 <= len(src); i += 8 {
		values += 8 - bits.OnesCount64(binary.LittleEndian.Uint64(src[i:i+8:i+8])&0x8080808080808080)
	}
	for _, b := range src[i:] {
		if b < 0x80 {
			values++
		}
	}
	return values
}

// columnVarint decodes the varint at the start of b, found at byte off of
// its column; with u32 the value must fit 32 bits.
func columnVarint(b []byte, off int, u32 bool) (v uint64, k int, err error) {
	v, k = binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, fmt.Errorf("bad or truncated varint at byte %d", off)
	}
	if u32 && v > math.MaxUint32 {
		return 0, 0, fmt.Errorf("value %d overflows 32 bits", v)
	}
	return v, k, nil
}

// decodeColumn decodes every uvarint of src into dst (reused when large
// enough); with u32 every value must fit in 32 bits.
func decodeColumn(dst []uint64, src []byte, u32 bool) ([]uint64, error) {
	// A value ends at each byte without the high bit: that many at most.
	values := countValues(src)
	if cap(dst) < values {
		dst = make([]uint64, values)
	}
	dst = dst[:values]
	n, off := 0, 0
	// Eight bytes at a time when they are eight one-byte values (most
	// columns) or four two-byte ones, else one value of up to three
	// bytes from them.
	for off+8 <= len(src) {
		x := binary.LittleEndian.Uint64(src[off : off+8 : off+8])
		switch {
		case x&0x8080808080808080 == 0:
			d := dst[n : n+8 : n+8]
			d[0], d[1], d[2], d[3] = x&0xff, x>>8&0xff, x>>16&0xff, x>>24&0xff
			d[4], d[5], d[6], d[7] = x>>32&0xff, x>>40&0xff, x>>48&0xff, x>>56
			n += 8
			off += 8
			continue
		case x&0x8080808080808080 == 0x0080008000800080:
			// Four two-byte values (time deltas, often).
			d := dst[n : n+4 : n+4]
			d[0], d[1] = x&0x7f|x>>1&0x3f80, x>>16&0x7f|x>>17&0x3f80
			d[2], d[3] = x>>32&0x7f|x>>33&0x3f80, x>>48&0x7f|x>>49&0x3f80
			n += 4
			off += 8
			continue
		case x&0x80 == 0:
			dst[n] = x & 0x7f
			n++
			off++
			continue
		case x&0x8000 == 0:
			dst[n] = x&0x7f | x>>1&0x3f80
			n++
			off += 2
			continue
		case x&0x800000 == 0:
			dst[n] = x&0x7f | x>>1&0x3f80 | x>>2&0x1fc000
			n++
			off += 3
			continue
		}
		// A value of four bytes or more.
		v, k, err := columnVarint(src[off:], off, u32)
		if err != nil {
			return dst[:n], err
		}
		dst[n] = v
		n++
		off += k
	}
	for off < len(src) {
		b0 := src[off]
		if b0 < 0x80 {
			dst[n] = uint64(b0)
			n++
			off++
			continue
		}
		v, k, err := columnVarint(src[off:], off, u32)
		if err != nil {
			return dst[:n], err
		}
		dst[n] = v
		n++
		off += k
	}
	return dst[:n], nil
}
