package tracer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// mapFunc is a kernel function implementing a map operation for some map
// types (htab_map_update_elem, array_map_update_elem, ...).
type mapFunc struct {
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
func (f mapFunc) cookie(probeID uint32) uint64 {
	c := uint64(probeID) | uint64(f.Op)<<mapCookieOpShift
	if f.HtabElem {
		c |= mapCookieHtabElem
	}
	return c
}

// mapOpArgs is the parameter count of each operation's implementations:
// lookup(map, key), update(map, key, value, flags), delete(map, key).
var mapOpArgs = map[format.BPFMapOp]int{format.BPFMapLookup: 2, format.BPFMapUpdate: 4, format.BPFMapDelete: 2}

// mapFuncsFromRawBTF lists the functions of a raw vmlinux BTF blob that
// --output-bpfmap attaches to: those named *_lookup_elem, *_update_elem or
// *_delete_elem whose first parameter is a struct bpf_map * and whose
// parameter count is the operation's (so bpf_fd_* and
// *_lookup_and_delete_elem variants, whose arguments mean other things,
// are left out), and that t says are traceable (nil t: all). The result
// is sorted by name. Like [procfs.BTF.Funcs] it reads the blob in one pass.
func mapFuncsFromRawBTF(raw []byte, t traceSet) ([]mapFunc, error) {
	r, err := procfs.ParseBTF(raw, nil)
	if err != nil {
		return nil, err
	}
	return selectMapFuncs(mapFuncsOf(r), t), nil
}

// mapFuncsOf lists r's BPF map functions (see [mapFuncsFromRawBTF]),
// sorted by name, whether ftrace can attach to them or not.
func mapFuncsOf(r *procfs.BTF) []mapFunc {
	seen := make(map[string]bool)
	var out []mapFunc
	r.EachFunc(func(nb []byte, params []uint32) {
		name := string(nb)
		var op format.BPFMapOp
		switch {
		case seen[name], strings.HasSuffix(name, "_lookup_and_delete_elem"):
			return
		case strings.HasSuffix(name, "_lookup_elem"):
			op = format.BPFMapLookup
		case strings.HasSuffix(name, "_update_elem"):
			op = format.BPFMapUpdate
		case strings.HasSuffix(name, "_delete_elem"):
			op = format.BPFMapDelete
		default:
			return
		}
		if len(params) != mapOpArgs[op] || !r.IsPointerTo(params[0], "bpf_map") {
			return
		}
		seen[name] = true
		out = append(out, mapFunc{Name: name, Op: op, HtabElem: name == "__htab_map_lookup_elem"})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// selectMapFuncs keeps the functions of fs that t says are traceable in
// vmlinux (nil t: all).
func selectMapFuncs(fs []mapFunc, t traceSet) []mapFunc {
	if t == nil {
		return fs
	}
	var out []mapFunc
	for _, f := range fs {
		if slices.Contains(t[f.Name], "") {
			out = append(out, f)
		}
	}
	return out
}

// mapFuncsFor returns the map functions among cands (vmlinux's, see
// [mapFuncsOf]) a recording with cfg attaches to: none without
// --output-bpfmap; finding none traceable is a configuration error.
func mapFuncsFor(cfg *Config, cands []mapFunc, t traceSet) ([]mapFunc, error) {
	if !cfg.OutputBPFMap {
		return nil, nil
	}
	fs := selectMapFuncs(cands, t)
	if len(fs) == 0 {
		return nil, fmt.Errorf("%w: --output-bpfmap: the kernel has no traceable BPF map functions (*_lookup_elem, *_update_elem, *_delete_elem of a struct bpf_map *)", ErrConfig)
	}
	return fs, nil
}
