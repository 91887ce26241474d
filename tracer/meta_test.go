package tracer

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/bpf"
)

// metaSpec builds a BTF spec with a struct sk_buff shaped like the
// kernel's where it matters: an anonymous union, a pointer to a device, a
// bitfield; and a struct xdp_buff with its rxq and an anonymous struct in
// an anonymous union.
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
	rxq := &btf.Struct{Name: "xdp_rxq_info", Size: 16, Members: []btf.Member{
		{Name: "dev", Type: &btf.Pointer{Target: dev}, Offset: 0},
		{Name: "queue_index", Type: u32, Offset: 64},
	}}
	void := &btf.Pointer{Target: &btf.Void{}}
	xdp := &btf.Struct{Name: "xdp_buff", Size: 40, Members: []btf.Member{
		{Name: "data", Type: void, Offset: 0},
		{Name: "data_end", Type: void, Offset: 64},
		{Name: "rxq", Type: &btf.Pointer{Target: rxq}, Offset: 128},
		{Name: "", Type: &btf.Union{Size: 8, Members: []btf.Member{
			{Name: "", Type: &btf.Struct{Size: 8, Members: []btf.Member{
				{Name: "frame_sz", Type: u32, Offset: 0},
				{Name: "flags", Type: u32, Offset: 32},
			}}},
			{Name: "frame_sz_flags_init", Type: u64},
		}}, Offset: 192},
		{Name: "pad", Type: &btf.Array{Type: u8, Index: u32, Nelems: 8}, Offset: 256},
	}}
	b, err := btf.NewBuilder([]btf.Type{skb, xdp}, nil)
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
		want    metaField
		wantErr bool
	}{
		{path: "skb->hash", want: metaField{Off: 28, Size: 4}},
		{path: "skb->dev->ifindex", want: metaField{Derefs: []uint32{8}, Off: 8, Size: 4}},
		{path: "skb->dev", want: metaField{Off: 8, Size: 8}},
		{path: "skb->sk->__sk_common.skc_family", want: metaField{Derefs: []uint32{16}, Off: 12, Size: 4}},
		{path: "skb->pkt_type", want: metaField{Off: 24, Size: 1, BitShift: 3, BitWidth: 3}},
		{path: "hash", wantErr: true},
		{path: "skb->nope", wantErr: true},
		{path: "skb->cb", wantErr: true},
		{path: "skb->hash->x", wantErr: true},
		{path: "skb->dev->", wantErr: true},
		{path: "skb->dev.ifindex", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := resolveMetadata(spec, tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			tt.want.Path = tt.path
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveMetadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveXDPMetadata(t *testing.T) {
	spec := metaSpec(t)
	tests := []struct {
		path    string
		want    metaField
		wantErr string
	}{
		{path: "xdp->data_end", want: metaField{Off: 8, Size: 8}},
		{path: "xdp->rxq->queue_index", want: metaField{Derefs: []uint32{16}, Off: 8, Size: 4}},
		{path: "xdp->rxq->dev->ifindex", want: metaField{Derefs: []uint32{16, 0}, Off: 8, Size: 4}},
		{path: "xdp->flags", want: metaField{Off: 28, Size: 4}},
		{path: " xdp->frame_sz", want: metaField{Off: 24, Size: 4}},
		{path: "skb->hash", wantErr: "must start with xdp->"},
		{path: "xdp", wantErr: "must start with xdp->"},
		{path: "xdp->hash", wantErr: "no field hash in xdp_buff"},
		{path: "xdp->pad", wantErr: "want an integer"},
		{path: "xdp->rxq", want: metaField{Off: 16, Size: 8}},
		{path: "xdp->rxq.queue_index", wantErr: "not a struct"},
		{path: "xdp->rxq->", wantErr: "ends with"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := resolveXDPMetadata(spec, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Path = tt.path
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveXDPMetadata (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResolveXDPMetadataKernel resolves pwru's kinds of expressions
// against the running kernel's struct xdp_buff, when the host has BTF: the
// offsets must be those of the kernel's members, found here by a direct
// walk of the types.
func TestResolveXDPMetadataKernel(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skipf("no kernel BTF on this host: %v", err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	off := func(structName, member string) uint32 {
		t.Helper()
		var s *btf.Struct
		if err := spec.TypeByName(structName, &s); err != nil {
			t.Fatal(err)
		}
		for _, m := range s.Members {
			if m.Name == member {
				return uint32(m.Offset / 8)
			}
		}
		t.Fatalf("no %s in struct %s", member, structName)
		return 0
	}
	tests := []struct {
		path string
		want metaField
	}{
		{path: "xdp->data_end", want: metaField{Off: off("xdp_buff", "data_end"), Size: 8}},
		{path: "xdp->rxq->queue_index", want: metaField{Derefs: []uint32{off("xdp_buff", "rxq")}, Off: off("xdp_rxq_info", "queue_index"), Size: 4}},
		{path: "xdp->rxq->dev->ifindex", want: metaField{Derefs: []uint32{off("xdp_buff", "rxq"), off("xdp_rxq_info", "dev")}, Off: off("net_device", "ifindex"), Size: 4}},
		{path: "xdp->rxq->dev->mtu", want: metaField{Derefs: []uint32{off("xdp_buff", "rxq"), off("xdp_rxq_info", "dev")}, Off: off("net_device", "mtu"), Size: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := resolveXDPMetadata(spec, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Path = tt.path
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveXDPMetadata (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := resolveXDPMetadata(spec, "xdp->rxq->dev->nope"); err == nil {
		t.Error("xdp->rxq->dev->nope resolved")
	}
}

func TestMetaConfig(t *testing.T) {
	var kc bpf.PwruConfig
	skb := []metaField{{Off: 28, Size: 4}}
	xdp := []metaField{{Derefs: []uint32{32, 0}, Off: 224, Size: 4}, {Off: 8, Size: 8}}
	if err := metaConfig(&kc, skb, xdp); err != nil {
		t.Fatal(err)
	}
	if kc.MetaCount != 1 || kc.XdpMetaCount != 2 {
		t.Fatalf("counts %d, %d, want 1, 2", kc.MetaCount, kc.XdpMetaCount)
	}
	if m := kc.Meta[0]; m.Nderef != 0 || m.Off[0] != 28 || m.Size != 4 {
		t.Errorf("skb slot 0 = %+v", m)
	}
	if m := kc.Meta[MaxMetadata]; m.Nderef != 2 || m.Off != [4]uint32{32, 0, 224, 0} || m.Size != 4 {
		t.Errorf("xdp slot 0 = %+v", m)
	}
	if m := kc.Meta[MaxMetadata+1]; m.Nderef != 0 || m.Off[0] != 8 || m.Size != 8 {
		t.Errorf("xdp slot 1 = %+v", m)
	}
	if m := kc.Meta[1]; m.Size != 0 {
		t.Errorf("unused skb slot 1 = %+v", m)
	}
	if err := metaConfig(&kc, nil, make([]metaField, MaxMetadata+1)); err == nil {
		t.Error("5 xdp fields accepted")
	}
}

// FuzzResolveMetadata: any path resolves to a readable field or fails
// with an error, never a panic, from either root.
func FuzzResolveMetadata(f *testing.F) {
	for _, s := range []string{"skb->dev->ifindex", "xdp->rxq->dev->ifindex", "xdp->frame_sz", "xdp->rxq->", "xdp->.", "skb->sk->__sk_common.skc_family"} {
		f.Add(s)
	}
	spec := metaSpec(f)
	f.Fuzz(func(t *testing.T, path string) {
		for _, resolve := range []func(*btf.Spec, string) (metaField, error){resolveMetadata, resolveXDPMetadata} {
			mf, err := resolve(spec, path)
			if err != nil {
				continue
			}
			if mf.Size == 0 || mf.Size > 8 || len(mf.Derefs) > maxMetaDeref || mf.Path != path {
				t.Errorf("%q resolved to %+v", path, mf)
			}
		}
	})
}
