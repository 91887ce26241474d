package render

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

func (s *btfShow) show(typ btf.Type, data []byte, bitOff uint32) {
	switch t := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		s.showInt(t, data, bitOff)
	case *btf.Pointer:
		v, ok := s.readUint(data, 8)
		if !ok || (v == 0 && s.depth > 0) {
			return
		}
		s.value("0x" + Hex16(v))
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
