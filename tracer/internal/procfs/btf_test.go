package procfs

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFuncsFromRawBTF checks the one-pass scan against the decoded spec.
func TestFuncsFromRawBTF(t *testing.T) {
	raw := mustRead(t, "testdata/funcs.btf")
	spec := mustLoadBTF(t, "testdata/funcs.btf")
	for _, skb := range []bool{true, false} {
		got, err := funcsFromRawBTF(raw, nil, "", skb)
		if err != nil {
			t.Fatal(err)
		}
		want := funcsFromBTF(spec, "", nil, skb)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("skb=%v (-spec +raw):\n%s", skb, diff)
		}
	}
}

// TestFuncsFromRawBTFKernel does the same on the running kernel's BTF,
// vmlinux and modules, when the host has it.
func TestFuncsFromRawBTFKernel(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skipf("no kernel BTF on this host: %v", err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	got, err := funcsFromRawBTF(raw, nil, "", true)
	if err != nil {
		t.Fatal(err)
	}
	want := funcsFromBTF(spec, "", nil, true)
	if len(want) < 100 {
		t.Fatalf("only %d sk_buff functions in the kernel's BTF", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vmlinux (-spec +raw):\n%s", diff)
	}
	ents, _ := os.ReadDir("/sys/kernel/btf")
	for _, e := range ents {
		if e.Name() == "vmlinux" {
			continue
		}
		modRaw := mustRead(t, "/sys/kernel/btf/"+e.Name())
		got, err := funcsFromRawBTF(modRaw, raw, e.Name(), true)
		if err != nil {
			t.Fatalf("module %s: %v", e.Name(), err)
		}
		mod, err := btf.LoadKernelModuleSpec(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(funcsFromBTF(mod, e.Name(), spec, true), got); diff != "" {
			t.Errorf("module %s (-spec +raw):\n%s", e.Name(), diff)
		}
	}
}

func TestFuncsFromRawBTFMalformed(t *testing.T) {
	raw := mustRead(t, "testdata/funcs.btf")
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", raw[:20]},
		{"bad magic", append([]byte{0xeb, 0x9f}, raw[2:]...)},
		{"truncated", raw[:len(raw)/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := funcsFromRawBTF(tt.b, nil, "", true); !errors.Is(err, ErrBadBTF) {
				t.Errorf("err = %v, want ErrBadBTF", err)
			}
		})
	}
}

func FuzzFuncsFromRawBTF(f *testing.F) {
	f.Add(mustRead(f, "testdata/funcs.btf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		funcs, err := funcsFromRawBTF(b, nil, "", true)
		if err != nil && funcs != nil {
			t.Fatal("error and result")
		}
	})
}

// BenchmarkFuncsFromRawBTF scans the host kernel's BTF (the fixture when
// the host has none) for sk_buff functions.
func BenchmarkFuncsFromRawBTF(b *testing.B) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		raw = mustRead(b, "testdata/funcs.btf")
	}
	r, err := ParseBTF(raw, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := funcsFromRawBTF(raw, nil, "", true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.types)), "ns/type")
}

// TestTracepointArgs reads raw tracepoint prototypes.
func TestTracepointArgs(t *testing.T) {
	r, err := ParseBTF(mustRead(t, "testdata/funcs.btf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tp   string
		n    int
		have bool
	}{
		{"kfree_skb", 3, true},
		{"consume_skb", 1, true},
		{"no_such_tracepoint", 0, false},
		{"ip_rcv", 0, false}, // a function, not a tracepoint prototype
	}
	for _, tt := range tests {
		n, ok := r.TracepointArgs(tt.tp)
		if n != tt.n || ok != tt.have {
			t.Errorf("tracepointArgs(%q) = %d, %v; want %d, %v", tt.tp, n, ok, tt.n, tt.have)
		}
	}
}

func mustLoadBTF(tb testing.TB, path string) *btf.Spec {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	return spec
}

// skbArgPos returns the 1-based position of the first parameter of proto
// that is a struct sk_buff * among the first [MaxSKBArg], or 0.
func skbArgPos(proto *btf.FuncProto) int {
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

// funcsFromBTF is the reference the raw scan is checked against: it
// lists the functions of spec decoded by cilium/ebpf: with skb true those with a
// struct sk_buff * in argument 1..MaxSKBArg, with skb false those without
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

// funcsFromRawBTF is [BTF.Funcs] on a raw BTF blob, split BTF on top of
// baseRaw when that is not nil.
func funcsFromRawBTF(raw, baseRaw []byte, module string, skb bool) ([]Func, error) {
	var base *BTF
	if baseRaw != nil {
		var err error
		if base, err = ParseBTF(baseRaw, nil); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
	}
	r, err := ParseBTF(raw, base)
	if err != nil {
		return nil, err
	}
	return r.Funcs(module, skb), nil
}

func TestFuncsFromBTF(t *testing.T) {
	spec := mustLoadBTF(t, "testdata/funcs.btf")
	tests := []struct {
		name string
		skb  bool
		want []Func
	}{
		{"skb", true, []Func{
			{Name: "fifth", SKBArg: 5},
			{Name: "fourth", SKBArg: 4},
			{Name: "ip_rcv", SKBArg: 1},
			{Name: "nf_hook_slow", SKBArg: 2},
			{Name: "third", SKBArg: 3},
		}},
		{"non-skb", false, []Func{
			{Name: "double_ptr"},
			{Name: "no_skb"},
			{Name: "skb_by_value"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := funcsFromBTF(spec, "", nil, tt.skb)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("funcsFromBTF (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSKBArgPosSixth(t *testing.T) {
	skb := &btf.Pointer{Target: &btf.Struct{Name: "sk_buff"}}
	i := &btf.Int{Name: "int", Size: 4}
	params := func(n, at int) []btf.FuncParam {
		var ps []btf.FuncParam
		for k := 1; k <= n; k++ {
			var typ btf.Type = i
			if k == at {
				typ = skb
			}
			ps = append(ps, btf.FuncParam{Type: typ})
		}
		return ps
	}
	tests := []struct {
		name    string
		n, at   int
		wantPos int
	}{
		{"first", 1, 1, 1},
		{"fifth", 6, 5, 5},
		{"sixth is beyond reach", 6, 6, 0},
		{"none", 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := skbArgPos(&btf.FuncProto{Return: i, Params: params(tt.n, tt.at)})
			if got != tt.wantPos {
				t.Errorf("skbArgPos = %d, want %d", got, tt.wantPos)
			}
		})
	}
}

func TestParseAvailableFilterFunctions(t *testing.T) {
	got := mustTraceable(t, "testdata/available_filter_functions")
	want := TraceSet{
		"ip_rcv":       {""},
		"nf_hook_slow": {""},
		"third":        {""},
		"fifth":        {"dummy"},
		"no_skb":       {""},
		"double_ptr":   {""},
		"with_addr":    {""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseAvailableFilterFunctions (-want +got):\n%s", diff)
	}
	if _, err := ParseAvailableFilterFunctions(strings.NewReader(strings.Repeat("x", 2<<20))); err == nil {
		t.Error("2 MiB line: want an error")
	}
}

func mustTraceable(tb testing.TB, path string) TraceSet {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	t, err := ParseAvailableFilterFunctions(f)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}
