package tracer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/bpf"
)

// maxMetaDeref is the number of pointer hops one metadata path may take
// (MAX_META_DEREF in bpf/pwru.c).
const maxMetaDeref = 3

// metaField is a resolved --output-skb-metadata or --output-xdp-metadata
// path: starting at the sk_buff (xdp_buff), load a pointer at each of Derefs (each relative to the previous
// pointer), then read Size bytes at Off; for a bitfield shift right by
// BitShift and keep BitWidth bits.
type metaField struct {
	Path     string
	Derefs   []uint32
	Off      uint32
	Size     uint8
	BitShift uint8
	BitWidth uint8
}

// resolveMetadata resolves a path like "skb->hash", "skb->dev->ifindex"
// or "skb->sk->__sk_common.skc_family" against the struct sk_buff of spec.
func resolveMetadata(spec *btf.Spec, path string) (metaField, error) {
	return resolveMeta(spec, path, "skb->", "sk_buff")
}

// resolveXDPMetadata resolves a path rooted at the XDP program's context,
// like "xdp->rxq->queue_index", "xdp->rxq->dev->ifindex" or
// "xdp->data_end", against the struct xdp_buff of spec (pwru's
// --output-xdp-metadata).
func resolveXDPMetadata(spec *btf.Spec, path string) (metaField, error) {
	return resolveMeta(spec, path, "xdp->", "xdp_buff")
}

// resolveMeta resolves path, which starts with prefix, from struct root.
func resolveMeta(spec *btf.Spec, path, prefix, root string) (metaField, error) {
	mf := metaField{Path: path}
	fail := func(format string, args ...any) (metaField, error) {
		return metaField{}, fmt.Errorf("resolve metadata %q: "+format, append([]any{path}, args...)...)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(path), prefix)
	if !ok {
		return fail("must start with %s", prefix)
	}
	var base *btf.Struct
	if err := spec.TypeByName(root, &base); err != nil {
		return fail("find struct %s: %w", root, err)
	}
	var cur btf.Type = base
	var off uint32 // byte offset in the current pointee
	var bitOff uint32
	var m *btf.Member
	for rest != "" {
		name, sep := rest, ""
		if i := strings.IndexAny(rest, "-."); i >= 0 {
			name, rest = rest[:i], rest[i:]
			switch {
			case strings.HasPrefix(rest, "->"):
				sep, rest = "->", rest[2:]
			case strings.HasPrefix(rest, "."):
				sep, rest = ".", rest[1:]
			default:
				return fail("unexpected %q", rest)
			}
			if rest == "" {
				return fail("ends with %q", sep)
			}
		} else {
			rest = ""
		}
		comp := btf.UnderlyingType(cur)
		if _, ok := members(comp); !ok {
			return fail("%s: not a struct or union", name)
		}
		member, moff, err := findMember(comp, name)
		if err != nil {
			return fail("%w", err)
		}
		m = member
		bitOff = uint32(moff)
		off += bitOff / 8
		switch sep {
		case "->":
			ptr, ok := btf.UnderlyingType(member.Type).(*btf.Pointer)
			if !ok {
				return fail("%s is not a pointer", name)
			}
			if len(mf.Derefs) == maxMetaDeref {
				return fail("more than %d pointer hops", maxMetaDeref)
			}
			mf.Derefs = append(mf.Derefs, off)
			off = 0
			cur = ptr.Target
		case ".":
			cur = member.Type
		}
	}
	if m == nil {
		return fail("no field")
	}
	switch t := btf.UnderlyingType(m.Type).(type) {
	case *btf.Int, *btf.Enum, *btf.Pointer:
	default:
		return fail("%s is a %T, want an integer, enum or pointer", m.Name, t)
	}
	size, err := btf.Sizeof(m.Type)
	if err != nil {
		return fail("%w", err)
	}
	if size > 8 {
		return fail("%s is %d bytes, at most 8 are read", m.Name, size)
	}
	mf.Off = off
	mf.Size = uint8(size)
	if m.BitfieldSize > 0 {
		shift := bitOff % 8
		mf.BitShift = uint8(shift)
		mf.BitWidth = uint8(m.BitfieldSize)
		mf.Size = uint8((shift + uint32(m.BitfieldSize) + 7) / 8)
	}
	return mf, nil
}

// findMember looks name up in comp and its anonymous struct/union
// members, returning the member and its bit offset in comp.
func findMember(comp btf.Type, name string) (*btf.Member, btf.Bits, error) {
	ms, _ := members(comp)
	for i := range ms {
		m := &ms[i]
		if m.Name == name {
			return m, m.Offset, nil
		}
		if m.Name == "" {
			inner := btf.UnderlyingType(m.Type)
			if _, ok := members(inner); ok {
				if im, off, err := findMember(inner, name); err == nil {
					return im, m.Offset + off, nil
				}
			}
		}
	}
	return nil, 0, fmt.Errorf("no field %s in %s", name, comp.TypeName())
}

// members returns the members of a struct or union.
func members(t btf.Type) ([]btf.Member, bool) {
	switch c := t.(type) {
	case *btf.Struct:
		return c.Members, true
	case *btf.Union:
		return c.Members, true
	}
	return nil, false
}

// metaConfig stores resolved fields in the kernel program's configuration:
// the sk_buff fields in the first MaxMetadata entries of cfg.Meta, the
// xdp_buff fields in the next MaxMetadata.
func metaConfig(cfg *bpf.PwruConfig, skb, xdp []metaField) error {
	if len(skb) > MaxMetadata || len(xdp) > MaxMetadata || 2*MaxMetadata > len(cfg.Meta) {
		return errors.New("too many metadata fields")
	}
	put := func(slot int, f metaField) {
		m := &cfg.Meta[slot]
		copy(m.Off[:], f.Derefs)
		m.Off[len(f.Derefs)] = f.Off
		m.Nderef = uint8(len(f.Derefs))
		m.Size = f.Size
		m.BitShift = f.BitShift
		m.BitWidth = f.BitWidth
	}
	for i, f := range skb {
		put(i, f)
	}
	for i, f := range xdp {
		put(MaxMetadata+i, f)
	}
	cfg.MetaCount = uint8(len(skb))
	cfg.XdpMetaCount = uint8(len(xdp))
	return nil
}
