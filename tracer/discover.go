package tracer

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// maxSKBArg is the last argument position probed for a struct sk_buff *.
const maxSKBArg = 5

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

// skbArgPos returns the 1-based position of the first parameter of proto
// that is a struct sk_buff * among the first [maxSKBArg], or 0.
func skbArgPos(proto *btf.FuncProto) int {
	for i, p := range proto.Params {
		if i >= maxSKBArg {
			break
		}
		if isSKBPointer(p.Type) {
			return i + 1
		}
	}
	return 0
}

func isSKBPointer(t btf.Type) bool {
	ptr, ok := btf.UnderlyingType(t).(*btf.Pointer)
	if !ok {
		return false
	}
	s, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct)
	return ok && s.Name == "sk_buff"
}

// funcsFromBTF lists the functions of spec: with skb true those with a
// struct sk_buff * in argument 1..maxSKBArg, with skb false those without
// one. module names the spec's module ("" = vmlinux); for a module's split
// spec only the functions the module itself defines are listed (the base
// vmlinux types are skipped). Each name appears once; the result is
// sorted by name.
func funcsFromBTF(spec *btf.Spec, module string, base *btf.Spec, skb bool) []Func {
	seen := make(map[string]bool)
	var out []Func
	for typ := range spec.All() {
		fn, ok := typ.(*btf.Func)
		if !ok || seen[fn.Name] {
			continue
		}
		if base != nil {
			if _, err := base.TypeID(fn); err == nil {
				continue
			}
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok {
			continue
		}
		pos := skbArgPos(proto)
		if (pos != 0) != skb {
			continue
		}
		seen[fn.Name] = true
		out = append(out, Func{Name: fn.Name, Module: module, SKBArg: pos})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// traceSet is the set of functions ftrace can attach to, from
// available_filter_functions: name -> modules it appears in ("" =
// vmlinux).
type traceSet map[string][]string

// parseAvailableFilterFunctions reads the text of
// /sys/kernel/tracing/available_filter_functions ("name" or
// "name [module]" per line; newer kernels may prefix an address).
func parseAvailableFilterFunctions(r io.Reader) (traceSet, error) {
	text, err := readLineText(r, textChunkSize)
	if err != nil {
		return nil, fmt.Errorf("read available_filter_functions: %w", err)
	}
	t := make(traceSet)
	scanAvailableFilterFunctions(text, func(name, mod []byte) {
		ms := t[string(name)]
		if !contains(ms, string(mod)) {
			t[string(name)] = append(ms, string(mod))
		}
	})
	return t, nil
}

// traceableAmong is [parseAvailableFilterFunctions] restricted to the
// functions called names, on text already read: only their entries are
// built, so the cost is one map lookup per line and nothing allocated but
// for the names found. Module names are interned.
func traceableAmong(text *lineText, names []string) traceSet {
	t := make(traceSet, len(names))
	for _, n := range names {
		t[n] = nil
	}
	mods := map[string]string{"": ""}
	scanAvailableFilterFunctions(text, func(name, mod []byte) {
		ms, ok := t[string(name)]
		if !ok {
			return
		}
		m, ok := mods[string(mod)]
		if !ok {
			m = string(mod)
			mods[m] = m
		}
		if !contains(ms, m) {
			t[string(name)] = append(ms, m)
		}
	})
	for n, ms := range t {
		if len(ms) == 0 {
			delete(t, n)
		}
	}
	return t
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// selectFuncs keeps the functions that ftrace can attach to (t nil = all) and
// whose name matches re (nil = all).
func selectFuncs(funcs []Func, t traceSet, re *regexp.Regexp) []Func {
	var out []Func
	for _, f := range funcs {
		if t != nil && !contains(t[f.Name], f.Module) {
			continue
		}
		if re != nil && !re.MatchString(f.Name) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// bpfHelpers lists the kernel functions implementing BPF helpers, from
// the enum bpf_func_id of spec (BPF_FUNC_foo is implemented by bpf_foo),
// that ftrace can attach to (t nil = all) and that are not already in
// skip. The result is sorted by name.
func bpfHelpers(spec *btf.Spec, t traceSet, skip []Func) []Func {
	have := make(map[string]bool, len(skip))
	for _, f := range skip {
		have[f.Name] = true
	}
	var out []Func
	for _, name := range bpfHelperNames(spec) {
		if have[name] || (t != nil && !contains(t[name], "")) {
			continue
		}
		have[name] = true
		out = append(out, Func{Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// bpfHelperNames lists bpf_foo for each BPF_FUNC_foo of the enum
// bpf_func_id of spec (nil if spec has no such enum).
func bpfHelperNames(spec *btf.Spec) []string {
	var ids *btf.Enum
	if err := spec.TypeByName("bpf_func_id", &ids); err != nil {
		return nil
	}
	var out []string
	for _, v := range ids.Values {
		name, ok := strings.CutPrefix(v.Name, "BPF_FUNC_")
		if !ok || name == "unspec" {
			continue
		}
		out = append(out, "bpf_"+name)
	}
	return out
}
