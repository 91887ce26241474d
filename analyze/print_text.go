package analyze

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

func (p *printer) header() error {
	b := p.buf[:0]
	ts := p.ts()
	if ts == TimestampAbsolute {
		b = fmt.Appendf(b, "%-29s ", "TIME")
	}
	b = fmt.Appendf(b, "%-18s %-3s %-16s", "SKB", "CPU", "PROCESS")
	if ts != TimestampNone {
		b = fmt.Appendf(b, " %-16s", "TIMESTAMP")
	}
	if p.o.OutputMeta {
		b = fmt.Appendf(b, " %-10s %-8s %16s %-6s %-5s %-5s", "NETNS", "MARK/x", render.CenterAlign("IFACE", 16), "PROTO", "MTU", "LEN")
		if p.o.OutputSkbCB {
			b = fmt.Appendf(b, " %-56s", "__sk_buff->cb[]")
		}
	}
	if p.o.OutputNetnsNames {
		b = append(b, render.CenterAlign("NETNS NAME", p.nsWidth)...)
	}
	if p.o.OutputTuple {
		b = append(b, " TUPLE"...)
	}
	b = append(b, " FUNC"...)
	if p.o.OutputCaller {
		b = append(b, " CALLER"...)
	}
	if p.o.OutputTunnel {
		b = append(b, " TUNNEL"...)
	}
	b = append(b, '\n')
	_, err := p.w.Write(b)
	p.buf = b[:0]
	return err
}

// ANSI colours of --color: drops red, tracked events dim.
const (
	colorRed   = "\x1b[31m"
	colorDim   = "\x1b[2m"
	colorReset = "\x1b[0m"
)

// line formats one event as pwru's text output into p.buf.
func (p *printer) line(e *format.Event, l *life) {
	b := p.buf
	ts := p.ts()
	if ts == TimestampAbsolute {
		b = fmt.Appendf(b, "%-29s ", p.absolute(e))
	}
	start := len(b)
	b = append(b, '0', 'x')
	b = strconv.AppendUint(b, e.SKB, 16)
	b = render.Pad(b, start, 18)
	b = append(b, ' ')
	start = len(b)
	b = strconv.AppendUint(b, uint64(e.CPU), 10)
	b = render.Pad(b, start, 3)
	b = append(b, ' ')
	start = len(b)
	b = append(b, p.process(e)...)
	b = render.Pad(b, start, 16)
	if ts != TimestampNone {
		b = append(b, ' ')
		start = len(b)
		b = strconv.AppendUint(b, p.timestamp(e, l), 10)
		b = render.Pad(b, start, 16)
	}
	if p.o.OutputMeta {
		b = append(b, ' ')
		start = len(b)
		b = strconv.AppendUint(b, uint64(e.Netns), 10)
		b = render.Pad(b, start, 10)
		b = append(b, ' ')
		start = len(b)
		b = strconv.AppendUint(b, uint64(e.Mark), 16)
		b = render.Pad(b, start, 8)
		b = append(b, ' ')
		b = append(b, p.ifaceCol(e)...)
		// %#04x
		b = append(b, ' ', '0', 'x')
		pr := e.Protocol
		b = append(b, render.HexDigits[pr>>12&0xf], render.HexDigits[pr>>8&0xf], render.HexDigits[pr>>4&0xf], render.HexDigits[pr&0xf])
		b = append(b, ' ')
		start = len(b)
		b = strconv.AppendUint(b, uint64(e.MTU), 10)
		b = render.Pad(b, start, 5)
		b = append(b, ' ')
		start = len(b)
		b = strconv.AppendUint(b, uint64(e.Len), 10)
		b = render.Pad(b, start, 5)
		if p.o.OutputSkbCB {
			b = append(b, ' ')
			b = p.appendCB(b, e)
		}
	}
	if p.o.OutputNetnsNames {
		if n := p.c.NetnsName(e.Netns); n != "" {
			if len(n) > p.nsWidth {
				n = n[:p.nsWidth]
			}
			b = append(b, render.CenterAlign(n, p.nsWidth)...)
		} else {
			b = append(b, strings.Repeat(" ", p.nsWidth)...)
		}
	}
	var pi pktInfo
	if p.o.OutputTCPFlags || p.o.OutputTunnel {
		pi = p.packet(e)
	}
	if p.o.OutputTuple {
		start := len(b) + 1
		b = append(b, ' ')
		b = append(b, p.tuple(&e.Tuple, pi.tcpFlags, render.AppendTuple)...)
		if n := len(b) - start; n > p.maxTuple {
			p.maxTuple = n
		} else {
			for range p.maxTuple - n {
				b = append(b, ' ')
			}
		}
	}
	fn := p.funcName(e)
	color := ""
	if p.o.Color {
		switch {
		case e.Flags&format.FlagDropReason != 0:
			color = colorRed
		case e.Flags&format.FlagTracked != 0:
			color = colorDim
		}
	}
	b = append(b, ' ')
	b = append(b, color...)
	b = append(b, fn...)
	if color != "" {
		b = append(b, colorReset...)
	}
	if p.o.OutputCaller {
		if len(fn) > p.maxFunc {
			p.maxFunc = len(fn)
		}
		for range p.maxFunc - len(fn) {
			b = append(b, ' ')
		}
		b = append(b, ' ')
		if e.Caller != 0 {
			b = append(b, p.c.Sym(e.Caller)...)
		}
	}
	if e.Flags&format.FlagRetval != 0 {
		b = append(b, " retval="...)
		b = p.retvalText(b, e)
	}
	if e.Blobs[format.BlobMeta] != 0 {
		b = p.appendMetaText(b, e, format.BlobMeta)
	}
	if e.Blobs[format.BlobXDPMeta] != 0 {
		b = p.appendMetaText(b, e, format.BlobXDPMeta)
	}
	if p.o.OutputStack && e.StackID != 0 {
		if ips := p.c.stack(e.StackID); ips != nil {
			for _, ip := range ips {
				if ip != 0 {
					b = append(b, '\n')
					b = append(b, p.c.Sym(ip)...)
				}
			}
		}
	}
	if p.o.OutputSkb {
		b = p.appendStruct(b, e, format.BlobSKB, "sk_buff")
	}
	if p.o.OutputShinfo {
		b = p.appendStruct(b, e, format.BlobSharedInfo, "skb_shared_info")
	}
	if e.Blobs[format.BlobBPFMap] != 0 {
		b = p.appendBPFMapText(b, e)
	}
	if p.o.OutputTunnel {
		b = append(b, ' ')
		var zero format.Tuple
		if pi.innerOK {
			b = render.AppendTuple(b, &pi.inner, pi.innerTCP, p.o.OutputTCPFlags)
		} else {
			b = render.AppendTuple(b, &zero, 0, false)
		}
	}
	p.buf = append(b, '\n')
}

// ifaceCol is the IFACE column: the interface centered in 16 columns.
func (p *printer) ifaceCol(e *format.Event) string {
	k := ifKey{e.Netns, e.Ifindex}
	if s, ok := p.ifCols[k]; ok {
		return s
	}
	s := render.CenterAlign(p.iface(e), 16)
	if p.ifCols == nil {
		p.ifCols = map[ifKey]string{}
	}
	p.ifCols[k] = s
	return s
}

// cbWords returns __sk_buff->cb[]: the 5 words of qdisc_skb_cb.data, at
// offset 8 of skb->cb.
func (p *printer) cbWords(e *format.Event) ([5]uint32, bool) {
	var w [5]uint32
	id := e.Blobs[format.BlobCB]
	if id == 0 {
		return w, false
	}
	_, data, err := p.c.blob(id)
	if err != nil {
		return w, false
	}
	if len(data) < 28 {
		p.c.noteUnusable(fmt.Errorf("read skb->cb: blob %d holds %d bytes, not 28", id, len(data)))
		return w, false
	}
	order := p.c.ByteOrder()
	for i := range w {
		w[i] = order.Uint32(data[8+4*i:])
	}
	return w, true
}

func (p *printer) appendCB(b []byte, e *format.Event) []byte {
	w, ok := p.cbWords(e)
	if !ok {
		// Not recorded for this event: said, never shown as zeros.
		return fmt.Appendf(b, "%-56s", "(no skb->cb recorded)")
	}
	b = append(b, '[')
	for i, v := range w {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "0x%08X", v)
	}
	return append(b, ']')
}

// appendStruct appends "\n" and the BTF rendering of the event's blob of
// the given kind as struct name.
func (p *printer) appendStruct(b []byte, e *format.Event, kind int, name string) []byte {
	s := p.structText(e, kind, name)
	if s == nil {
		return b
	}
	b = append(b, '\n')
	return append(b, s...)
}

func (p *printer) structText(e *format.Event, kind int, name string) []byte {
	id := e.Blobs[kind]
	if id == 0 {
		return nil
	}
	_, data, err := p.c.blob(id)
	if err != nil {
		return nil
	}
	typ := p.c.StructType(name)
	if typ == nil {
		return fmt.Appendf(nil, "(struct %s){ %d bytes, no BTF in capture }\n", name, len(data))
	}
	return render.AppendBTF(nil, typ, data, p.c.ByteOrder())
}
