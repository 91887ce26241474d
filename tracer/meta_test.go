package tracer

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

// metaSpec builds a BTF spec with a struct sk_buff shaped like the
// kernel's where it matters: an anonymous union, a pointer to a device, a
// bitfield.
func metaSpec(tb testing.TB) *btf.Spec {
	tb.Helper()
	u8 := &btf.Int{Name: "u8", Size: 1}
	u32 := &btf.Int{Name: "u32", Size: 4}
	u64 := &btf.Int{Name: "u64", Size: 8}
	dev := &btf.Struct{Name: "net_device", Size: 16, Members: []btf.Member{
		{Name: "name", Type: u64, Offset: 0},
		{Name: "ifindex", Type: u32, Offset: 64},
	}}
	common := &btf.Struct{Name: "sock_common", Size: 8, Members: []btf.Member{
		{Name: "skc_family", Type: u32, Offset: 32},
	}}
	sk := &btf.Struct{Name: "sock", Size: 16, Members: []btf.Member{
		{Name: "__sk_common", Type: common, Offset: 64},
	}}
	skb := &btf.Struct{Name: "sk_buff", Size: 48, Members: []btf.Member{
		{Name: "", Type: &btf.Union{Size: 8, Members: []btf.Member{
			{Name: "dev", Type: &btf.Pointer{Target: dev}},
			{Name: "dev_scratch", Type: u64},
		}}, Offset: 64},
		{Name: "sk", Type: &btf.Pointer{Target: sk}, Offset: 128},
		{Name: "pkt_type", Type: u8, Offset: 195, BitfieldSize: 3},
		{Name: "hash", Type: u32, Offset: 224},
		{Name: "cb", Type: &btf.Array{Type: u8, Index: u32, Nelems: 8}, Offset: 256},
	}}
	b, err := btf.NewBuilder([]btf.Type{skb}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

func TestResolveMetadata(t *testing.T) {
	spec := metaSpec(t)
	tests := []struct {
		path    string
		want    MetaField
		wantErr bool
	}{
		{path: "skb->hash", want: MetaField{Off: 28, Size: 4}},
		{path: "skb->dev->ifindex", want: MetaField{Derefs: []uint32{8}, Off: 8, Size: 4}},
		{path: "skb->dev", want: MetaField{Off: 8, Size: 8}},
		{path: "skb->sk->__sk_common.skc_family", want: MetaField{Derefs: []uint32{16}, Off: 12, Size: 4}},
		{path: "skb->pkt_type", want: MetaField{Off: 24, Size: 1, BitShift: 3, BitWidth: 3}},
		{path: "hash", wantErr: true},
		{path: "skb->nope", wantErr: true},
		{path: "skb->cb", wantErr: true},
		{path: "skb->hash->x", wantErr: true},
		{path: "skb->dev->", wantErr: true},
		{path: "skb->dev.ifindex", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ResolveMetadata(spec, tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			tt.want.Path = tt.path
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ResolveMetadata (-want +got):\n%s", diff)
			}
		})
	}
}
