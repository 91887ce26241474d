package fakecapture

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// This file holds the one fake BTF and the struct bytes laid out by it.

// Values of the fake BTF's enum skb_drop_reason, as on Linux 6.x where
// the kernel has them (the goldens name them, never their numbers; the
// generated streams, and so testdata/format/golden.pwru, store these
// numbers).
const (
	ReasonNotDroppedYet  = 0
	ReasonConsumed       = 1
	ReasonNotSpecified   = 2
	ReasonNoSocket       = 3
	ReasonPktTooSmall    = 4
	ReasonTCPCsum        = 5
	ReasonUnhandledProto = 7
	ReasonNetfilterDrop  = 8
	ReasonIPInHdr        = 11
)

// generatedReasons are the drop reasons [Generate] draws from, in the
// order of its random draw.
var generatedReasons = []uint32{ReasonNotSpecified, ReasonNoSocket, ReasonPktTooSmall, ReasonTCPCsum, ReasonNetfilterDrop, ReasonIPInHdr}

// BTF returns the one fake vmlinux BTF of every fake capture (scenarios
// and generated streams): enum skb_drop_reason, a reduced struct sk_buff
// (pointers, an anonymous union, cb, bitfields, a typedef'd __be16) and
// struct skb_shared_info.
func BTF() ([]byte, error) {
	u8 := &btf.Int{Name: "unsigned char", Size: 1}
	u16 := &btf.Int{Name: "short unsigned int", Size: 2}
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	u64 := &btf.Int{Name: "long long unsigned int", Size: 8}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	be16 := &btf.Typedef{Name: "__be16", Type: u16}
	ktime := &btf.Typedef{Name: "ktime_t", Type: &btf.Int{Name: "long long int", Size: 8, Encoding: btf.Signed}}
	netdev := &btf.Struct{Name: "net_device", Size: 8, Members: []btf.Member{{Name: "ifindex", Type: u32}}}
	sock := &btf.Struct{Name: "sock", Size: 8}
	skb := &btf.Struct{Name: "sk_buff", Size: 112}
	skbPtr := &btf.Pointer{Target: skb}
	reasons := &btf.Enum{Name: "skb_drop_reason", Size: 4, Values: []btf.EnumValue{
		{Name: "SKB_NOT_DROPPED_YET", Value: ReasonNotDroppedYet},
		{Name: "SKB_CONSUMED", Value: ReasonConsumed},
		{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: ReasonNotSpecified},
		{Name: "SKB_DROP_REASON_NO_SOCKET", Value: ReasonNoSocket},
		{Name: "SKB_DROP_REASON_PKT_TOO_SMALL", Value: ReasonPktTooSmall},
		{Name: "SKB_DROP_REASON_TCP_CSUM", Value: ReasonTCPCsum},
		{Name: "SKB_DROP_REASON_UNHANDLED_PROTO", Value: ReasonUnhandledProto},
		{Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: ReasonNetfilterDrop},
		{Name: "SKB_DROP_REASON_IP_INHDR", Value: ReasonIPInHdr},
	}}
	// struct sk_buff (reduced), 112 bytes:
	//   0 union { struct { next, prev }; rbnode(u64 x2) }
	//  16 union { dev *net_device; dev_scratch u64 }
	//  24 sk *sock
	//  32 tstamp ktime_t
	//  40 cb char[48]
	//  88 len u32, 92 data_len u32
	//  96 mac_len u16, 98 hdr_len u16
	// 100 pkt_type:3, ignore_df:1, cloned:1 (bitfields in a u8)
	// 102 protocol __be16
	// 104 mark u32, 108 hash u32
	anonStruct := &btf.Struct{Size: 16, Members: []btf.Member{
		{Name: "next", Type: skbPtr, Offset: 0},
		{Name: "prev", Type: skbPtr, Offset: 64},
	}}
	rb := &btf.Struct{Name: "rb_node", Size: 16, Members: []btf.Member{
		{Name: "__rb_parent_color", Type: u64, Offset: 0},
		{Name: "rb_right", Type: u64, Offset: 64},
	}}
	skb.Members = []btf.Member{
		{Type: &btf.Union{Size: 16, Members: []btf.Member{{Type: anonStruct}, {Name: "rbnode", Type: rb}}}, Offset: 0},
		{Type: &btf.Union{Size: 8, Members: []btf.Member{
			{Name: "dev", Type: &btf.Pointer{Target: netdev}},
			{Name: "dev_scratch", Type: u64},
		}}, Offset: 128},
		{Name: "sk", Type: &btf.Pointer{Target: sock}, Offset: 192},
		{Name: "tstamp", Type: ktime, Offset: 256},
		{Name: "cb", Type: &btf.Array{Index: u32, Type: char, Nelems: 48}, Offset: 320},
		{Name: "len", Type: u32, Offset: 704},
		{Name: "data_len", Type: u32, Offset: 736},
		{Name: "mac_len", Type: u16, Offset: 768},
		{Name: "hdr_len", Type: u16, Offset: 784},
		{Name: "pkt_type", Type: u8, Offset: 800, BitfieldSize: 3},
		{Name: "ignore_df", Type: u8, Offset: 803, BitfieldSize: 1},
		{Name: "cloned", Type: u8, Offset: 804, BitfieldSize: 1},
		{Name: "protocol", Type: be16, Offset: 816},
		{Name: "mark", Type: u32, Offset: 832},
		{Name: "hash", Type: u32, Offset: 864},
	}
	shinfo := &btf.Struct{Name: "skb_shared_info", Size: 16, Members: []btf.Member{
		{Name: "flags", Type: u8, Offset: 0},
		{Name: "meta_len", Type: u8, Offset: 8},
		{Name: "nr_frags", Type: u8, Offset: 16},
		{Name: "tx_flags", Type: u8, Offset: 24},
		{Name: "gso_size", Type: u16, Offset: 32},
		{Name: "gso_segs", Type: u16, Offset: 48},
		{Name: "frag_list", Type: skbPtr, Offset: 64},
	}}
	bld, err := btf.NewBuilder([]btf.Type{reasons, skb, shinfo}, nil)
	if err != nil {
		return nil, fmt.Errorf("build btf: %w", err)
	}
	return bld.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
}

// mustBTF is [BTF] for the generator, whose types are fixed: an error is
// a bug here, not bad input.
func mustBTF() []byte {
	raw, err := BTF()
	if err != nil {
		panic(fmt.Sprintf("fakecapture: %v", err))
	}
	return raw
}

// SKBBytes returns raw struct sk_buff bytes in the layout of [BTF].
func SKBBytes(next, dev uint64, length uint32, protocol uint16, mark uint32, pktType uint8) []byte {
	b := make([]byte, 112)
	le := binary.LittleEndian
	le.PutUint64(b[0:], next)
	le.PutUint64(b[16:], dev)
	copy(b[40:], "cbdata")
	le.PutUint32(b[88:], length)
	le.PutUint16(b[96:], 14)
	b[100] = pktType&7 | 1<<4
	binary.BigEndian.PutUint16(b[102:], protocol)
	le.PutUint32(b[104:], mark)
	le.PutUint32(b[108:], 0xdeadbeef)
	return b
}
