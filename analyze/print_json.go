package analyze

import (
	"strconv"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// json appends one event as a JSON object and a newline to p.buf. The
// field names are pwru's (--output-json) plus skb_id, time_ns, time_utc,
// drop_reason, retval, verdict, skb_meta, xdp_meta and bpfmap; they are documented
// in JSON.md and stable.
func (p *printer) json(e *format.Event, l *life) {
	b := p.buf
	b = append(b, `{"skb":"0x`...)
	b = strconv.AppendUint(b, e.SKB, 16)
	if l != nil {
		b = append(b, `","skb_id":`...)
		b = strconv.AppendUint(b, l.id, 10)
		b = append(b, `,"time_ns":`...)
	} else {
		b = append(b, `","time_ns":`...)
	}
	b = strconv.AppendUint(b, e.Time, 10)
	b = append(b, `,"time_utc":"`...)
	b = p.appendUTC(b, e)
	b = append(b, '"')
	b = append(b, `,"cpu":`...)
	b = strconv.AppendUint(b, uint64(e.CPU), 10)
	b = append(b, `,"process":`...)
	b = append(b, p.proc(e).quoted...)
	b = append(b, `,"func":`...)
	b = append(b, p.funcQuoted(e)...)
	if p.o.OutputCaller && e.Caller != 0 {
		b = append(b, `,"caller_func":`...)
		b = render.AppendJSONString(b, p.c.Sym(e.Caller))
	}
	switch p.ts() {
	case TimestampAbsolute:
		b = append(b, `,"time":`...)
		b = render.AppendJSONString(b, p.absolute(e))
	case TimestampCurrent, TimestampRelative:
		b = append(b, `,"time":`...)
		b = strconv.AppendUint(b, p.timestamp(e, l), 10)
	}
	if p.o.OutputMeta {
		b = append(b, `,"netns":`...)
		b = strconv.AppendUint(b, uint64(e.Netns), 10)
		b = append(b, `,"mark":`...)
		b = strconv.AppendUint(b, uint64(e.Mark), 10)
		b = append(b, `,"iface":`...)
		b = p.appendQuoted(b, p.iface(e))
		b = append(b, `,"proto":`...)
		b = strconv.AppendUint(b, uint64(e.Protocol), 10)
		b = append(b, `,"mtu":`...)
		b = strconv.AppendUint(b, uint64(e.MTU), 10)
		b = append(b, `,"len":`...)
		b = strconv.AppendUint(b, uint64(e.Len), 10)
	}
	if p.o.OutputSkbCB {
		if w, ok := p.cbWords(e); ok {
			b = append(b, `,"cb":[`...)
			for i, v := range w {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(v), 10)
			}
			b = append(b, ']')
		}
	}
	if p.o.OutputNetnsNames {
		if n := p.c.NetnsName(e.Netns); n != "" {
			b = append(b, `,"netns_name":`...)
			b = render.AppendJSONString(b, n)
		}
	}
	var pi pktInfo
	if p.o.OutputTCPFlags || p.o.OutputTunnel {
		pi = p.packet(e)
	}
	if p.o.OutputTuple {
		b = append(b, `,"tuple":`...)
		b = append(b, p.tuple(&e.Tuple, pi.tcpFlags, render.AppendJSONTuple)...)
	}
	if p.o.OutputTunnel && pi.innerOK {
		b = append(b, `,"tunnel_tuple":`...)
		b = render.AppendJSONTuple(b, &pi.inner, pi.innerTCP, p.o.OutputTCPFlags)
	}
	if p.o.OutputStack && e.StackID != 0 {
		if ips := p.c.stack(e.StackID); ips != nil {
			b = append(b, `,"stack":[`...)
			first := true
			for _, ip := range ips {
				if ip == 0 {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = render.AppendJSONString(b, p.c.Sym(ip))
			}
			b = append(b, ']')
		}
	}
	if p.o.OutputSkb {
		if s := p.structText(e, format.BlobSKB, "sk_buff"); s != nil {
			b = append(b, `,"skb_metadata":`...)
			b = render.AppendJSONString(b, string(s))
		}
	}
	if p.o.OutputShinfo {
		if s := p.structText(e, format.BlobSharedInfo, "skb_shared_info"); s != nil {
			b = append(b, `,"skb_shared_info":`...)
			b = render.AppendJSONString(b, string(s))
		}
	}
	if e.Flags&format.FlagDropReason != 0 {
		b = append(b, `,"drop_reason":`...)
		if r, ok := p.c.DropReason(e.DropReason); ok {
			b = render.AppendJSONString(b, r)
		} else {
			b = strconv.AppendUint(b, uint64(e.DropReason), 10)
		}
	} else if p.c.reasonlessDrop(e) {
		b = append(b, `,"drop_reason":`...)
		b = render.AppendJSONString(b, NoReasonText)
	}
	if e.Flags&format.FlagRetval != 0 {
		b = append(b, `,"retval":`...)
		b = strconv.AppendInt(b, e.Retval, 10)
		if pr := p.c.Probe(e.ProbeID); pr != nil {
			if n := verdictName(pr.Kind, e.Retval); n != "" {
				b = append(b, `,"verdict":"`...)
				b = append(b, n...)
				b = append(b, '"')
			}
		}
	}
	if e.Blobs[format.BlobMeta] != 0 {
		b = p.appendMetaJSON(b, e, format.BlobMeta)
	}
	if e.Blobs[format.BlobXDPMeta] != 0 {
		b = p.appendMetaJSON(b, e, format.BlobXDPMeta)
	}
	if e.Blobs[format.BlobBPFMap] != 0 {
		b = p.appendBPFMapJSON(b, e)
	}
	p.buf = append(b, "}\n"...)
}

// appendUTC appends the event's wall-clock time as time.RFC3339Nano in
// UTC; the part up to the second is formatted once per second.
func (p *printer) appendUTC(b []byte, e *format.Event) []byte {
	ns := int64(e.Time) + p.c.File.Header().MonoOffset
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if p.utcPrefix == nil || sec != p.utcSec {
		p.utcSec = sec
		p.utcPrefix = time.Unix(sec, 0).UTC().AppendFormat(p.utcPrefix[:0], "2006-01-02T15:04:05")
	}
	b = append(b, p.utcPrefix...)
	if frac != 0 {
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z')
}
