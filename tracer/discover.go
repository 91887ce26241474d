package tracer

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"
)

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

// SKBArgPos returns the 1-based position of the first parameter of proto
// that is a struct sk_buff * among the first [MaxSKBArg], or 0.
func SKBArgPos(proto *btf.FuncProto) int {
	for i, p := range proto.Params {
		if i >= MaxSKBArg {
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

// FuncsFromBTF lists the functions of spec: with skb true those with a
// struct sk_buff * in argument 1..MaxSKBArg, with skb false those without
// one. module names the spec's module ("" = vmlinux); for a module's split
// spec only the functions the module itself defines are listed (the base
// vmlinux types are skipped). Each name appears once; the result is
// sorted by name.
func FuncsFromBTF(spec *btf.Spec, module string, base *btf.Spec, skb bool) []Func {
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
		pos := SKBArgPos(proto)
		if (pos != 0) != skb {
			continue
		}
		seen[fn.Name] = true
		out = append(out, Func{Name: fn.Name, Module: module, SKBArg: pos})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Traceable is the set of functions ftrace can attach to, from
// available_filter_functions: name -> modules it appears in ("" =
// vmlinux).
type Traceable map[string][]string

// ParseAvailableFilterFunctions reads the text of
// /sys/kernel/tracing/available_filter_functions ("name" or
// "name [module]" per line; newer kernels may prefix an address).
func ParseAvailableFilterFunctions(r io.Reader) (Traceable, error) {
	t := make(Traceable)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields[0]) == 16 && isHex(fields[0]) && len(fields) > 1 {
			fields = fields[1:]
		}
		name, mod := fields[0], ""
		if len(fields) > 1 && strings.HasPrefix(fields[1], "[") && strings.HasSuffix(fields[1], "]") {
			mod = fields[1][1 : len(fields[1])-1]
		}
		if strings.HasPrefix(name, "__ftrace_invalid_address__") {
			continue
		}
		if !contains(t[name], mod) {
			t[name] = append(t[name], mod)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read available_filter_functions: %w", err)
	}
	return t, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Select keeps the functions that ftrace can attach to (t nil = all) and
// whose name matches re (nil = all).
func Select(funcs []Func, t Traceable, re *regexp.Regexp) []Func {
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

// BPFHelpers lists the kernel functions implementing BPF helpers, from
// the enum bpf_func_id of spec (BPF_FUNC_foo is implemented by bpf_foo),
// that ftrace can attach to (t nil = all) and that are not already in
// skip. The result is sorted by name.
func BPFHelpers(spec *btf.Spec, t Traceable, skip []Func) []Func {
	var ids *btf.Enum
	if err := spec.TypeByName("bpf_func_id", &ids); err != nil {
		return nil
	}
	have := make(map[string]bool, len(skip))
	for _, f := range skip {
		have[f.Name] = true
	}
	var out []Func
	for _, v := range ids.Values {
		name, ok := strings.CutPrefix(v.Name, "BPF_FUNC_")
		if !ok || name == "unspec" {
			continue
		}
		name = "bpf_" + name
		if have[name] || (t != nil && !contains(t[name], "")) {
			continue
		}
		have[name] = true
		out = append(out, Func{Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
