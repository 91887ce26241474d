package tracer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// MapFunc is a kernel function implementing a map operation for some map
// types (htab_map_update_elem, array_map_update_elem, ...).
type MapFunc struct {
	Name string
	Op   format.BPFMapOp
	// HtabElem: the function returns a struct htab_elem *, not the value
	// (__htab_map_lookup_elem, which hash map lookups are inlined into).
	HtabElem bool
}

// Bits of a map probe's attach cookie above the probe id (bpf/pwru.c).
const (
	mapCookieOpShift  = 32
	mapCookieHtabElem = 1 << 40
)

// cookie is the attach cookie of f's probe with the given probe id.
func (f MapFunc) cookie(probeID uint32) uint64 {
	c := uint64(probeID) | uint64(f.Op)<<mapCookieOpShift
	if f.HtabElem {
		c |= mapCookieHtabElem
	}
	return c
}

// mapOpArgs is the parameter count of each operation's implementations:
// lookup(map, key), update(map, key, value, flags), delete(map, key).
var mapOpArgs = map[format.BPFMapOp]int{format.BPFMapLookup: 2, format.BPFMapUpdate: 4, format.BPFMapDelete: 2}

// MapFuncs lists the vmlinux functions --output-bpfmap attaches to: those
// named *_lookup_elem, *_update_elem or *_delete_elem whose first
// parameter is a struct bpf_map * and whose parameters are those of the
// operation (so bpf_fd_* and *_lookup_and_delete_elem variants, whose
// arguments mean other things, are left out), and that t says are
// traceable (nil t: all). The result is sorted by name.
func MapFuncs(spec *btf.Spec, t Traceable) []MapFunc {
	seen := make(map[string]bool)
	var out []MapFunc
	for typ := range spec.All() {
		fn, ok := typ.(*btf.Func)
		if !ok || seen[fn.Name] {
			continue
		}
		var op format.BPFMapOp
		switch {
		case strings.HasSuffix(fn.Name, "_lookup_and_delete_elem"):
			continue
		case strings.HasSuffix(fn.Name, "_lookup_elem"):
			op = format.BPFMapLookup
		case strings.HasSuffix(fn.Name, "_update_elem"):
			op = format.BPFMapUpdate
		case strings.HasSuffix(fn.Name, "_delete_elem"):
			op = format.BPFMapDelete
		default:
			continue
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok || len(proto.Params) != mapOpArgs[op] || !isPointerTo(proto.Params[0].Type, "bpf_map") {
			continue
		}
		if t != nil && !contains(t[fn.Name], "") {
			continue
		}
		seen[fn.Name] = true
		out = append(out, MapFunc{Name: fn.Name, Op: op, HtabElem: fn.Name == "__htab_map_lookup_elem"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func isPointerTo(t btf.Type, name string) bool {
	ptr, ok := btf.UnderlyingType(t).(*btf.Pointer)
	if !ok {
		return false
	}
	s, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct)
	return ok && s.Name == name
}

// mapFuncsFor returns the map functions a recording with cfg attaches to
// (none without --output-bpfmap); finding none is a configuration error.
func mapFuncsFor(cfg *Config, spec *btf.Spec, t Traceable) ([]MapFunc, error) {
	if !cfg.OutputBPFMap {
		return nil, nil
	}
	fs := MapFuncs(spec, t)
	if len(fs) == 0 {
		return nil, fmt.Errorf("%w: --output-bpfmap: the kernel has no traceable BPF map functions (*_lookup_elem, *_update_elem, *_delete_elem of a struct bpf_map *)", ErrConfig)
	}
	return fs, nil
}
