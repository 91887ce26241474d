package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file is the lowest layer of the encoding: varints, zigzag integers
// and length-prefixed strings appended to byte slices, and a bounds-checked
// cursor that reads them back without ever panicking.

// errShort reports that a field ran past the end of its section.
var errShort = errors.New("field runs past end of section")

// appendUvarint appends v as an unsigned LEB128 varint.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// zigzag maps signed integers to unsigned ones so that small magnitudes
// encode short: 0, -1, 1, -2 -> 0, 1, 2, 3.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// unzigzag inverts zigzag.
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func appendVarint(b []byte, v int64) []byte { return appendUvarint(b, zigzag(v)) }

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = appendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// decoder reads fields from a byte slice. The first error sticks: once a
// read fails every later read returns zero values, so callers check err
// once after a group of reads.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// remaining is the number of unread bytes.
func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) uvarint() uint64 {
	if d.off < len(d.b) && d.b[d.off] < 0x80 {
		v := uint64(d.b[d.off])
		d.off++
		return v
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		if d.err == nil {
			if n == 0 {
				d.err = errShort
			} else {
				d.err = errors.New("varint overflows 64 bits")
			}
		}
		d.off = len(d.b)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 { return unzigzag(d.uvarint()) }

// u32v reads a uvarint that must fit in 32 bits.
func (d *decoder) u32v() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail(fmt.Errorf("value %d overflows 32 bits", v))
		return 0
	}
	return uint32(v)
}

// count reads an element count and checks that at least min bytes per
// element remain, so that a hostile count cannot force a huge allocation.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if minSize < 1 {
		minSize = 1
	}
	if d.err != nil {
		return 0
	}
	if v > uint64(d.remaining()/minSize) {
		d.fail(fmt.Errorf("count %d exceeds the %d bytes left", v, d.remaining()))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.fail(errShort)
		d.off = len(d.b)
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// lenBytes reads a uvarint length and that many bytes (aliasing d.b).
func (d *decoder) lenBytes() []byte {
	n := d.uvarint()
	if n > uint64(d.remaining()) {
		d.fail(errShort)
		d.off = len(d.b)
		return nil
	}
	return d.bytes(int(n))
}

func (d *decoder) str() string { return string(d.lenBytes()) }

func (d *decoder) u8() uint8 {
	p := d.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}
