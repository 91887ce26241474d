package tracer

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// mapFuncsBTF builds a raw BTF blob with functions of the given parameter
// lists; "map" is a struct bpf_map *, "void" a void *, "file" a struct
// file *, "u64" an integer.
func mapFuncsBTF(tb testing.TB, funcs map[string][]string) []byte {
	tb.Helper()
	u64 := &btf.Int{Name: "u64", Size: 8}
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	params := map[string]btf.Type{
		"map":  &btf.Pointer{Target: &btf.Typedef{Name: "bpf_map_t", Type: &btf.Struct{Name: "bpf_map"}}},
		"void": &btf.Pointer{Target: &btf.Void{}},
		"file": &btf.Pointer{Target: &btf.Struct{Name: "file"}},
		"u64":  u64,
	}
	var types []btf.Type
	for name, ps := range funcs {
		proto := &btf.FuncProto{Return: i32}
		for _, p := range ps {
			proto.Params = append(proto.Params, btf.FuncParam{Name: p, Type: params[p]})
		}
		types = append(types, &btf.Func{Name: name, Type: proto, Linkage: btf.GlobalFunc})
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestMapFuncs(t *testing.T) {
	raw := mapFuncsBTF(t, map[string][]string{
		"htab_map_update_elem":             {"map", "void", "void", "u64"},
		"htab_map_delete_elem":             {"map", "void"},
		"__htab_map_lookup_elem":           {"map", "void"},
		"array_map_lookup_elem":            {"map", "void"},
		"htab_map_lookup_and_delete_elem":  {"map", "void", "void", "u64"},
		"stack_map_lookup_and_delete_elem": {"map", "void", "void", "u64"},
		"bpf_fd_array_map_update_elem":     {"map", "file", "void", "void", "u64"},
		"bpf_fd_htab_map_lookup_elem":      {"map", "void", "void"},
		"bpf_map_lookup_elem":              {"u64", "u64"}, // the generic helper
		"__fd_array_map_delete_elem":       {"map", "void", "u64"},
		"map_update_elem":                  {"void"},
		"htab_map_get_next_key":            {"map", "void", "void"},
	})
	all := []mapFunc{
		{Name: "__htab_map_lookup_elem", Op: format.BPFMapLookup, HtabElem: true},
		{Name: "array_map_lookup_elem", Op: format.BPFMapLookup},
		{Name: "htab_map_delete_elem", Op: format.BPFMapDelete},
		{Name: "htab_map_update_elem", Op: format.BPFMapUpdate},
	}
	tests := []struct {
		name  string
		avail traceSet
		want  []mapFunc
	}{
		{"no ftrace list", nil, all},
		{"only traceable", traceSet{"htab_map_update_elem": {""}, "array_map_lookup_elem": {""}, "htab_map_delete_elem": {"mod"}},
			[]mapFunc{all[1], all[3]}},
		{"none traceable", traceSet{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mapFuncsFromRawBTF(raw, tt.avail)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mapFuncsFromRawBTF (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapFuncsBadBTF(t *testing.T) {
	if _, err := mapFuncsFromRawBTF([]byte{0x9f, 0xeb, 1}, nil); !errors.Is(err, procfs.ErrBadBTF) {
		t.Errorf("mapFuncsFromRawBTF of 3 bytes = %v, want procfs.ErrBadBTF", err)
	}
}

func TestMapFuncCookie(t *testing.T) {
	tests := []struct {
		name string
		f    mapFunc
		id   uint32
		want uint64
	}{
		{"lookup", mapFunc{Op: format.BPFMapLookup}, 7, 1<<32 | 7},
		{"update", mapFunc{Op: format.BPFMapUpdate}, 0xffffffff, 2<<32 | 0xffffffff},
		{"delete", mapFunc{Op: format.BPFMapDelete}, 1, 3<<32 | 1},
		{"htab elem", mapFunc{Op: format.BPFMapLookup, HtabElem: true}, 9, 1<<40 | 1<<32 | 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.cookie(tt.id); got != tt.want {
				t.Errorf("cookie = %#x, want %#x", got, tt.want)
			}
		})
	}
}
