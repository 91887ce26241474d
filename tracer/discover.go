package tracer

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// maxSKBArg is the last argument position probed for a struct sk_buff *.
const maxSKBArg = procfs.MaxSKBArg

// Func is a kernel function the recorder can attach to.
type Func = procfs.Func

// traceSet is the set of functions ftrace can attach to, from
// available_filter_functions: name -> modules it appears in ("" =
// vmlinux).
type traceSet = procfs.TraceSet

// selectFuncs keeps the functions that ftrace can attach to (t nil = all) and
// whose name matches re (nil = all).
func selectFuncs(funcs []Func, t traceSet, re *regexp.Regexp) []Func {
	var out []Func
	for _, f := range funcs {
		if t != nil && !slices.Contains(t[f.Name], f.Module) {
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
		if have[name] || (t != nil && !slices.Contains(t[name], "")) {
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
