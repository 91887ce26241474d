package fakecapture

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/packets"
)

// Config says what to generate. Zero fields take the documented defaults.
type Config struct {
	Seed   uint64 // random seed (0 is a valid seed)
	SKBs   int    // number of original skbs (default 1000)
	Probes int    // size of the probe table (default 300, at least 64)
	CPUs   int    // CPUs the skbs are spread over (default 4)
	// Concurrent is how many skbs are in flight at once, interleaving their
	// events (default 6).
	Concurrent int
	// PayloadPercent is the share of skbs whose payload is captured
	// (default 20; negative: none).
	PayloadPercent int
	// StackPercent is the share of skbs with a stack on one event
	// (default 10; negative: none).
	StackPercent int
	// DropPercent is the share of skbs that are dropped (default 5).
	DropPercent int
	// ClonePercent is the share of skbs that are cloned (default 5).
	ClonePercent int
	// BlobPercent is the share of skbs with a BlobCB blob (default 3;
	// negative: none).
	BlobPercent int
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.SKBs, 1000)
	def(&c.Probes, 300)
	def(&c.CPUs, 4)
	def(&c.Concurrent, 6)
	def(&c.PayloadPercent, 20)
	def(&c.StackPercent, 10)
	def(&c.DropPercent, 5)
	def(&c.ClonePercent, 5)
	def(&c.BlobPercent, 3)
	c.Probes = max(c.Probes, 64)
	return c
}

// NetnsPeer is the second network namespace of the generated streams
// (the first is RootNS).
const NetnsPeer = 4026532512

var realNames = []string{
	"__netif_receive_skb_core", "netif_receive_skb", "__netif_receive_skb", "ip_rcv", "ip_rcv_core",
	"ip_rcv_finish", "ip_local_deliver", "ip_local_deliver_finish", "tcp_v4_rcv", "tcp_v4_do_rcv",
	"udp_rcv", "__udp4_lib_rcv", "icmp_rcv", "ipv6_rcv", "ip6_rcv_core", "ip6_input", "tcp_v6_rcv",
	"udpv6_rcv", "icmpv6_rcv", "nf_hook_slow", "ip_output", "ip_finish_output", "ip_finish_output2",
	"__dev_queue_xmit", "dev_hard_start_xmit", "veth_xmit", "br_handle_frame", "br_forward",
	"skb_clone", "consume_skb", "kfree_skb_reason", "skb_release_data", "tcp_transmit_skb",
	"__ip_queue_xmit", "ip6_output", "ip6_finish_output2", "napi_gro_receive", "skb_copy_datagram_iter",
	"tpacket_rcv", "packet_rcv", "validate_xmit_skb", "sch_direct_xmit", "netif_rx", "enqueue_to_backlog",
	"process_backlog", "skb_push", "skb_pull", "eth_type_trans", "tcp_rcv_established", "sock_def_readable",
}

// Generate builds the stream described by cfg.
func Generate(cfg Config) *Stream {
	cfg = cfg.withDefaults()
	g := &gen{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	g.tables()
	g.flows()
	g.events()
	return g.s
}

type gen struct {
	cfg   Config
	rng   *rand.Rand
	s     *Stream
	paths [][]uint32 // path templates (probe IDs)
	flow  []flowSpec
	stack map[int]int // stack pool index -> Stacks index
	pool  [][]uint64
	now   uint64
	track uint64
	seq   int
}

type flowSpec struct {
	tuple   format.Tuple
	proto   uint16 // ethertype
	netns   uint32
	ifindex uint32
	path    int
	comm    string
	pid     uint32
}

func (g *gen) tables() {
	s := &Stream{}
	g.s = s
	s.Header = format.Header{
		WriterVersion: "pwru-record synth",
		Hostname:      "synth-host",
		Uname:         format.Uname{Sysname: "Linux", Release: "6.1.0-synth", Version: "#1 SMP", Machine: "x86_64"},
		BootID:        "00000000-0000-4000-8000-000000000001",
		Start:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MonoOffset:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano() - 1_000_000_000_000,
		CommandLine:   []string{"pwru-record", "-o", "synth.pwru", "--output-stack"},
		Options:       map[string]string{"output-stack": "true", "filter-track-skb": "true"},
		PcapFilter:    "",
		Snaplen:       256,
	}
	s.BTF = mustBTF()
	addr := uint64(kbase + 0x100000)
	for i := 0; i < g.cfg.Probes; i++ {
		name := fmt.Sprintf("skb_fn_%03d", i)
		if i < len(realNames) {
			name = realNames[i]
		}
		p := format.Probe{ID: uint32(i + 1), Name: name, Addr: addr, Kind: format.ProbeKprobeMulti, SKBArg: 1}
		if i%50 == 49 {
			p.Module = "br_netfilter"
		}
		s.Probes = append(s.Probes, p)
		typ := byte('T')
		if i%3 == 0 {
			typ = 't'
		}
		s.Symbols = append(s.Symbols, format.Symbol{Addr: addr, Type: typ, Name: name, Module: p.Module})
		addr += 0x100 + uint64(g.rng.IntN(16))*0x40
	}
	// A few extra symbols that are not probes.
	s.Symbols = append(s.Symbols,
		format.Symbol{Addr: kbase, Type: 'T', Name: "_stext"},
		format.Symbol{Addr: addr, Type: 'T', Name: "do_syscall_64"},
		format.Symbol{Addr: addr + 0x400, Type: 't', Name: "entry_SYSCALL_64"},
	)
	s.Probes[len(s.Probes)-1].Error = "attach kprobe: function not found"
	s.Netns = []format.Netns{{Inode: RootNS}, {Inode: NetnsPeer, Name: "ns1"}}
	mac := func(b byte) []byte { return []byte{0x02, 0x42, 0xac, 0x11, 0x00, b} }
	s.Interfaces = []format.Interface{
		{Netns: RootNS, Ifindex: 1, Name: "lo", MTU: 65536, Kind: ""},
		{Netns: RootNS, Ifindex: 2, Name: "eth0", MAC: mac(2), MTU: 1500, Kind: "virtio"},
		{Netns: RootNS, Ifindex: 3, Name: "br0", MAC: mac(3), MTU: 1500, Kind: "bridge"},
		{Netns: RootNS, Ifindex: 4, Name: "veth0", MAC: mac(4), MTU: 1500, Kind: "veth"},
		{Netns: NetnsPeer, Ifindex: 1, Name: "lo", MTU: 65536},
		{Netns: NetnsPeer, Ifindex: 2, Name: "eth0", MAC: mac(5), MTU: 1500, Kind: "veth"},
	}
	// Path templates: sequences of 20-60 probes, each starting with a
	// common receive or transmit prefix.
	for t := 0; t < 12; t++ {
		n := 20 + g.rng.IntN(41)
		path := make([]uint32, 0, n)
		start := uint32(1 + g.rng.IntN(10))
		for len(path) < n {
			path = append(path, 1+(start+uint32(len(path))-1)%uint32(g.cfg.Probes-1))
			if g.rng.IntN(4) == 0 {
				path[len(path)-1] = uint32(1 + g.rng.IntN(g.cfg.Probes-1))
			}
		}
		g.paths = append(g.paths, path)
	}
	g.stack = map[int]int{}
	for i := 0; i < 40; i++ {
		depth := 8 + g.rng.IntN(20)
		st := make([]uint64, depth)
		for j := range st {
			st[j] = s.Probes[g.rng.IntN(len(s.Probes))].Addr + uint64(g.rng.IntN(0x100))
		}
		g.pool = append(g.pool, st)
	}
	s.Losses = format.Losses{
		RingbufLost:  make([]uint64, g.cfg.CPUs),
		ProbesFailed: 1,
		Other:        map[string]uint64{"stack_lost": 3},
	}
	s.Losses.RingbufLost[0] = 7
}

func (g *gen) flows() {
	a4 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	specs := []struct {
		src, dst     string
		proto        uint8
		sport, dport uint16
		comm         string
	}{
		{"10.0.0.1", "10.0.0.2", 6, 43512, 5201, "iperf3"},
		{"10.0.0.2", "10.0.0.1", 6, 5201, 43512, "iperf3"},
		{"10.0.0.1", "1.1.1.1", 17, 53124, 53, "curl"},
		{"10.0.0.1", "10.0.0.2", 1, 0, 0, "ping"},
		{"fd00::1", "fd00::2", 6, 40000, 443, "curl"},
		{"fd00::2", "fd00::1", 17, 5353, 5353, "avahi-daemon"},
		{"fd00::1", "fd00::2", 58, 0, 0, "ping"},
		{"192.168.1.10", "10.0.0.2", 6, 55000, 80, "swapper/1"},
	}
	for i, sp := range specs {
		t := format.Tuple{Src: a4(sp.src), Dst: a4(sp.dst), Sport: sp.sport, Dport: sp.dport, Proto: sp.proto}
		f := flowSpec{tuple: t, proto: 0x0800, netns: RootNS, ifindex: 2, path: i % len(g.paths), comm: sp.comm, pid: uint32(1000 + 17*i)}
		if t.Src.Is6() {
			f.proto = 0x86dd
		}
		if i%3 == 1 {
			f.netns, f.ifindex = NetnsPeer, 2
		}
		g.flow = append(g.flow, f)
	}
}

// walker is one skb in flight.
type walker struct {
	ev      format.Event
	path    []uint32
	pos     int
	drop    bool
	stackAt int
	stackIx int
	payload int // Packets index to attach at the first event, -1 none
	blob    int // Blobs index, -1 none
	clone   bool
}

func (g *gen) events() {
	s := g.s
	g.now = 1_000_000_000_000
	var active []*walker
	next := 0
	startOne := func() {
		if next >= g.cfg.SKBs {
			return
		}
		next++
		active = append(active, g.newWalker())
	}
	for range g.cfg.Concurrent {
		startOne()
	}
	for len(active) > 0 {
		i := g.rng.IntN(len(active))
		w := active[i]
		g.step(w)
		if w.pos >= len(w.path) {
			active = slices.Delete(active, i, i+1)
			if w.clone {
				active = append(active, g.cloneOf(w))
			} else {
				startOne()
			}
		}
	}
	// Ring-buffer arrival: neighbours from different CPUs swap now and then.
	for i := 1; i < len(s.Events); i++ {
		if g.rng.IntN(8) == 0 && s.Events[i].CPU != s.Events[i-1].CPU {
			s.Events[i], s.Events[i-1] = s.Events[i-1], s.Events[i]
			s.attach[i], s.attach[i-1] = s.attach[i-1], s.attach[i]
		}
	}
	s.renumber()
}

func (g *gen) newWalker() *walker {
	f := g.flow[g.rng.IntN(len(g.flow))]
	g.track++
	w := &walker{path: g.paths[f.path], payload: -1, blob: -1, stackAt: -1}
	w.ev = format.Event{
		SKB:      0xffff888100000000 + uint64(g.rng.IntN(1<<20))*0x100,
		TrackID:  g.track,
		CPU:      uint32(g.rng.IntN(g.cfg.CPUs)),
		PID:      f.pid,
		Comm:     f.comm,
		Netns:    f.netns,
		Ifindex:  f.ifindex,
		Len:      uint32(60 + g.rng.IntN(1400)),
		MTU:      1500,
		Protocol: f.proto,
		Tuple:    f.tuple,
	}
	if g.rng.IntN(100) < g.cfg.DropPercent {
		w.drop = true
		n := len(w.path)/2 + g.rng.IntN(len(w.path)/2)
		w.path = slices.Clone(w.path[:n])
	}
	if g.rng.IntN(100) < g.cfg.StackPercent {
		w.stackAt = g.rng.IntN(len(w.path))
		w.stackIx = g.rng.IntN(len(g.pool))
	}
	if g.rng.IntN(100) < g.cfg.PayloadPercent {
		w.payload = g.packet(f, &w.ev)
	}
	if g.rng.IntN(100) < g.cfg.BlobPercent {
		cb := make([]byte, 48)
		binary.LittleEndian.PutUint64(cb, w.ev.TrackID)
		g.s.Blobs = append(g.s.Blobs, Blob{Kind: format.BlobCB, Data: cb})
		w.blob = len(g.s.Blobs) - 1
	}
	w.clone = g.rng.IntN(100) < g.cfg.ClonePercent
	return w
}

func (g *gen) cloneOf(p *walker) *walker {
	w := &walker{path: g.paths[len(g.paths)-1][:20], payload: -1, blob: -1, stackAt: -1}
	w.ev = p.ev
	w.ev.SKB = p.ev.SKB + 0x1000
	w.ev.Flags = format.FlagTracked
	w.ev.DropReason = 0
	return w
}

func (g *gen) step(w *walker) {
	s := g.s
	g.now += 200 + uint64(g.rng.IntN(3000))
	e := w.ev
	e.Time = g.now
	e.ProbeID = w.path[w.pos]
	if w.pos > 0 {
		// The call site of this probe inside the previous function: fixed
		// for a (caller, callee) pair, as in a real kernel.
		prev := w.path[w.pos-1]
		e.Caller = s.Probes[prev-1].Addr + 0x20 + uint64((prev*31+e.ProbeID*17)%8)*8
	}
	var refs []ref
	if w.pos == 0 && w.payload >= 0 {
		refs = append(refs, ref{refPacket, w.payload})
		e.PayloadID = uint32(w.payload + 1)
	}
	if w.pos == 0 && w.blob >= 0 {
		refs = append(refs, ref{refBlob, w.blob})
		e.Blobs[format.BlobCB] = uint32(w.blob + 1)
	}
	e.StackID = 0
	if w.pos == w.stackAt {
		si, ok := g.stack[w.stackIx]
		if !ok {
			s.Stacks = append(s.Stacks, g.pool[w.stackIx])
			si = len(s.Stacks) - 1
			g.stack[w.stackIx] = si
		}
		refs = append(refs, ref{refStack, si})
		e.StackID = uint32(si + 1)
	}
	switch w.pos % 11 {
	case 5:
		e.Len += 14
	case 9:
		e.Len -= 14
	}
	if w.pos == len(w.path)/2 && e.Netns == NetnsPeer {
		e.Netns, e.Ifindex = RootNS, 4
	}
	if w.pos == len(w.path)-1 && w.drop {
		e.ProbeID = 31 // kfree_skb_reason
		e.Flags |= format.FlagDropReason
		e.DropReason = generatedReasons[g.rng.IntN(len(generatedReasons))]
	}
	if w.pos == 3 && g.rng.IntN(10) == 0 {
		e.Mark = 0x100
	}
	s.Events = append(s.Events, e)
	s.attach = append(s.attach, refs)
	w.ev = e
	w.pos++
}

// packet builds a real frame for flow f; it returns its Packets index.
func (g *gen) packet(f flowSpec, e *format.Event) int {
	g.seq++
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0x42, 0xac, 0x11, 0, 2}, DstMAC: net.HardwareAddr{2, 0x42, 0xac, 0x11, 0, 3}}
	payload := gopacket.Payload(fmt.Appendf(nil, "synth payload %06d", g.seq))
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	t := f.tuple
	if t.Src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: t.Src.AsSlice(), DstIP: t.Dst.AsSlice(), Id: uint16(g.seq)}
		ip.Protocol = layers.IPProtocol(t.Proto)
		ls, nl = []gopacket.SerializableLayer{eth, ip}, ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: t.Src.AsSlice(), DstIP: t.Dst.AsSlice()}
		ip.NextHeader = layers.IPProtocol(t.Proto)
		ls, nl = []gopacket.SerializableLayer{eth, ip}, ip
	}
	switch t.Proto {
	case 6:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(t.Sport), DstPort: layers.TCPPort(t.Dport), Seq: uint32(g.seq) * 1000, ACK: true, PSH: true, Window: 502, Ack: 1}
		_ = tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	case 17:
		udp := &layers.UDP{SrcPort: layers.UDPPort(t.Sport), DstPort: layers.UDPPort(t.Dport)}
		_ = udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, udp)
		if t.Dport == 53 || t.Dport == 5353 {
			// DNS ports carry a real query, unique by its name.
			dns := &layers.DNS{ID: uint16(g.seq), RD: true, QDCount: 1, Questions: []layers.DNSQuestion{
				{Name: fmt.Appendf(nil, "q%d.example.com", g.seq), Type: layers.DNSTypeA, Class: layers.DNSClassIN},
			}}
			ls = append(ls, dns)
			payload = nil
		}
	case 1:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: uint16(g.seq)})
	case 58:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		_ = icmp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: uint16(g.seq)})
	}
	if payload != nil {
		ls = append(ls, payload)
	}
	data, err := packets.Serialize(ls...)
	if err != nil {
		panic(fmt.Sprintf("fakecapture: serialize packet: %v", err)) // a bug in the generator, not input
	}
	e.Len = uint32(len(data))
	g.s.Packets = append(g.s.Packets, format.Packet{
		Netns: f.netns, Ifindex: f.ifindex, OrigLen: uint32(len(data)), Data: data,
	})
	return len(g.s.Packets) - 1
}
