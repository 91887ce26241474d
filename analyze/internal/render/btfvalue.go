package render

import (
	"encoding/binary"

	"github.com/cilium/ebpf/btf"
)

// This file reads the values btfShow renders: integers and bitfields in
// the recording host's byte order, and whether an aggregate holds any
// non-zero value.

// readUint reads an n-byte unsigned integer; ok is false when data is too
// short.
func (s *btfShow) readUint(data []byte, n int) (uint64, bool) {
	if len(data) < n {
		return 0, false
	}
	switch n {
	case 1:
		return uint64(data[0]), true
	case 2:
		return uint64(s.order.Uint16(data)), true
	case 4:
		return uint64(s.order.Uint32(data)), true
	case 8:
		return s.order.Uint64(data), true
	}
	var v uint64
	if s.order == binary.LittleEndian {
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(data[i])
		}
	} else {
		for i := 0; i < n; i++ {
			v = v<<8 | uint64(data[i])
		}
	}
	return v, true
}

// bits extracts a bitfield of size bits at bit offset off from data
// (little endian: offset counted from the least significant bit of the
// first byte; big endian: from the most significant).
func (s *btfShow) bits(data []byte, off, size uint32) (uint64, bool) {
	nbytes := int((off + size + 7) / 8)
	if nbytes > 8 || len(data) < nbytes {
		return 0, false
	}
	var v uint64
	if s.order == binary.LittleEndian {
		for i := nbytes - 1; i >= 0; i-- {
			v = v<<8 | uint64(data[i])
		}
		v >>= off
	} else {
		for i := 0; i < nbytes; i++ {
			v = v<<8 | uint64(data[i])
		}
		v >>= uint32(nbytes*8) - off - size
	}
	if size < 64 {
		v &= 1<<size - 1
	}
	return v, true
}

func signExtend(v uint64, bytes int) int64 {
	shift := 64 - 8*bytes
	return int64(v<<shift) >> shift
}

// show renders data as typ; bitOff is the bit offset inside data[0].
// nonZero reports whether showing typ at data would print any value: the
// kernel's first pass over nested aggregates.
func (s *btfShow) nonZero(typ btf.Type, data []byte, bitOff uint32) bool {
	switch t := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		n := int(t.Size)
		if bitOff != 0 || (n != 1 && n != 2 && n != 4 && n != 8) {
			v, ok := s.bits(data, bitOff, uint32(n)*8)
			return ok && v != 0
		}
		v, ok := s.readUint(data, n)
		return ok && v != 0
	case *btf.Pointer:
		v, ok := s.readUint(data, 8)
		return ok && v != 0
	case *btf.Enum:
		v, ok := s.readUint(data, int(t.Size))
		if !ok {
			return false
		}
		if v != 0 {
			return true
		}
		for _, ev := range t.Values {
			if ev.Value == 0 {
				return true
			}
		}
		return false
	case *btf.Struct:
		return s.membersNonZero(t.Members, data)
	case *btf.Union:
		return s.membersNonZero(t.Members, data)
	case *btf.Array:
		elemSize, err := btf.Sizeof(t.Type)
		if err != nil || elemSize <= 0 {
			return false
		}
		_, isInt := btf.UnderlyingType(t.Type).(*btf.Int)
		if isInt && elemSize == 1 {
			return len(data) > 0 && t.Nelems > 0 && data[0] != 0
		}
		for i := 0; i < int(t.Nelems); i++ {
			off := i * elemSize
			if off+elemSize > len(data) {
				break
			}
			if s.nonZero(t.Type, data[off:off+elemSize], 0) {
				return true
			}
		}
	}
	return false
}

func (s *btfShow) membersNonZero(members []btf.Member, data []byte) bool {
	for _, m := range members {
		off := uint32(m.Offset)
		byteOff := int(off / 8)
		if byteOff > len(data) {
			break
		}
		if m.BitfieldSize > 0 {
			if v, ok := s.bits(data[byteOff:], off%8, uint32(m.BitfieldSize)); ok && v != 0 {
				return true
			}
			continue
		}
		if s.nonZero(m.Type, data[byteOff:], off%8) {
			return true
		}
	}
	return false
}
