package tracer

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

func mustTraceable(tb testing.TB, path string) traceSet {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	t, err := procfs.ParseAvailableFilterFunctions(f)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestSelect(t *testing.T) {
	raw, err := os.ReadFile("internal/procfs/testdata/funcs.btf")
	if err != nil {
		t.Fatal(err)
	}
	r, err := procfs.ParseBTF(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	avail := mustTraceable(t, "internal/procfs/testdata/available_filter_functions")
	funcs := r.Funcs("", true)
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
	if got := bpfHelpers(mustLoadBTF(t, "internal/procfs/testdata/funcs.btf"), nil, nil); got != nil {
		t.Errorf("spec without bpf_func_id: got %v, want nil", got)
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
