package tracingmulti

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// kernelBTF builds a BTF spec with enum bpf_attach_type (values) and union
// bpf_attr whose link_create holds, in its anonymous union, a
// tracing_multi struct of the given members (name, byte offset).
func kernelBTF(t *testing.T, values []btf.EnumValue, multi []btf.Member) *btf.Spec {
	t.Helper()
	u32 := &btf.Int{Name: "__u32", Size: 4}
	u64 := &btf.Int{Name: "__u64", Size: 8}
	var types []btf.Type
	types = append(types, &btf.Enum{Name: "bpf_attach_type", Size: 4, Values: values})
	inner := []btf.Member{{Name: "tracing", Type: &btf.Struct{Size: 8, Members: []btf.Member{{Name: "cookie", Type: u64}}}}}
	if multi != nil {
		size := uint32(0)
		for i := range multi {
			multi[i].Type = u64
			if multi[i].Name == "cnt" {
				multi[i].Type = u32
			}
			size = max(size, uint32(multi[i].Offset.Bytes())+8)
		}
		inner = append(inner, btf.Member{Name: "tracing_multi", Type: &btf.Struct{Size: size, Members: multi}})
	}
	lc := &btf.Struct{Size: 64, Members: []btf.Member{
		{Name: "prog_fd", Type: u32, Offset: 0},
		{Name: "target_fd", Type: u32, Offset: 32},
		{Name: "attach_type", Type: u32, Offset: 64},
		{Name: "flags", Type: u32, Offset: 96},
		{Name: "", Type: &btf.Union{Size: 48, Members: inner}, Offset: 128},
	}}
	types = append(types, &btf.Union{Name: "bpf_attr", Size: 160, Members: []btf.Member{
		{Name: "map_type", Type: u32},
		{Name: "link_create", Type: lc},
	}})
	b, err := btf.NewBuilder(types, nil)
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
	return spec
}

func bits(n uint32) btf.Bits { return btf.Bits(n * 8) }

func TestProbe(t *testing.T) {
	types := []btf.EnumValue{{Name: "BPF_TRACE_FENTRY", Value: 24}, {Name: "BPF_TRACE_FENTRY_MULTI", Value: 58}, {Name: "BPF_TRACE_FEXIT_MULTI", Value: 59}}
	tests := []struct {
		name    string
		values  []btf.EnumValue
		multi   []btf.Member
		want    *Layout
		wantErr bool
	}{
		{
			name:   "cnt, tgt_fds, btf_ids, cookies",
			values: types,
			multi:  []btf.Member{{Name: "cnt", Offset: bits(0)}, {Name: "tgt_fds", Offset: bits(8)}, {Name: "btf_ids", Offset: bits(16)}, {Name: "cookies", Offset: bits(24)}},
			want:   &Layout{FentryMulti: 58, FexitMulti: 59, attrSize: 160, progFD: 0, attachType: 8, cnt: 16, objFDs: 24, ids: 32, cookies: 40},
		},
		{
			name:   "ids and count only",
			values: types,
			multi:  []btf.Member{{Name: "btf_ids", Offset: bits(0)}, {Name: "btf_ids_cnt", Offset: bits(8)}},
			want:   &Layout{FentryMulti: 58, FexitMulti: 59, attrSize: 160, progFD: 0, attachType: 8, cnt: 24, ids: 16, cookies: -1, objFDs: -1},
		},
		{name: "no attach types", values: types[:1], multi: []btf.Member{{Name: "cnt"}, {Name: "btf_ids", Offset: bits(8)}}, wantErr: true},
		{name: "no tracing_multi", values: types, wantErr: true},
		{name: "unknown members", values: types, multi: []btf.Member{{Name: "count"}, {Name: "funcs", Offset: bits(8)}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Probe(kernelBTF(t, tt.values, tt.multi))
			if tt.wantErr {
				if !errors.Is(err, ErrNotSupported) {
					t.Fatalf("Probe: %v, want ErrNotSupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *tt.want {
				t.Errorf("Probe = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}
