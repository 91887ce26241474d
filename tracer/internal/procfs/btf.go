package procfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// A raw BTF scan finds the functions with a struct sk_buff * argument in
// one pass over the type section, without decoding every type into Go
// values the way btf.Spec.All does. On a kernel's 5 MB of BTF that is the
// difference between milliseconds and seconds (tens of seconds under
// emulation), and it keeps the decoded kernel types out of the heap.

// BTF kinds used by the scan (include/uapi/linux/btf.h).
const (
	btfKindInt       = 1
	btfKindPtr       = 2
	btfKindArray     = 3
	btfKindStruct    = 4
	btfKindUnion     = 5
	btfKindEnum      = 6
	btfKindFwd       = 7
	btfKindTypedef   = 8
	btfKindVolatile  = 9
	btfKindConst     = 10
	btfKindRestrict  = 11
	btfKindFunc      = 12
	btfKindFuncProto = 13
	btfKindVar       = 14
	btfKindDatasec   = 15
	btfKindFloat     = 16
	btfKindDeclTag   = 17
	btfKindTypeTag   = 18
	btfKindEnum64    = 19
)

const btfMagic = 0xeB9F

// ErrBadBTF is wrapped by errors about BTF blobs the scan cannot read.
var ErrBadBTF = errors.New("malformed BTF")

// MaxSKBArg is the last argument position probed for a struct sk_buff *.
const MaxSKBArg = 5

// Func is a kernel function the recorder can attach to.
type Func struct {
	Name   string
	Module string // "" = vmlinux
	SKBArg int    // 1-based position of the struct sk_buff * argument; 0 = none
}

// String returns "name" or "name [module]".
func (f Func) String() string {
	if f.Module == "" {
		return f.Name
	}
	return f.Name + " [" + f.Module + "]"
}

// BTF is the little of a BTF blob the function scan needs. It is
// immutable once parsed.
type BTF struct {
	base    *BTF
	firstID uint32 // ID of types[0]
	types   []rawType
	params  []uint32 // parameter type IDs of all FUNC_PROTOs, see rawType.params
	strs    []byte
	strBase uint32 // string offsets below this are the base's
}

type rawType struct {
	kind    uint8
	nameOff uint32
	ref     uint32 // size_or_type
	params  uint32 // FUNC_PROTO: index into BTF.params
	vlen    uint16
}

// ParseBTF reads a BTF blob (the contents of /sys/kernel/btf/vmlinux or
// of a module's file there); base is the vmlinux BTF for a module's
// split BTF, nil otherwise.
func ParseBTF(b []byte, base *BTF) (*BTF, error) {
	bad := func(format string, args ...any) (*BTF, error) {
		return nil, fmt.Errorf("parse BTF: "+format+": %w", append(args, ErrBadBTF)...)
	}
	if len(b) < 24 {
		return bad("%d bytes, header needs 24", len(b))
	}
	le := binary.LittleEndian
	if le.Uint16(b) != btfMagic {
		return bad("bad magic %#x (only little-endian BTF is read)", le.Uint16(b))
	}
	hdrLen := uint64(le.Uint32(b[4:]))
	typeOff, typeLen := uint64(le.Uint32(b[8:])), uint64(le.Uint32(b[12:]))
	strOff, strLen := uint64(le.Uint32(b[16:])), uint64(le.Uint32(b[20:]))
	if hdrLen < 24 || hdrLen+typeOff+typeLen > uint64(len(b)) || hdrLen+strOff+strLen > uint64(len(b)) {
		return bad("sections beyond the %d-byte blob", len(b))
	}
	r := &BTF{base: base, firstID: 1, strs: b[hdrLen+strOff : hdrLen+strOff+strLen]}
	if base != nil {
		r.firstID = base.firstID + uint32(len(base.types))
		r.strBase = base.strBase + uint32(len(base.strs))
	}
	types := b[hdrLen+typeOff : hdrLen+typeOff+typeLen]
	// Two passes: count, then fill slices of the exact size (a kernel
	// has over 100k types; growing by appending would copy them over and
	// over).
	nTypes, nParams, err := r.walk(types, nil)
	if err != nil {
		return nil, err
	}
	r.types = make([]rawType, 0, nTypes)
	r.params = make([]uint32, 0, nParams)
	if _, _, err := r.walk(types, func(rt rawType, params []byte) {
		if rt.kind == btfKindFuncProto {
			rt.params = uint32(len(r.params))
			for i := range int(rt.vlen) {
				r.params = append(r.params, binary.LittleEndian.Uint32(params[8*i+4:]))
			}
		}
		r.types = append(r.types, rt)
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// walk checks the type section t and counts its types and FUNC_PROTO
// parameters, calling fn (if not nil) with each type and its trailing
// data.
func (r *BTF) walk(t []byte, fn func(rt rawType, extra []byte)) (types, params int, err error) {
	le := binary.LittleEndian
	for len(t) > 0 {
		id := r.firstID + uint32(types)
		if len(t) < 12 {
			return 0, 0, fmt.Errorf("parse BTF: type %d truncated: %w", id, ErrBadBTF)
		}
		info := le.Uint32(t[4:])
		rt := rawType{
			kind:    uint8(info >> 24 & 0x1f),
			nameOff: le.Uint32(t),
			ref:     le.Uint32(t[8:]),
			vlen:    uint16(info),
		}
		t = t[12:]
		var extra int
		vlen := int(rt.vlen)
		switch rt.kind {
		case btfKindPtr, btfKindFwd, btfKindTypedef, btfKindVolatile, btfKindConst,
			btfKindRestrict, btfKindFunc, btfKindFloat, btfKindTypeTag:
		case btfKindInt, btfKindVar, btfKindDeclTag:
			extra = 4
		case btfKindArray:
			extra = 12
		case btfKindStruct, btfKindUnion, btfKindDatasec, btfKindEnum64:
			extra = 12 * vlen
		case btfKindEnum:
			extra = 8 * vlen
		case btfKindFuncProto:
			extra = 8 * vlen
			params += vlen
		default:
			return 0, 0, fmt.Errorf("parse BTF: type %d has unknown kind %d: %w", id, rt.kind, ErrBadBTF)
		}
		if len(t) < extra {
			return 0, 0, fmt.Errorf("parse BTF: type %d truncated: %w", id, ErrBadBTF)
		}
		if fn != nil {
			fn(rt, t[:extra])
		}
		t = t[extra:]
		types++
	}
	return types, params, nil
}

// typ returns the type with id, looking into the base for low IDs.
func (r *BTF) typ(id uint32) (*rawType, *BTF, bool) {
	for b := r; b != nil; b = b.base {
		if id >= b.firstID {
			i := id - b.firstID
			if uint64(i) >= uint64(len(b.types)) {
				return nil, nil, false
			}
			return &b.types[i], b, true
		}
	}
	return nil, nil, false
}

// nameBytes returns the string at off, a sub-slice of the string
// section (nil if off is out of range).
func (r *BTF) nameBytes(off uint32) []byte {
	for b := r; b != nil; b = b.base {
		if off >= b.strBase {
			o := off - b.strBase
			if uint64(o) >= uint64(len(b.strs)) {
				return nil
			}
			s := b.strs[o:]
			if i := bytes.IndexByte(s, 0); i >= 0 {
				return s[:i]
			}
			return s
		}
	}
	return nil
}

// skipMods follows typedefs and qualifiers.
func (r *BTF) skipMods(id uint32) (*rawType, bool) {
	for range 32 {
		t, _, ok := r.typ(id)
		if !ok {
			return nil, false
		}
		switch t.kind {
		case btfKindTypedef, btfKindVolatile, btfKindConst, btfKindRestrict, btfKindTypeTag:
			id = t.ref
		default:
			return t, true
		}
	}
	return nil, false
}

func (r *BTF) isSKBPointer(id uint32) bool {
	p, ok := r.skipMods(id)
	if !ok || p.kind != btfKindPtr {
		return false
	}
	s, ok := r.skipMods(p.ref)
	return ok && s.kind == btfKindStruct && string(r.nameBytes(s.nameOff)) == "sk_buff"
}

// Funcs lists the functions r itself defines (not its base's): with skb
// true those with a struct sk_buff * in argument 1..MaxSKBArg, otherwise
// those without. Sorted by name, each name once.
func (r *BTF) Funcs(module string, skb bool) []Func {
	seen := make(map[string]bool)
	var out []Func
	for i := range r.types {
		t := &r.types[i]
		if t.kind != btfKindFunc {
			continue
		}
		proto, _, ok := r.typ(t.ref)
		if !ok || proto.kind != btfKindFuncProto {
			continue
		}
		pos := 0
		_, owner, _ := r.typ(t.ref)
		for k := 0; k < int(proto.vlen) && k < MaxSKBArg; k++ {
			if r.isSKBPointer(owner.params[int(proto.params)+k]) {
				pos = k + 1
				break
			}
		}
		if (pos != 0) != skb {
			continue
		}
		nb := r.nameBytes(t.nameOff)
		if len(nb) == 0 || seen[string(nb)] {
			continue
		}
		name := string(nb)
		seen[name] = true
		out = append(out, Func{Name: name, Module: module, SKBArg: pos})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TracepointArgs returns the number of arguments the raw tracepoint tp
// passes (its BTF prototype btf_trace_<tp> is a pointer to a function of
// void *ctx and them), false when r has no such prototype.
func (r *BTF) TracepointArgs(tp string) (int, bool) {
	want := "btf_trace_" + tp
	for i := range r.types {
		t := &r.types[i]
		if t.kind != btfKindTypedef || string(r.nameBytes(t.nameOff)) != want {
			continue
		}
		p, ok := r.skipMods(t.ref)
		if !ok || p.kind != btfKindPtr {
			return 0, false
		}
		fp, ok := r.skipMods(p.ref)
		if !ok || fp.kind != btfKindFuncProto || fp.vlen == 0 {
			return 0, false
		}
		return int(fp.vlen) - 1, true
	}
	return 0, false
}

// EachFunc calls fn for every function r itself defines (not its
// base's) whose type is a function prototype, with its name (valid during
// the call only) and the type IDs of its parameters.
func (r *BTF) EachFunc(fn func(name []byte, params []uint32)) {
	for i := range r.types {
		t := &r.types[i]
		if t.kind != btfKindFunc {
			continue
		}
		proto, owner, ok := r.typ(t.ref)
		if !ok || proto.kind != btfKindFuncProto {
			continue
		}
		p := int(proto.params)
		fn(r.nameBytes(t.nameOff), owner.params[p:p+int(proto.vlen)])
	}
}

// IsPointerTo says whether type id is a pointer to the struct name.
func (r *BTF) IsPointerTo(id uint32, name string) bool {
	p, ok := r.skipMods(id)
	if !ok || p.kind != btfKindPtr {
		return false
	}
	s, ok := r.skipMods(p.ref)
	return ok && s.kind == btfKindStruct && string(r.nameBytes(s.nameOff)) == name
}
