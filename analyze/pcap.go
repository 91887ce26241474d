package analyze

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pwru-record/pwru-record/format"
)

// PcapOptions tune [WritePcap].
type PcapOptions struct {
	Filter Filter
	// PerEvent writes one packet per event that has a payload instead of
	// one per sighting: a distinct payload, or the same payload on another
	// interface or in another netns.
	PerEvent bool
	// MaxPathInComment bounds the functions listed in a comment (0 = 64).
	MaxPathInComment int
}

// maxSightings bounds the packets one skb contributes without PerEvent;
// the comment of its last one says how many more were left out.
const maxSightings = 64

// sighting is one packet of the export: a payload as one skb carried it
// at one place (netns, interface, link type) and time.
type sighting struct {
	time           uint64
	payload        uint32
	netns, ifindex uint32
	probe          uint32 // the function where the bytes were captured
	dir            pcapgo.NgEpbFlag
	verdict        *pcapgo.NgEpbVerdict
	skb            *pcapSKB
	seq            uint64 // order of capture, for equal times
}

// pcapSKB is the per-skb state of WritePcap.
type pcapSKB struct {
	sightings []sighting
	funcs     []uint32
	more      int    // functions left out of funcs
	skipped   int    // sightings beyond maxSightings
	comment   string // fate and skb, the start of every packet's comment
	path      string // the journey, the end of every packet's comment (not PerEvent)
	id        uint64 // lifetime id: the packets' epb_packetid
	done      bool   // the skb ended: its sightings may be written
	live      int    // index in pcapWriter.live, -1 when not there
}

// pcapIf is one interface of the export: a device in a netns with one
// link type (a payload captured from the network header is raw IP).
type pcapIf struct {
	netns, ifindex uint32
	l3             bool
}

// pcapWriter adds interfaces lazily and writes packets in time order: a
// packet's comment needs its skb's whole journey, so sightings wait until
// their skb ends, and the earliest sighting of any skb still live bounds
// what may be written.
type pcapWriter struct {
	c        *Capture
	bw       *bufio.Writer
	ng       *pcapgo.NgWriter
	ifids    map[pcapIf]int
	names    map[string]int // interface names in use, for distinct names
	perIf    []uint64       // packets written per interface id
	n        int
	live     pcapLiveHeap     // skbs with sightings, by their first one
	ready    pcapSightingHeap // sightings of ended skbs
	first    uint64           // time of the first packet written
	last     uint64
	perEvent bool
	seq      uint64
}

func (p *pcapWriter) iface(k pcapIf) (int, error) {
	if id, ok := p.ifids[k]; ok {
		return id, nil
	}
	name := p.c.ifaceText(k.netns, k.ifindex)
	lt := layers.LinkTypeEthernet
	if k.l3 {
		lt = layers.LinkTypeRaw
		name += "/ip"
	}
	// Two netns without names, or a name used twice, still give distinct
	// interfaces.
	if n := p.names[name]; n > 0 {
		p.names[name] = n + 1
		name += "#" + strconv.Itoa(n+1)
	} else {
		p.names[name] = 1
	}
	desc := fmt.Sprintf("ifindex %d in netns %d", k.ifindex, k.netns)
	if n := p.c.NetnsName(k.netns); n != "" {
		desc += " (" + n + ")"
	}
	if k.l3 {
		desc += ", raw IP (captured from the network header)"
	}
	snap := p.c.File.Header().Snaplen
	if snap == 0 {
		snap = 65535
	}
	intf := pcapgo.NgInterface{
		Name:                name,
		Description:         desc,
		LinkType:            lt,
		SnapLength:          snap,
		TimestampResolution: 9,
	}
	var id int
	var err error
	if p.ng == nil {
		h := p.c.File.Header()
		opts := pcapgo.DefaultNgWriterOptions
		comment := "exported by pwru-replay from a pwru-record capture of " + h.Hostname
		if lost := p.c.lostEvents(); lost > 0 {
			comment += fmt.Sprintf("; %d events were lost in the kernel ring buffer while recording (not attributable to an interface; counted as drops of interface 0)", lost)
		}
		opts.SectionInfo = pcapgo.NgSectionInfo{
			Hardware:    h.Uname.Machine,
			OS:          strings.TrimSpace(h.Uname.Sysname + " " + h.Uname.Release),
			Application: "pwru-replay",
			Comment:     comment,
		}
		p.ng, err = pcapgo.NewNgWriterInterface(p.bw, intf, opts)
	} else {
		id, err = p.ng.AddInterface(intf)
	}
	if err != nil {
		return 0, fmt.Errorf("write pcapng interface: %w", err)
	}
	p.ifids[k] = id
	p.perIf = append(p.perIf, 0)
	return id, nil
}

// write writes one sighting as an enhanced packet block.
func (p *pcapWriter) write(s *sighting) error {
	pk, err := p.c.File.Packet(s.payload)
	if err != nil {
		// The error names the packet and its section already.
		if p.c.File.Options().SkipCorrupt {
			p.c.noteLost("payload", err)
			return nil
		}
		return err
	}
	netns, ifindex := s.netns, s.ifindex
	if netns == 0 && ifindex == 0 {
		netns, ifindex = pk.Netns, pk.Ifindex
	}
	id, err := p.iface(pcapIf{netns, ifindex, pk.L3})
	if err != nil {
		return err
	}
	orig := int(pk.OrigLen)
	if orig < len(pk.Data) {
		orig = len(pk.Data)
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      time.Unix(0, int64(s.time)+p.c.File.Header().MonoOffset),
		CaptureLength:  len(pk.Data),
		Length:         orig,
		InterfaceIndex: id,
	}
	opts := pcapgo.NgPacketOptions{Comments: []string{p.comment(s)}}
	if s.skb != nil && s.skb.id != 0 {
		pid := s.skb.id
		opts.PacketID = &pid
	}
	if s.dir != pcapgo.NgEpbFlagDirectionUnknown {
		opts.Flags = &pcapgo.NgEpbFlags{Direction: s.dir}
	}
	if s.verdict != nil {
		opts.Verdicts = []pcapgo.NgEpbVerdict{*s.verdict}
	}
	if p.n == 0 {
		p.first = s.time
	}
	p.last = s.time
	p.n++
	p.perIf[id]++
	if err := p.ng.WritePacketWithOptions(ci, pk.Data, opts); err != nil {
		return fmt.Errorf("write pcapng packet: %w", err)
	}
	return nil
}

// comment starts with the skb's fate, names the function where the bytes
// were captured, then the skb and its path.
func (p *pcapWriter) comment(s *sighting) string {
	var b strings.Builder
	if s.skb != nil {
		b.WriteString(s.skb.comment)
	} else {
		b.WriteString("unknown")
	}
	b.WriteString("; captured at ")
	b.WriteString(p.c.ProbeName(s.probe))
	if s.skb != nil && s.skb.path != "" {
		b.WriteString("; ")
		b.WriteString(s.skb.path)
	}
	return b.String()
}

// pathText is the journey of st as the packet comments end with it.
func (p *pcapWriter) pathText(st *pcapSKB) string {
	var b strings.Builder
	p.path(&b, st)
	return b.String()
}

func (p *pcapWriter) path(b *strings.Builder, st *pcapSKB) {
	for i, id := range st.funcs {
		if i > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(p.c.ProbeName(id))
	}
	if st.more > 0 {
		fmt.Fprintf(b, " > ... %d more", st.more)
	}
	if st.skipped > 0 {
		fmt.Fprintf(b, "; %d more sightings of this skb not exported", st.skipped)
	}
}

// flush writes the ready sightings that no live skb can precede; all of
// them when final.
func (p *pcapWriter) flush(final bool) error {
	for len(p.ready) > 0 {
		if !final {
			for len(p.live) > 0 && p.live[0].done {
				heap.Pop(&p.live)
			}
			if len(p.live) > 0 && p.live[0].sightings[0].time <= p.ready[0].time {
				return nil
			}
		}
		s := heap.Pop(&p.ready).(*sighting)
		if err := p.write(s); err != nil {
			return err
		}
	}
	return nil
}

// direction tells inbound from outbound where the probe says: XDP and the
// receive paths are inbound, transmit and output paths outbound, and an
// skb of type PACKET_OUTGOING is outbound.
func direction(c *Capture, e *format.Event) pcapgo.NgEpbFlag {
	const packetOutgoing = 4
	if e.Flags&format.FlagXDP != 0 {
		return pcapgo.NgEpbFlagDirectionInbound
	}
	if pr := c.Probe(e.ProbeID); pr != nil {
		if pr.Kind == format.ProbeXDP {
			return pcapgo.NgEpbFlagDirectionInbound
		}
		n := pr.Name
		switch {
		case strings.Contains(n, "xmit") || strings.Contains(n, "_output"):
			return pcapgo.NgEpbFlagDirectionOutbound
		case strings.Contains(n, "receive") || strings.Contains(n, "_rcv"):
			return pcapgo.NgEpbFlagDirectionInbound
		}
	}
	if e.PktType == packetOutgoing {
		return pcapgo.NgEpbFlagDirectionOutbound
	}
	return pcapgo.NgEpbFlagDirectionUnknown
}

// verdict is the epb_verdict of a tc or XDP program's return.
func verdict(c *Capture, e *format.Event) *pcapgo.NgEpbVerdict {
	if e.Flags&format.FlagRetval == 0 {
		return nil
	}
	pr := c.Probe(e.ProbeID)
	if pr == nil {
		return nil
	}
	var t pcapgo.NgEpbVerdictType
	switch pr.Kind {
	case format.ProbeTC:
		t = pcapgo.NgEpbVerdictTypeLinuxeBPFTC
	case format.ProbeXDP:
		t = pcapgo.NgEpbVerdictTypeLinuxeBPFXDP
	default:
		return nil
	}
	data := binary.LittleEndian.AppendUint64(nil, uint64(e.Retval))
	return &pcapgo.NgEpbVerdict{Type: t, Data: data}
}

// WritePcap writes the payloads of the selected skbs as a pcapng stream
// that Wireshark opens, in time order. Each packet is a sighting: a
// payload on the interface and in the netns where an skb carried it (one
// interface per netns, device and link type, named "veth-a@demo-a");
// with PerEvent one packet per event with a payload. Every packet has the
// skb's lifetime id as epb_packetid, the direction in epb_flags where the
// probe tells it, a tc/XDP program's return as epb_verdict, and a comment
// that starts with the skb's fate and names the function where the bytes
// were captured. It returns the number of packets written.
func WritePcap(w io.Writer, c *Capture, o *PcapOptions) (int, error) {
	if o == nil {
		o = &PcapOptions{}
	}
	maxPath := o.MaxPathInComment
	if maxPath <= 0 {
		maxPath = 64
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return 0, err
	}
	pw := &pcapWriter{c: c, bw: bufio.NewWriterSize(w, 64<<10), ifids: map[pcapIf]int{}, names: map[string]int{}, perEvent: o.PerEvent}
	var werr error
	err = s.run(func(e *format.Event, l *life) error {
		if l == nil {
			return nil
		}
		st, _ := l.ext.(*pcapSKB)
		if st == nil {
			st = &pcapSKB{id: l.id, live: -1}
			l.ext = st
		}
		if len(st.funcs) < maxPath {
			st.funcs = append(st.funcs, e.ProbeID)
		} else {
			st.more++
		}
		v := verdict(c, e)
		if e.PayloadID == 0 {
			if v != nil && len(st.sightings) > 0 {
				st.sightings[len(st.sightings)-1].verdict = v
			}
			return nil
		}
		if n := len(st.sightings); !o.PerEvent && n > 0 {
			last := &st.sightings[n-1]
			if last.payload == e.PayloadID && last.netns == e.Netns && last.ifindex == e.Ifindex {
				if v != nil {
					last.verdict = v
				}
				return nil
			}
			if n >= maxSightings {
				st.skipped++
				return nil
			}
		}
		st.sightings = append(st.sightings, sighting{
			time: e.Time, payload: e.PayloadID, netns: e.Netns, ifindex: e.Ifindex,
			probe: e.ProbeID, dir: direction(c, e), verdict: v, seq: pw.seq,
		})
		pw.seq++
		if st.live < 0 {
			heap.Push(&pw.live, st)
		}
		return nil
	}, func(l *life) {
		st, _ := l.ext.(*pcapSKB)
		if st == nil || werr != nil {
			return
		}
		st.done = true
		if len(st.sightings) == 0 {
			return
		}
		st.comment = fateText(c, l)
		if l.track != 0 {
			st.comment += fmt.Sprintf("; skb 0x%x (track %d)", l.addr, l.track)
		} else {
			st.comment += fmt.Sprintf("; skb 0x%x", l.addr)
		}
		if !o.PerEvent {
			// One journey text for all the skb's packets.
			st.path = pw.pathText(st)
		}
		for i := range st.sightings {
			st.sightings[i].skb = st
			heap.Push(&pw.ready, &st.sightings[i])
		}
		werr = pw.flush(false)
	})
	if err == nil {
		err = werr
	}
	if err == nil {
		err = pw.flush(true)
	}
	if err != nil {
		return pw.n, err
	}
	if pw.ng == nil {
		// No packet: still write a valid, empty pcapng.
		if _, err := pw.iface(pcapIf{}); err != nil {
			return 0, err
		}
	}
	if err := pw.stats(); err != nil {
		return pw.n, err
	}
	if err := pw.ng.Flush(); err != nil {
		return pw.n, fmt.Errorf("write pcapng: %w", err)
	}
	if err := pw.bw.Flush(); err != nil {
		return pw.n, fmt.Errorf("write pcapng: %w", err)
	}
	return pw.n, nil
}

// stats writes an interface statistics block per interface: its time
// range, the packets exported on it and, on interface 0, the events the
// kernel ring buffer lost while recording.
func (p *pcapWriter) stats() error {
	off := p.c.File.Header().MonoOffset
	lost := p.c.lostEvents()
	for id, n := range p.perIf {
		st := pcapgo.NgInterfaceStatistics{
			LastUpdate:      time.Unix(0, int64(p.last)+off),
			PacketsReceived: n,
			PacketsDropped:  pcapgo.NgNoValue64,
		}
		if p.n > 0 {
			st.StartTime = time.Unix(0, int64(p.first)+off)
			st.EndTime = time.Unix(0, int64(p.last)+off)
		}
		if id == 0 {
			st.PacketsDropped = lost
		}
		if err := p.ng.WriteInterfaceStats(id, st); err != nil {
			return fmt.Errorf("write pcapng interface statistics: %w", err)
		}
	}
	return nil
}

// pcapSightingHeap orders sightings by time, then by skb and order of capture.
type pcapSightingHeap []*sighting

func (h pcapSightingHeap) Len() int { return len(h) }
func (h pcapSightingHeap) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].seq < h[j].seq
}
func (h pcapSightingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pcapSightingHeap) Push(x any)   { *h = append(*h, x.(*sighting)) }
func (h *pcapSightingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// pcapLiveHeap orders skbs with sightings by the time of their first one.
type pcapLiveHeap []*pcapSKB

func (h pcapLiveHeap) Len() int { return len(h) }
func (h pcapLiveHeap) Less(i, j int) bool {
	return h[i].sightings[0].time < h[j].sightings[0].time
}
func (h pcapLiveHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].live, h[j].live = i, j
}
func (h *pcapLiveHeap) Push(x any) {
	st := x.(*pcapSKB)
	st.live = len(*h)
	*h = append(*h, st)
}
func (h *pcapLiveHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// lostEvents is the number of events the kernel ring buffer lost.
func (c *Capture) lostEvents() uint64 {
	l := c.File.Losses()
	return l.TotalLost()
}
