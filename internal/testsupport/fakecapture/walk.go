package fakecapture

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/packets"
)

// This file walks the generated skbs through the kernel functions of
// their flows, interleaved across CPUs, and builds their packets.

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
