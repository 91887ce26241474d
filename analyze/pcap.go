package analyze

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

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

// lostEvents is the number of events the kernel ring buffer lost.
func (c *Capture) lostEvents() uint64 {
	l := c.File.Losses()
	return l.TotalLost()
}
