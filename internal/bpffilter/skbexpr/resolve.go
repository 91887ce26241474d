package skbexpr

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Roots lists the supported root structs and the identifier that names the
// root pointer in expressions.
var roots = map[string]string{
	"sk_buff":  "skb",
	"xdp_buff": "xdp",
}

// access is a resolved field path: a chain of pointer loads followed by a
// read of an integer-like value.
type access struct {
	// derefs are the byte offsets of the pointers read on the way, each
	// relative to the previous pointer (the first to the root).
	derefs []uint32
	// off is the byte offset of the final value from the last pointer.
	off uint32
	// size is the width of the final value in bytes (1, 2, 4 or 8); 0
	// means the value is the root pointer itself.
	size uint32
	// bitOff and bitSize describe a bitfield within the bytes at off
	// (little-endian bit numbering); bitSize 0 means not a bitfield.
	bitOff, bitSize uint32
	signed          bool
}

// resolve walks f through the BTF types starting at a pointer to root.
func resolve(f *fieldNode, root *btf.Struct, rootIdent string) (*access, error) {
	if f.root != rootIdent {
		return nil, fmt.Errorf("unknown identifier %q at column %d: expressions start with %s", f.root, f.pos+1, rootIdent)
	}
	a := &access{}
	// inMemory false: we hold a pointer value of type cur; true: the
	// value of type cur is at (last pointer + a.off + bit offset).
	var cur btf.Type = &btf.Pointer{Target: root}
	inMemory := false
	var bitOff, bitSize uint32
	path := rootIdent
	for i, name := range f.names {
		op := f.ops[i]
		ut := btf.UnderlyingType(cur)
		var container btf.Type
		switch op {
		case "->":
			ptr, ok := ut.(*btf.Pointer)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not a pointer: use \".\" instead of \"->\"", path, describe(cur))
			}
			if inMemory {
				a.derefs = append(a.derefs, a.off)
				a.off = 0
			}
			container = btf.UnderlyingType(ptr.Target)
		case ".":
			if _, isPtr := ut.(*btf.Pointer); !inMemory || isPtr {
				return nil, fmt.Errorf("%s is a pointer: use \"->\" instead of \".\"", path)
			}
			container = ut
		}
		m, off, ok, err := findMember(container, name)
		if err != nil {
			return nil, fmt.Errorf("%s%s%s: %w", path, op, name, err)
		}
		if !ok {
			return nil, fmt.Errorf("unknown field %q in %s", name, describe(container))
		}
		if off%8 != 0 && m.BitfieldSize == 0 {
			return nil, fmt.Errorf("%s%s%s is not byte aligned", path, op, name)
		}
		a.off += off / 8
		bitOff, bitSize = off%8, uint32(m.BitfieldSize)
		cur = m.Type
		inMemory = true
		path += op + name
	}
	if !inMemory {
		return a, nil // the root pointer itself
	}
	switch t := btf.UnderlyingType(cur).(type) {
	case *btf.Int:
		a.size, a.signed = t.Size, t.Encoding&btf.Signed != 0
	case *btf.Enum:
		a.size, a.signed = t.Size, t.Signed
	case *btf.Pointer:
		a.size = 8
	default:
		return nil, fmt.Errorf("%s is %s, not a number or pointer", path, describe(cur))
	}
	if a.size != 1 && a.size != 2 && a.size != 4 && a.size != 8 {
		return nil, fmt.Errorf("%s has unsupported size %d", path, a.size)
	}
	if bitSize != 0 {
		if bitOff+bitSize > 64 {
			return nil, fmt.Errorf("%s: bitfield spans more than 8 bytes", path)
		}
		a.bitOff, a.bitSize = bitOff, bitSize
		a.size = (bitOff + bitSize + 7) / 8 // bytes actually read
	}
	return a, nil
}

// findMember looks name up in a struct or union, descending into anonymous
// members as C does. off is in bits from the start of typ.
func findMember(typ btf.Type, name string) (btf.Member, uint32, bool, error) {
	var members []btf.Member
	switch t := typ.(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	default:
		return btf.Member{}, 0, false, fmt.Errorf("%s has no fields", describe(typ))
	}
	for _, m := range members {
		if m.Name == name {
			return m, uint32(m.Offset), true, nil
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		switch inner := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct, *btf.Union:
			if im, off, ok, err := findMember(inner, name); err == nil && ok {
				return im, uint32(m.Offset) + off, true, nil
			}
		}
	}
	return btf.Member{}, 0, false, nil
}

// describe names a type for error messages: "struct sk_buff", "unsigned
// int", "a pointer", "an array".
func describe(t btf.Type) string {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		if u.Name == "" {
			return "an anonymous struct"
		}
		return "struct " + u.Name
	case *btf.Union:
		if u.Name == "" {
			return "an anonymous union"
		}
		return "union " + u.Name
	case *btf.Pointer:
		return "a pointer"
	case *btf.Array:
		return "an array"
	case *btf.Int:
		return u.Name
	case *btf.Enum:
		return "enum " + u.Name
	}
	return fmt.Sprintf("%T", t)
}
