package fakecapture

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/packets"
)

// Scenarios lists the named scenarios [WriteScenario] knows.
func Scenarios() []string { return []string{"basic", "good", "bad", "tracepoint"} }

// WriteScenario writes the named scenario to w.
func WriteScenario(w io.Writer, name string) error {
	b, err := NewBuilder(w, 4)
	if err != nil {
		return err
	}
	switch name {
	case "basic":
		err = basic(b)
	case "good":
		err = diffRun(b, false)
	case "bad":
		err = diffRun(b, true)
	case "tracepoint":
		err = tracepoint(b)
	default:
		return fmt.Errorf("unknown scenario %q", name)
	}
	if err != nil {
		return err
	}
	return b.Close()
}

const (
	skbA = 0xffff888001000000
	skbB = 0xffff888001000100
	skbC = 0xffff888001000200
	skbD = 0xffff888001000300
)

// tracepoint: drops as a real recorder stores them. The dropping
// function's probe hit carries no reason; the skb:kfree_skb tracepoint
// fires right after it on the same CPU with the reason (skb A, while skb B
// on another CPU interleaves). Skb C's tracepoint hit has no function
// event before it (the function was not probed). Skb D's kfree_skb_reason
// fires without a tracepoint hit (the skb still had users).
func tracepoint(b *Builder) error {
	udp := func(sport uint16) []byte {
		return packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, sport, packets.UDP(sport, 9999, []byte("drop me"))))
	}
	a := b.NewSKB(skbA, 0, RootNS, 2, udp(40001))
	bb := b.NewSKB(skbB, 0, RootNS, 2, udp(40002))
	bb.Base.CPU = 1
	a.Hit(100, "ip_rcv")
	bb.Hit(10, "ip_rcv")
	a.Hit(100, "kfree_skb_reason")
	bb.Hit(10, "udp_rcv")
	a.Hit(20, TracepointProbe, Drop(ReasonNetfilterDrop))
	a.Hit(30, "kfree_skbmem")
	bb.Hit(10, "consume_skb")
	bb.Hit(10, "kfree_skbmem")
	c := b.NewSKB(skbC, 0, RootNS, 2, udp(40003))
	c.Hit(1000, "ip_rcv")
	c.Hit(100, TracepointProbe, Drop(ReasonNoSocket))
	c.Hit(100, "kfree_skbmem")
	d := b.NewSKB(skbD, 0, RootNS, 2, udp(40004))
	d.Hit(1000, "ip_rcv")
	d.Hit(100, "kfree_skb_reason")
	d.Hit(100, "ip_rcv")
	return nil
}

// basic: a TCP SYN delivered locally (with struct dumps and a stack), a
// UDP datagram dropped for lack of a socket, an ICMP echo leaving a pod
// through a veth and cloned for a packet socket, and the first skb's
// address reused by a later ACK.
func basic(b *Builder) error {
	syn := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 6, 0x1111, packets.TCP(40000, 80, 1000, 0, 0x02, nil)))
	a := b.NewSKB(skbA, 1, RootNS, 2, syn)
	a.Base.CPU = 1
	a.Base.Mark = 0xa00
	skbBlob, err := b.W.AddBlob(format.BlobSKB, SKBBytes(0, 0xffff888003000000, 54, 0x0800, 0xa00, 0))
	if err != nil {
		return err
	}
	cb := make([]byte, 48)
	cb[8] = 0x2a
	cbBlob, err := b.W.AddBlob(format.BlobCB, cb)
	if err != nil {
		return err
	}
	shBlob, err := b.W.AddBlob(format.BlobSharedInfo, []byte{0, 0, 1, 0, 0x40, 0x05, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		return err
	}
	withBlobs := func(e *format.Event) {
		e.Blobs[format.BlobSKB] = skbBlob
		e.Blobs[format.BlobCB] = cbBlob
		e.Blobs[format.BlobSharedInfo] = shBlob
	}
	a.Hit(0, "__netif_receive_skb_core", withBlobs)
	a.Hit(1500, "ip_rcv")
	a.Hit(800, "ip_rcv_core")

	udp := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, 0x2222, packets.UDP(5353, 53, []byte("query"))))
	u := b.NewSKB(skbB, 2, RootNS, 2, udp)
	u.Base.CPU = 0
	u.Base.PID = 812
	u.Base.Comm = "dnsclient"
	u.Hit(300, "__netif_receive_skb_core")
	a.Hit(900, "ip_local_deliver")
	u.Hit(400, "ip_rcv")
	a.Hit(2000, "tcp_v4_rcv")
	u.Hit(700, "ip_local_deliver")
	u.Hit(1200, "udp_rcv")
	stack, err := b.W.AddStack([]uint64{FuncAddr("kfree_skb_reason") + 0x10, FuncAddr("udp_rcv") + 0x120, FuncAddr("ip_local_deliver") + 0x33})
	if err != nil {
		return err
	}
	u.Hit(500, "kfree_skb_reason", Drop(ReasonNoSocket), func(e *format.Event) { e.StackID = stack })
	u.Hit(100, "skb_release_data")
	u.Hit(100, "kfree_skbmem")
	a.Hit(3000, "consume_skb")
	a.Hit(150, "skb_release_data")
	a.Hit(150, "kfree_skbmem")

	// ICMP echo from the pod: out through veth0, into the root netns on
	// eth0, cloned for a packet socket.
	ping := packets.Ethernet(packets.IPv4("10.0.1.5", "10.0.0.2", 1, 0x3333, packets.ICMPEcho(8, 77, 1)))
	c := b.NewSKB(skbC, 3, PodNS, 4, ping)
	c.Base.PID = 4242
	c.Base.Comm = "ping"
	c.Base.CPU = 1
	c.Base.MTU = 1450
	c.Hit(5000, "ip_output")
	c.Hit(600, "ip_finish_output2")
	c.Hit(700, "dev_queue_xmit")
	c.Hit(900, "veth_xmit")
	c.Base.Netns, c.Base.Ifindex, c.Base.MTU = RootNS, 2, 1500
	c.Hit(1100, "netif_rx")
	c.Hit(2000, "__netif_receive_skb_core")
	c.Hit(400, "skb_clone")
	d := b.NewSKB(skbD, 3, RootNS, 2, nil)
	d.Base = c.Base
	d.Base.SKB = skbD
	d.Base.Flags |= format.FlagTracked
	d.pktID = c.pktID
	d.Hit(300, "packet_rcv")
	c.Hit(200, "ip_rcv")
	c.Hit(900, "ip_local_deliver")
	c.Hit(800, "icmp_rcv")
	d.Hit(500, "consume_skb")
	d.Hit(100, "kfree_skbmem")
	c.Hit(1200, "consume_skb")
	c.Hit(100, "kfree_skbmem")

	// skbA's address reused for the ACK 1 ms later.
	ack := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 6, 0x1112, packets.TCP(40000, 80, 1001, 5001, 0x10, nil)))
	a2 := b.NewSKB(skbA, 4, RootNS, 2, ack)
	a2.Hit(1_000_000, "__netif_receive_skb_core")
	a2.Hit(1000, "ip_rcv")
	a2.Hit(1000, "ip_local_deliver")
	a2.Hit(1000, "tcp_v4_rcv")
	a2.Hit(1000, "kfree_skb_reason", Drop(ReasonTCPCsum))
	a2.Hit(100, "kfree_skbmem")

	// A VXLAN-encapsulated TCP SYN between two pods arriving on eth0.
	inner := packets.Ethernet(packets.IPv4("192.168.1.10", "192.168.2.20", 6, 0x4444, packets.TCP(33000, 443, 7000, 0, 0x02, nil)))
	vx := append([]byte{0x08, 0, 0, 0, 0, 0, 0x2a, 0}, inner...)
	outer := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, 0x5555, packets.UDP(51000, 4789, vx)))
	v := b.NewSKB(skbD, 5, RootNS, 2, outer)
	v.Hit(2000, "__netif_receive_skb_core")
	v.Hit(500, "ip_rcv")
	v.Hit(500, "udp_rcv")
	v.Hit(700, "consume_skb")
	v.Hit(100, "kfree_skbmem")

	return b.W.SetLosses(&format.Losses{RingbufLost: []uint64{0, 3}, Other: map[string]uint64{"stack_lost": 1}})
}

// diffRun: three flows (TCP, UDP, ICMP), each of several packets, walking
// the receive path. In the bad run nf_hook_slow drops the UDP flow's
// packets (NETFILTER_DROP), the TCP flow's tcp_v4_rcv hop is 5x slower,
// and the last ICMP echo is missing.
func diffRun(b *Builder, bad bool) error {
	var addr uint64 = 0xffff888010000000
	next := func() uint64 { addr += 0x100; return addr }
	for i := range 4 {
		seq := uint32(1000 + 100*i)
		tcp := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 6, uint16(0x100+i), packets.TCP(40000, 80, seq, 5000, 0x18, []byte("GET /"))))
		s := b.NewSKB(next(), 0, RootNS, 2, tcp)
		s.Hit(10_000, "__netif_receive_skb_core")
		s.Hit(1000, "ip_rcv")
		s.Hit(1000, "nf_hook_slow")
		s.Hit(1000, "ip_local_deliver")
		if bad {
			s.Hit(50_000, "tcp_v4_rcv")
		} else {
			s.Hit(10_000, "tcp_v4_rcv")
		}
		s.Hit(1000, "consume_skb")
		s.Hit(100, "kfree_skbmem")

		udp := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, uint16(0x200+i), packets.UDP(5000, 53, []byte{byte(i)})))
		u := b.NewSKB(next(), 0, RootNS, 2, udp)
		u.Hit(10_000, "__netif_receive_skb_core")
		u.Hit(1000, "ip_rcv")
		u.Hit(1000, "nf_hook_slow")
		if bad {
			u.Hit(1000, "kfree_skb_reason", Drop(ReasonNetfilterDrop))
		} else {
			u.Hit(1000, "ip_local_deliver")
			u.Hit(1000, "udp_rcv")
			u.Hit(1000, "consume_skb")
		}
		u.Hit(100, "kfree_skbmem")

		if bad && i == 3 {
			continue
		}
		icmp := packets.Ethernet(packets.IPv4("10.0.1.5", "10.0.0.2", 1, uint16(0x300+i), packets.ICMPEcho(8, 9, uint16(i+1))))
		c := b.NewSKB(next(), 0, RootNS, 2, icmp)
		c.Hit(10_000, "__netif_receive_skb_core")
		c.Hit(1000, "ip_rcv")
		c.Hit(1000, "nf_hook_slow")
		c.Hit(1000, "ip_local_deliver")
		c.Hit(1000, "icmp_rcv")
		c.Hit(1000, "consume_skb")
		c.Hit(100, "kfree_skbmem")
	}
	return nil
}

// StableInfo blanks the byte counts in `pwru-replay info` output (file
// size, section sizes): they change whenever the format's encoder does,
// while golden files check what info reports, not the encoder.
func StableInfo(s string) string {
	lines := strings.Split(s, "\n")
	inSections := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "file:"):
			lines[i] = fileSize.ReplaceAllString(l, "(N bytes,")
		case l == "sections:":
			inSections = true
		case inSections && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "  TYPE"):
			f := strings.Fields(l)
			if len(f) == 5 {
				lines[i] = fmt.Sprintf("  %-11s %8s %12s %12s %10s", f[0], f[1], "N", "N", f[4])
			}
		default:
			inSections = inSections && strings.HasPrefix(l, "  ")
		}
	}
	return strings.Join(lines, "\n")
}

var fileSize = regexp.MustCompile(`\(\d+ bytes,`)

// Large writes a capture of n skbs received on eth0, six in flight at a
// time, each walking the receive path to its fate (delivered, or dropped
// with a reason for one in ten), with skb addresses recycled (first in,
// first out) from a pool of 4096 as the slab allocator does, and one
// payload per skb.
func Large(w io.Writer, n int) error {
	b, err := NewBuilder(w, 0)
	if err != nil {
		return err
	}
	path := []string{"__netif_receive_skb_core", "ip_rcv", "ip_rcv_core", "nf_hook_slow", "ip_local_deliver", "udp_rcv", "udp_queue_rcv_skb"}
	type walker struct {
		s    *SKB
		pos  int
		drop bool
	}
	var active []*walker
	started := 0
	pool := []uint64{}
	for i := range 4096 {
		pool = append(pool, 0xffff888020000000+uint64(i)*0x100)
	}
	start := func() {
		if started == n || len(pool) == 0 {
			return
		}
		addr := pool[0]
		pool = pool[1:]
		started++
		pkt := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, uint16(started), packets.UDP(uint16(1024+started%32), 53, []byte{byte(started)})))
		active = append(active, &walker{s: b.NewSKB(addr, uint64(started), RootNS, 2, pkt), drop: started%10 == 0})
	}
	for range 6 {
		start()
	}
	for k := 0; len(active) > 0; k++ {
		i := (k * 7) % len(active)
		wk := active[i]
		switch {
		case wk.pos < len(path) && !(wk.drop && wk.pos == 4):
			wk.s.Hit(300, path[wk.pos])
		case wk.drop:
			wk.s.Hit(300, "kfree_skb_reason", Drop(ReasonNetfilterDrop))
			wk.pos = len(path) + 1
		default:
			wk.s.Hit(300, "consume_skb")
			wk.pos = len(path) + 1
		}
		wk.pos++
		if wk.pos > len(path)+1 {
			wk.s.Hit(100, "kfree_skbmem")
			pool = append(pool, wk.s.Base.SKB)
			active = append(active[:i], active[i+1:]...)
			start()
		}
	}
	return b.Close()
}
