package analyze

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// This file renders raw kernel struct bytes with BTF the way the kernel's
// bpf_snprintf_btf() does with flags 0 (what pwru --output-skb prints):
// one member per line indented by its depth, ".name = (type)value,",
// zero-valued members and all-zero nested aggregates left out, 1-byte
// arrays shown as characters up to the first NUL, bitfields in hex, enums by
// name. Pointers are shown raw (the kernel hashes them unless
// BTF_F_PTR_RAW); the bytes were copied at record time so nothing is read
// from a live kernel.

// maxShowIter bounds the typedef/pointer/array chain followed for a type
// name, like the kernel's BTF_SHOW_MAX_ITER.
const maxShowIter = 10

// btfShow holds the state of one rendering.
type btfShow struct {
	out   []byte
	order binary.ByteOrder
	depth int
	// member is the name of the struct member being shown ("" = none);
	// memberType its declared type (before typedefs are resolved).
	member     string
	hasMember  bool
	memberType btf.Type
	// arrayMember: showing an array element (no name is printed).
	arrayMember bool
	// charArray: the enclosing array has 1-byte elements, shown as chars.
	charArray  bool
	terminated bool
}

// AppendBTF appends the rendering of data as a value of typ to dst and
// returns the extended slice. order is the byte order of the recording
// host (nil = little endian). Data shorter than the type is rendered up to
// where it ends.
func AppendBTF(dst []byte, typ btf.Type, data []byte, order binary.ByteOrder) []byte {
	if order == nil {
		order = binary.LittleEndian
	}
	s := &btfShow{out: dst, order: order, memberType: typ}
	s.show(typ, data, 0)
	return s.out
}

func (s *btfShow) indent() {
	d := s.depth
	if d > 32 {
		d = 32
	}
	for range d {
		s.out = append(s.out, ' ')
	}
}

func (s *btfShow) delim() {
	if s.depth > 0 {
		s.out = append(s.out, ',')
	}
}

// name appends "[.member = ](type)" for the type being shown.
func (s *btfShow) name() {
	if s.arrayMember {
		return
	}
	t := s.memberType
	var (
		name         string
		haveName     bool
		isTypedef    bool
		isArray      bool
		isPtr        bool
		ptrs, arrays int
		parens       string
	)
	t = btf.QualifiedType(t)
	i := 0
	for ; i < maxShowIter; i++ {
		var next btf.Type
		switch v := t.(type) {
		case *btf.Typedef:
			if !haveName {
				name, haveName = v.Name, true
			}
			isTypedef = true
			next = v.Type
		case *btf.Array:
			isArray = true
			parens = "["
			arrays++
			next = v.Type
		case *btf.Pointer:
			isPtr = true
			ptrs++
			next = v.Target
		}
		if next == nil {
			break
		}
		if _, void := next.(*btf.Void); void {
			break
		}
		t = btf.QualifiedType(next)
	}
	if i == maxShowIter {
		return
	}
	if !haveName && t != nil {
		name = t.TypeName()
	}
	prefix := ""
	switch v := t.(type) {
	case *btf.Struct:
		prefix = "struct"
		if !isArray {
			parens = "{"
		}
	case *btf.Union:
		prefix = "union"
		if !isArray {
			parens = "{"
		}
	case *btf.Enum:
		prefix = "enum"
	case *btf.Fwd:
		prefix = "struct"
		if v.Kind == btf.FwdUnion {
			prefix = "union"
		}
	}
	if isPtr {
		parens = ""
	}
	if isTypedef {
		prefix = ""
	}
	if s.hasMember && s.member != "" {
		s.out = append(s.out, '.')
		s.out = append(s.out, s.member...)
		s.out = append(s.out, " = "...)
	}
	s.out = append(s.out, '(')
	s.out = append(s.out, prefix...)
	if prefix != "" && name != "" {
		s.out = append(s.out, ' ')
	}
	s.out = append(s.out, name...)
	if ptrs > 0 {
		s.out = append(s.out, ' ')
		s.out = append(s.out, strings.Repeat("*", ptrs)...)
	}
	s.out = append(s.out, strings.Repeat("[]", arrays)...)
	s.out = append(s.out, ')')
	s.out = append(s.out, parens...)
}

// value appends one scalar line: indent, name, text, delimiter, newline.
func (s *btfShow) value(text string) {
	s.indent()
	s.name()
	s.out = append(s.out, text...)
	s.delim()
	s.out = append(s.out, '\n')
}

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
func (s *btfShow) show(typ btf.Type, data []byte, bitOff uint32) {
	switch t := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		s.showInt(t, data, bitOff)
	case *btf.Pointer:
		v, ok := s.readUint(data, 8)
		if !ok || (v == 0 && s.depth > 0) {
			return
		}
		s.value("0x" + hex16(v))
	case *btf.Enum:
		v, ok := s.readUint(data, int(t.Size))
		if !ok {
			return
		}
		for _, ev := range t.Values {
			if ev.Value == v || (t.Signed && ev.Value == uint64(signExtend(v, int(t.Size)))) {
				s.value(ev.Name)
				return
			}
		}
		if v == 0 && s.depth > 0 {
			return
		}
		if t.Signed {
			s.value(strconv.FormatInt(signExtend(v, int(t.Size)), 10))
		} else {
			s.value(strconv.FormatUint(v, 10))
		}
	case *btf.Struct:
		s.showComposite(typ, t.Members, data, "}")
	case *btf.Union:
		s.showComposite(typ, t.Members, data, "}")
	case *btf.Array:
		s.showArray(typ, t, data)
	}
}

func hex16(v uint64) string {
	h := strconv.FormatUint(v, 16)
	if len(h) < 16 {
		h = strings.Repeat("0", 16-len(h)) + h
	}
	return h
}

func (s *btfShow) showInt(t *btf.Int, data []byte, bitOff uint32) {
	n := int(t.Size)
	if bitOff != 0 || (n != 1 && n != 2 && n != 4 && n != 8) {
		v, ok := s.bits(data, bitOff, uint32(n)*8)
		if !ok || (v == 0 && s.depth > 0) {
			return
		}
		s.value("0x" + strconv.FormatUint(v, 16))
		return
	}
	v, ok := s.readUint(data, n)
	if !ok {
		return
	}
	signed := t.Encoding&btf.Signed != 0
	if n == 1 && s.charArray {
		if s.terminated {
			return
		}
		if v == 0 {
			s.terminated = true
			return
		}
		if v >= 0x20 && v < 0x7f {
			s.value("'" + string(rune(v)) + "'")
			return
		}
	}
	if v == 0 && s.depth > 0 {
		return
	}
	if signed {
		s.value(strconv.FormatInt(signExtend(v, n), 10))
	} else {
		s.value(strconv.FormatUint(v, 10))
	}
}

// begin opens an aggregate: indent, name, newline; depth+1.
func (s *btfShow) begin() {
	s.indent()
	s.name()
	s.out = append(s.out, '\n')
	s.depth++
}

// end closes an aggregate with suffix.
func (s *btfShow) end(suffix string) {
	s.depth--
	s.indent()
	s.out = append(s.out, suffix...)
	s.delim()
	s.out = append(s.out, '\n')
}

func (s *btfShow) showComposite(declared btf.Type, members []btf.Member, data []byte, suffix string) {
	if s.depth > 0 && !s.nonZero(declared, data, 0) {
		return
	}
	saveMember, saveHas, saveType, saveArr := s.member, s.hasMember, s.memberType, s.arrayMember
	s.begin()
	s.arrayMember = false
	saveChar, saveTerm := s.charArray, s.terminated
	s.charArray = false
	for _, m := range members {
		off := uint32(m.Offset)
		byteOff := int(off / 8)
		if byteOff > len(data) {
			break
		}
		s.member, s.hasMember, s.memberType = m.Name, true, m.Type
		if m.BitfieldSize > 0 {
			v, ok := s.bits(data[byteOff:], off%8, uint32(m.BitfieldSize))
			if ok && v != 0 {
				s.value("0x" + strconv.FormatUint(v, 16))
			}
			continue
		}
		s.show(m.Type, data[byteOff:], off%8)
	}
	s.member, s.hasMember, s.memberType, s.arrayMember = saveMember, saveHas, saveType, saveArr
	s.charArray, s.terminated = saveChar, saveTerm
	s.end(suffix)
}

func (s *btfShow) showArray(declared btf.Type, a *btf.Array, data []byte) {
	if s.depth > 0 && !s.nonZero(declared, data, 0) {
		return
	}
	elemSize, err := btf.Sizeof(a.Type)
	if err != nil || elemSize <= 0 {
		return
	}
	saveMember, saveHas, saveType, saveArr := s.member, s.hasMember, s.memberType, s.arrayMember
	saveChar, saveTerm := s.charArray, s.terminated
	s.begin()
	_, isInt := btf.UnderlyingType(a.Type).(*btf.Int)
	s.charArray = isInt && elemSize == 1
	s.terminated = false
	s.arrayMember = true
	s.hasMember = false
	s.memberType = a.Type
	for i := 0; i < int(a.Nelems); i++ {
		off := i * elemSize
		if off+elemSize > len(data) {
			break
		}
		s.show(a.Type, data[off:off+elemSize], 0)
	}
	s.member, s.hasMember, s.memberType, s.arrayMember = saveMember, saveHas, saveType, saveArr
	s.charArray, s.terminated = saveChar, saveTerm
	s.end("]")
}

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
