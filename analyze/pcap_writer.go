package analyze

import (
	"bufio"
	"container/heap"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

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

func (h *pcapSightingHeap) Push(x any) { *h = append(*h, x.(*sighting)) }

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
