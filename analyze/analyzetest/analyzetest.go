// Package analyzetest writes small, deterministic captures for the
// analyzer's tests, golden files and benchmarks: hand-written scenarios
// (a few skbs with known journeys, drops, clones, tunnels, BTF and
// kallsyms) and a generator of large captures.
package analyzetest

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// Start returns the wall-clock start of every scenario.
func Start() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// T0 is the kernel monotonic time of the first event of every scenario.
const T0 = 1_000_000_000_000

// Network namespaces of the scenarios.
const (
	RootNS = 4026531840
	PodNS  = 4026532345
)

// Addresses of functions in the scenarios' kallsyms.
const kbase = 0xffffffff81000000

// funcs lists the probed functions: name, module, size.
var funcs = []struct {
	name, module string
}{
	{"__netif_receive_skb_core", ""},
	{"ip_rcv", ""},
	{"ip_rcv_core", ""},
	{"nf_hook_slow", ""},
	{"ip_local_deliver", ""},
	{"tcp_v4_rcv", ""},
	{"udp_rcv", ""},
	{"icmp_rcv", ""},
	{"kfree_skb_reason", ""},
	{"consume_skb", ""},
	{"skb_release_data", ""},
	{"kfree_skbmem", ""},
	{"dev_queue_xmit", ""},
	{"ip_output", ""},
	{"ip_finish_output2", ""},
	{"skb_clone", ""},
	{"packet_rcv", ""},
	{"veth_xmit", "veth"},
	{"netif_rx", ""},
	{"udp_queue_rcv_skb", ""},
}

// FuncAddr returns the kallsyms address of a scenario function.
func FuncAddr(name string) uint64 {
	for i, f := range funcs {
		if f.name == name {
			return kbase + uint64(i)*0x1000
		}
	}
	panic("analyzetest: unknown function " + name)
}

// Builder writes a scenario: it owns a format.Writer and a clock.
type Builder struct {
	W      *format.Writer
	Now    uint64
	probes map[string]uint32
	err    error
}

// NewBuilder writes the header, BTF, kallsyms, probes and interfaces
// shared by all scenarios.
func NewBuilder(w io.Writer, chunk int) (*Builder, error) {
	return NewBuilderOptions(w, chunk, nil)
}

// NewBuilderOptions is [NewBuilder] with more header options (e.g. what
// a flight recorder stores).
func NewBuilderOptions(w io.Writer, chunk int, options map[string]string) (*Builder, error) {
	h := &format.Header{
		WriterVersion: "pwru-record analyzetest",
		Hostname:      "testhost",
		Uname:         format.Uname{Sysname: "Linux", Release: "6.1.0-test-amd64", Version: "#1 SMP Debian 6.1.0", Machine: "x86_64"},
		BootID:        "00000000-1111-2222-3333-444444444444",
		Start:         Start(),
		MonoOffset:    Start().UnixNano() - T0,
		CommandLine:   []string{"pwru-record", "-o", "test.pwru", "--output-skb", "host 10.0.0.2"},
		Options:       map[string]string{"output-skb": "true", "filter-track-skb": "true"},
		PcapFilter:    "host 10.0.0.2",
		Snaplen:       256,
	}
	maps.Copy(h.Options, options)
	fw, err := format.NewWriter(w, h, &format.WriterOptions{ChunkEvents: chunk, FlushInterval: -1})
	if err != nil {
		return nil, err
	}
	b := &Builder{W: fw, Now: T0, probes: map[string]uint32{}}
	raw, err := BTF()
	if err != nil {
		return nil, err
	}
	if err := fw.AddBTF("", raw); err != nil {
		return nil, err
	}
	var syms []format.Symbol
	var probes []format.Probe
	for i, f := range funcs {
		addr := kbase + uint64(i)*0x1000
		syms = append(syms, format.Symbol{Addr: addr, Type: 'T', Name: f.name, Module: f.module})
		id := uint32(i + 1)
		b.probes[f.name] = id
		probes = append(probes, format.Probe{ID: id, Name: f.name, Module: f.module, Addr: addr, Kind: format.ProbeKprobeMulti, SKBArg: 1})
	}
	probes = append(probes, format.Probe{ID: uint32(len(funcs) + 1), Name: "tcp_gro_receive", Kind: format.ProbeKprobeMulti, SKBArg: 2, Error: "no such function"})
	// The drop tracepoint, as the recorder attaches it (probe "kfree_skb").
	tp := uint32(len(funcs) + 2)
	b.probes[TracepointProbe] = tp
	probes = append(probes, format.Probe{ID: tp, Name: "kfree_skb", Kind: format.ProbeTracepoint, SKBArg: 1})
	if err := fw.AddKallsyms(syms); err != nil {
		return nil, err
	}
	if err := fw.AddProbes(probes); err != nil {
		return nil, err
	}
	ifs := []format.Interface{
		{Netns: RootNS, Ifindex: 1, Name: "lo", MTU: 65536, Kind: ""},
		{Netns: RootNS, Ifindex: 2, Name: "eth0", MTU: 1500, MAC: []byte{2, 0, 0, 0, 0, 1}, Kind: "veth"},
		{Netns: PodNS, Ifindex: 1, Name: "lo", MTU: 65536},
		{Netns: PodNS, Ifindex: 4, Name: "veth0", MTU: 1450, MAC: []byte{2, 0, 0, 0, 0, 4}, Kind: "veth"},
	}
	if err := fw.AddInterfaces(ifs, []format.Netns{{Inode: PodNS, Name: "pod1"}}); err != nil {
		return nil, err
	}
	return b, nil
}

// TracepointProbe names the skb:kfree_skb tracepoint for [SKB.Hit].
const TracepointProbe = "skb:kfree_skb"

// Probe returns the probe id of a function.
func (b *Builder) Probe(name string) uint32 {
	id, ok := b.probes[name]
	if !ok {
		panic("analyzetest: unknown probe " + name)
	}
	return id
}

// SKB is one packet being walked through functions.
type SKB struct {
	b     *Builder
	Base  format.Event
	pktID uint32
}

// NewSKB starts an skb at addr with a payload (nil = none).
func (b *Builder) NewSKB(addr, track uint64, netns, ifindex uint32, payload []byte) *SKB {
	s := &SKB{b: b}
	s.Base = format.Event{SKB: addr, TrackID: track, CPU: 0, PID: 0, Comm: "swapper/0", Netns: netns, Ifindex: ifindex, MTU: 1500, Protocol: 0x0800}
	if payload != nil {
		pi := decodeTuple(payload)
		s.Base.Tuple = pi
		s.Base.Len = uint32(len(payload) - 14)
		s.SetPayload(payload)
	}
	return s
}

// SetPayload stores a new payload for the following events.
func (s *SKB) SetPayload(p []byte) {
	pk := &format.Packet{Time: s.b.Now, Netns: s.Base.Netns, Ifindex: s.Base.Ifindex, OrigLen: uint32(len(p)), Data: p}
	id, err := s.b.W.AddPacket(pk)
	if err != nil && s.b.err == nil {
		s.b.err = err
	}
	s.pktID = id
}

// Hit emits an event for fn after dt nanoseconds; mod may adjust it.
func (s *SKB) Hit(dt uint64, fn string, mod ...func(*format.Event)) {
	s.b.Now += dt
	e := s.Base
	e.Time = s.b.Now
	e.ProbeID = s.b.Probe(fn)
	if fn != TracepointProbe {
		e.Caller = FuncAddr(fn) + 0x40
	}
	e.PayloadID = s.pktID
	for _, m := range mod {
		m(&e)
	}
	if err := s.b.W.WriteEvent(&e); err != nil && s.b.err == nil {
		s.b.err = err
	}
}

// Drop sets a drop reason on the event.
func Drop(reason uint32) func(*format.Event) {
	return func(e *format.Event) {
		e.Flags |= format.FlagDropReason
		e.DropReason = reason
	}
}

// Close finishes the capture.
func (b *Builder) Close() error {
	if b.err != nil {
		return b.err
	}
	return b.W.Close()
}

// Drop reasons of the scenarios' enum skb_drop_reason.
const (
	ReasonNotDroppedYet  = 0
	ReasonConsumed       = 1
	ReasonNotSpecified   = 2
	ReasonNoSocket       = 3
	ReasonNetfilterDrop  = 4
	ReasonTCPCsum        = 5
	ReasonPktTooSmall    = 6
	ReasonUnhandledProto = 7
)

// BTF returns raw BTF with enum skb_drop_reason, a reduced struct sk_buff
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
		{Name: "SKB_NOT_DROPPED_YET", Value: 0},
		{Name: "SKB_CONSUMED", Value: 1},
		{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 2},
		{Name: "SKB_DROP_REASON_NO_SOCKET", Value: 3},
		{Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: 4},
		{Name: "SKB_DROP_REASON_TCP_CSUM", Value: 5},
		{Name: "SKB_DROP_REASON_PKT_TOO_SMALL", Value: 6},
		{Name: "SKB_DROP_REASON_UNHANDLED_PROTO", Value: 7},
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
	return bld.Marshal(nil, nil)
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

// Ethernet builds an Ethernet frame around an IPv4 packet.
func Ethernet(ip []byte) []byte {
	f := make([]byte, 14, 14+len(ip))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	return append(f, ip...)
}

// IPv4 builds an IPv4 header (with checksum) followed by l4.
func IPv4(src, dst string, proto uint8, id uint16, l4 []byte) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:], id)
	h[6] = 0x40
	h[8] = 64
	h[9] = proto
	s := netip.MustParseAddr(src).As4()
	d := netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return append(h, l4...)
}

// TCP builds a TCP header without options plus payload.
func TCP(sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 64240)
	return append(h, payload...)
}

// UDP builds a UDP header plus payload.
func UDP(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// ICMPEcho builds an ICMP echo request (typ 8) or reply (0).
func ICMPEcho(typ uint8, id, seq uint16) []byte {
	h := make([]byte, 16)
	h[0] = typ
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], seq)
	return h
}

// decodeTuple reads the tuple of an Ethernet/IPv4 frame built above.
func decodeTuple(p []byte) format.Tuple {
	var t format.Tuple
	if len(p) < 34 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
		return t
	}
	ip := p[14:]
	t.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	t.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	t.Proto = ip[9]
	if (t.Proto == 6 || t.Proto == 17) && len(ip) >= 24 {
		t.Sport = binary.BigEndian.Uint16(ip[20:])
		t.Dport = binary.BigEndian.Uint16(ip[22:])
	}
	return t
}
