package render

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

func TestAppendBTF(t *testing.T) {
	u8 := &btf.Int{Name: "__u8", Size: 1}
	u32 := &btf.Int{Name: "__u32", Size: 4}
	s32 := &btf.Int{Name: "__s32", Size: 4, Encoding: btf.Signed}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	s16 := &btf.Int{Name: "__s16", Size: 2, Encoding: btf.Signed}
	btfEnum := &btf.Struct{Name: "btf_enum", Size: 8, Members: []btf.Member{
		{Name: "name_off", Type: u32, Offset: 0},
		{Name: "val", Type: s32, Offset: 32},
	}}
	cmd := &btf.Enum{Name: "bpf_cmd", Size: 4, Values: []btf.EnumValue{{Name: "BPF_MAP_CREATE", Value: 0}, {Name: "BPF_MAP_LOOKUP_ELEM", Value: 1}}}
	listHead := &btf.Struct{Name: "list_head", Size: 8}
	listHead.Members = []btf.Member{{Name: "next", Type: &btf.Pointer{Target: listHead}}}
	progInfo := &btf.Struct{Name: "bpf_prog_info", Size: 4, Members: []btf.Member{{Name: "name", Type: &btf.Array{Index: u32, Type: char, Nelems: 4}}}}
	skbCB := &btf.Struct{Name: "__sk_buff", Size: 20, Members: []btf.Member{{Name: "cb", Type: &btf.Array{Index: u32, Type: u32, Nelems: 5}}}}
	insn := &btf.Struct{Name: "bpf_insn", Size: 8, Members: []btf.Member{
		{Name: "code", Type: u8, Offset: 0},
		{Name: "dst_reg", Type: u8, Offset: 8, BitfieldSize: 4},
		{Name: "src_reg", Type: u8, Offset: 12, BitfieldSize: 4},
		{Name: "off", Type: s16, Offset: 16},
		{Name: "imm", Type: s32, Offset: 32},
	}}
	atomic := &btf.Typedef{Name: "atomic_t", Type: &btf.Struct{Size: 4, Members: []btf.Member{{Name: "counter", Type: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}}}}}
	outer := &btf.Struct{Name: "outer", Size: 16, Members: []btf.Member{
		{Name: "a", Type: atomic, Offset: 0},
		{Name: "e", Type: btfEnum, Offset: 64},
	}}
	le := func(vals ...uint32) []byte {
		var b []byte
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	tests := []struct {
		name string
		typ  btf.Type
		data []byte
		want string
	}{
		// Expected strings follow the kernel's bpf_snprintf_btf selftests
		// (tools/testing/selftests/bpf/progs/netif_receive_skb.c), in the
		// non-compact form pwru uses.
		{"int", &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}, le(1234), "(int)1234\n"},
		{"negative int", &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}, le(uint32(0xffffee29)), "(int)-4567\n"},
		{"zero int at top level", &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}, le(0), "(int)0\n"},
		{"struct", btfEnum, le(3, 0xffffffff), "(struct btf_enum){\n .name_off = (__u32)3,\n .val = (__s32)-1,\n}\n"},
		{"zero member omitted", btfEnum, le(0, 0xffffffff), "(struct btf_enum){\n .val = (__s32)-1,\n}\n"},
		{"empty struct", btfEnum, le(0, 0), "(struct btf_enum){\n}\n"},
		{"enum", cmd, le(1), "(enum bpf_cmd)BPF_MAP_LOOKUP_ELEM\n"},
		{"enum zero has a name", cmd, le(0), "(enum bpf_cmd)BPF_MAP_CREATE\n"},
		{"enum without name", cmd, le(2000), "(enum bpf_cmd)2000\n"},
		{"pointer", listHead, []byte{1, 0, 0, 0, 0, 0, 0, 0}, "(struct list_head){\n .next = (struct list_head *)0x0000000000000001,\n}\n"},
		{"null pointer omitted", listHead, make([]byte, 8), "(struct list_head){\n}\n"},
		{"char array", progInfo, []byte("foo\x00"), "(struct bpf_prog_info){\n .name = (char[])[\n  'f',\n  'o',\n  'o',\n ],\n}\n"},
		{"leading NUL hides string", progInfo, []byte("\x00foo"), "(struct bpf_prog_info){\n}\n"},
		{"non-printable chars", progInfo, []byte{1, 2, 3, 0}, "(struct bpf_prog_info){\n .name = (char[])[\n  1,\n  2,\n  3,\n ],\n}\n"},
		{"int array non-zero only", skbCB, le(0, 0, 1, 0, 0), "(struct __sk_buff){\n .cb = (__u32[])[\n  1,\n ],\n}\n"},
		{"bitfields in hex", insn, []byte{1, 0x32, 4, 0, 5, 0, 0, 0}, "(struct bpf_insn){\n .code = (__u8)1,\n .dst_reg = (__u8)0x2,\n .src_reg = (__u8)0x3,\n .off = (__s16)4,\n .imm = (__s32)5,\n}\n"},
		{"typedef struct and nested", outer, le(1, 0, 7, 0), "(struct outer){\n .a = (atomic_t){\n  .counter = (int)1,\n },\n .e = (struct btf_enum){\n  .name_off = (__u32)7,\n },\n}\n"},
		{"zero nested struct omitted", outer, le(0, 0, 7, 0), "(struct outer){\n .e = (struct btf_enum){\n  .name_off = (__u32)7,\n },\n}\n"},
		{"short data", btfEnum, le(3), "(struct btf_enum){\n .name_off = (__u32)3,\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendBTF(nil, tt.typ, tt.data, nil))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AppendBTF (-want +got):\n%s", diff)
			}
		})
	}
}
