package fakecapture

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/pwru-record/pwru-record/format"
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
