package fakecapture

import (
	"encoding/binary"
	"io"
	"maps"
	"net/netip"
	"time"

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
	panic("fakecapture: unknown function " + name)
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
		panic("fakecapture: unknown probe " + name)
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
