package analyze

import (
	"bufio"
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
	// PerEvent writes one packet per event that has a payload (comment:
	// function and skb) instead of one per distinct payload of each skb
	// (comment: the skb's path and fate).
	PerEvent bool
	// MaxPathInComment bounds the functions listed in a comment (0 = 64).
	MaxPathInComment int
}

// pcapSKB is the per-skb state of WritePcap.
type pcapSKB struct {
	payloads []pcapRef
	funcs    []uint32
	more     int
}

// pcapRef is a payload as first seen by one skb.
type pcapRef struct {
	id, netns, ifindex uint32
	time               uint64
}

// pcapWriter adds interfaces lazily: one per (netns, ifindex, link type),
// named "ifname@netns-inode".
type pcapWriter struct {
	c     *Capture
	bw    *bufio.Writer
	ng    *pcapgo.NgWriter
	ifids map[pcapIf]int
	n     int
}

type pcapIf struct {
	netns, ifindex uint32
	l3             bool
}

func (p *pcapWriter) iface(k pcapIf) (int, error) {
	if id, ok := p.ifids[k]; ok {
		return id, nil
	}
	name := p.c.IfName(k.netns, k.ifindex)
	if name == "" {
		name = "if" + strconv.FormatUint(uint64(k.ifindex), 10)
	}
	desc := fmt.Sprintf("ifindex %d in netns %d", k.ifindex, k.netns)
	if n := p.c.NetnsName(k.netns); n != "" {
		desc += " (" + n + ")"
	}
	lt := layers.LinkTypeEthernet
	if k.l3 {
		lt = layers.LinkTypeRaw
	}
	snap := p.c.File.Header().Snaplen
	if snap == 0 {
		snap = 65535
	}
	intf := pcapgo.NgInterface{
		Name:                name + "@" + strconv.FormatUint(uint64(k.netns), 10),
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
		opts.SectionInfo = pcapgo.NgSectionInfo{
			Hardware:    h.Uname.Machine,
			OS:          strings.TrimSpace(h.Uname.Sysname + " " + h.Uname.Release),
			Application: "pwru-replay",
			Comment:     "exported from a pwru-record capture of " + h.Hostname,
		}
		p.ng, err = pcapgo.NewNgWriterInterface(p.bw, intf, opts)
	} else {
		id, err = p.ng.AddInterface(intf)
	}
	if err != nil {
		return 0, fmt.Errorf("write pcapng interface: %w", err)
	}
	p.ifids[k] = id
	return id, nil
}

func (p *pcapWriter) packet(pk *format.Packet, t uint64, comment string) error {
	id, err := p.iface(pcapIf{pk.Netns, pk.Ifindex, pk.L3})
	if err != nil {
		return err
	}
	orig := int(pk.OrigLen)
	if orig < len(pk.Data) {
		orig = len(pk.Data)
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      time.Unix(0, int64(t)+p.c.File.Header().MonoOffset),
		CaptureLength:  len(pk.Data),
		Length:         orig,
		InterfaceIndex: id,
	}
	var opts pcapgo.NgPacketOptions
	if comment != "" {
		opts.Comments = []string{comment}
	}
	p.n++
	if err := p.ng.WritePacketWithOptions(ci, pk.Data, opts); err != nil {
		return fmt.Errorf("write pcapng packet: %w", err)
	}
	return nil
}

// WritePcap writes the payloads of the selected skbs as a pcapng stream
// that Wireshark opens: one interface per (netns, ifindex) named
// "veth0@4026532345", and per packet a comment with its skb's path, or
// with PerEvent one packet per event with the function and skb. It
// returns the number of packets written.
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
	pw := &pcapWriter{c: c, bw: bufio.NewWriterSize(w, 64<<10), ifids: map[pcapIf]int{}}
	var werr error
	err = s.run(func(e *format.Event, l *life) error {
		if o.PerEvent {
			if e.PayloadID == 0 {
				return nil
			}
			pk, err := c.File.Packet(e.PayloadID)
			if err != nil {
				if c.File.Options().SkipCorrupt {
					c.noteLost("payload", err)
					return nil
				}
				return err
			}
			pkc := *pk
			if e.Ifindex != 0 {
				pkc.Netns, pkc.Ifindex = e.Netns, e.Ifindex
			}
			return pw.packet(&pkc, e.Time, fmt.Sprintf("%s skb 0x%x", (&printer{c: c}).funcName(e), e.SKB))
		}
		if l == nil {
			return nil
		}
		st, _ := l.ext.(*pcapSKB)
		if st == nil {
			st = &pcapSKB{}
			l.ext = st
		}
		if e.PayloadID != 0 && (len(st.payloads) == 0 || st.payloads[len(st.payloads)-1].id != e.PayloadID) && len(st.payloads) < 64 {
			st.payloads = append(st.payloads, pcapRef{id: e.PayloadID, netns: e.Netns, ifindex: e.Ifindex, time: e.Time})
		}
		if len(st.funcs) < maxPath {
			st.funcs = append(st.funcs, e.ProbeID)
		} else {
			st.more++
		}
		return nil
	}, func(l *life) {
		st, _ := l.ext.(*pcapSKB)
		if st == nil || werr != nil || len(st.payloads) == 0 {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "skb 0x%x", l.addr)
		if l.track != 0 {
			fmt.Fprintf(&b, " (track %d)", l.track)
		}
		b.WriteString(": ")
		for i, id := range st.funcs {
			if i > 0 {
				b.WriteString(" > ")
			}
			b.WriteString(c.ProbeName(id))
		}
		if st.more > 0 {
			fmt.Fprintf(&b, " > ... %d more", st.more)
		}
		b.WriteString("; ")
		b.WriteString(fateText(c, l))
		comment := b.String()
		for _, ref := range st.payloads {
			pk, err := c.File.Packet(ref.id)
			if err != nil {
				if c.File.Options().SkipCorrupt {
					c.noteLost("payload", err)
					continue
				}
				werr = err
				return
			}
			pkc := *pk
			if ref.ifindex != 0 {
				pkc.Netns, pkc.Ifindex = ref.netns, ref.ifindex
			}
			if werr = pw.packet(&pkc, ref.time, comment); werr != nil {
				return
			}
		}
	})
	if err == nil {
		err = werr
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
	if err := pw.ng.Flush(); err != nil {
		return pw.n, fmt.Errorf("write pcapng: %w", err)
	}
	if err := pw.bw.Flush(); err != nil {
		return pw.n, fmt.Errorf("write pcapng: %w", err)
	}
	return pw.n, nil
}
