package tracer

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

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

func mustTraceable(tb testing.TB, path string) traceSet {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	t, err := parseAvailableFilterFunctions(f)
	if err != nil {
		tb.Fatal(err)
	}
	return t
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
	want := traceSet{
		"ip_rcv":       {""},
		"nf_hook_slow": {""},
		"third":        {""},
		"fifth":        {"dummy"},
		"no_skb":       {""},
		"double_ptr":   {""},
		"with_addr":    {""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseAvailableFilterFunctions (-want +got):\n%s", diff)
	}
	if _, err := parseAvailableFilterFunctions(strings.NewReader(strings.Repeat("x", 2<<20))); err == nil {
		t.Error("2 MiB line: want an error")
	}
}

func TestSelect(t *testing.T) {
	spec := mustLoadBTF(t, "testdata/funcs.btf")
	avail := mustTraceable(t, "testdata/available_filter_functions")
	funcs := funcsFromBTF(spec, "", nil, true)
	tests := []struct {
		name  string
		avail traceSet
		re    string
		want  []string
	}{
		{"all traceable", avail, "", []string{"ip_rcv", "nf_hook_slow", "third"}},
		{"no ftrace list", nil, "", []string{"fifth", "fourth", "ip_rcv", "nf_hook_slow", "third"}},
		{"regex", avail, "^ip_|^nf_", []string{"ip_rcv", "nf_hook_slow"}},
		{"nothing", avail, "^tcp_", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var re *regexp.Regexp
			if tt.re != "" {
				re = regexp.MustCompile(tt.re)
			}
			var got []string
			for _, f := range selectFuncs(funcs, tt.avail, re) {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selectFuncs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBPFHelpers(t *testing.T) {
	enum := &btf.Enum{Name: "bpf_func_id", Size: 4, Values: []btf.EnumValue{
		{Name: "BPF_FUNC_unspec", Value: 0},
		{Name: "BPF_FUNC_map_lookup_elem", Value: 1},
		{Name: "BPF_FUNC_skb_store_bytes", Value: 9},
		{Name: "BPF_FUNC_redirect", Value: 23},
		{Name: "__BPF_FUNC_MAX_ID", Value: 212},
	}}
	b, err := btf.NewBuilder([]btf.Type{enum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	avail := traceSet{"bpf_map_lookup_elem": {""}, "bpf_skb_store_bytes": {""}, "bpf_redirect": {"somemod"}}
	tests := []struct {
		name  string
		avail traceSet
		skip  []Func
		want  []string
	}{
		{"traceable only", avail, nil, []string{"bpf_map_lookup_elem", "bpf_skb_store_bytes"}},
		{"no ftrace list", nil, nil, []string{"bpf_map_lookup_elem", "bpf_redirect", "bpf_skb_store_bytes"}},
		{"already traced", avail, []Func{{Name: "bpf_skb_store_bytes", SKBArg: 1}}, []string{"bpf_map_lookup_elem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range bpfHelpers(spec, tt.avail, tt.skip) {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("bpfHelpers (-want +got):\n%s", diff)
			}
		})
	}
	if got := bpfHelpers(mustLoadBTF(t, "testdata/funcs.btf"), nil, nil); got != nil {
		t.Errorf("spec without bpf_func_id: got %v, want nil", got)
	}
}
