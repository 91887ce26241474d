package analyze

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// Return values of tc BPF programs (TC_ACT_*, include/uapi/linux/pkt_cls.h).
var tcVerdicts = map[int64]string{
	-1: "TC_ACT_UNSPEC",
	0:  "TC_ACT_OK",
	1:  "TC_ACT_RECLASSIFY",
	2:  "TC_ACT_SHOT",
	3:  "TC_ACT_PIPE",
	4:  "TC_ACT_STOLEN",
	5:  "TC_ACT_QUEUED",
	6:  "TC_ACT_REPEAT",
	7:  "TC_ACT_REDIRECT",
	8:  "TC_ACT_TRAP",
}

// Return values of XDP programs (enum xdp_action, include/uapi/linux/bpf.h).
var xdpVerdicts = map[int64]string{
	0: "XDP_ABORTED",
	1: "XDP_DROP",
	2: "XDP_PASS",
	3: "XDP_TX",
	4: "XDP_REDIRECT",
}

// verdictName names the return value of a tc or XDP program ("TC_ACT_SHOT",
// "XDP_DROP"); it returns "" for other probes and unknown values.
func verdictName(kind format.ProbeKind, v int64) string {
	switch kind {
	case format.ProbeTC:
		return tcVerdicts[v]
	case format.ProbeXDP:
		return xdpVerdicts[v]
	}
	return ""
}

// retvalText is the return value of e as text output shows it: the
// verdict name for tc and XDP programs, the signed number otherwise.
func (p *printer) retvalText(b []byte, e *format.Event) []byte {
	if pr := p.c.Probe(e.ProbeID); pr != nil {
		if n := verdictName(pr.Kind, e.Retval); n != "" {
			return append(b, n...)
		}
	}
	return strconv.AppendInt(b, e.Retval, 10)
}

// metaNames returns the --output-skb-metadata expressions the capture was
// recorded with, in option order (the header option is comma-separated).
func metaNames(h *format.Header) []string {
	if h == nil {
		return nil
	}
	v := strings.TrimSpace(h.Options["output-skb-metadata"])
	if v == "" {
		return nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// metaField is one --output-skb-metadata value of an event.
type metaField struct {
	expr  string
	value uint64
}

// metaFields decodes the event's metadata blob: 8 bytes per field in the
// order of the recorder's option. A field past the recorded expressions is
// named "meta[i]".
func (p *printer) metaFields(e *format.Event) []metaField {
	id := e.Blobs[format.BlobMeta]
	if id == 0 {
		return nil
	}
	_, data, err := p.c.File.Blob(id)
	if err != nil {
		return nil
	}
	if !p.metaDone {
		p.metaDone = true
		p.metaNames = metaNames(p.c.File.Header())
	}
	order := p.c.ByteOrder()
	fields := p.metaBuf[:0]
	for i := 0; i+8 <= len(data); i += 8 {
		name := "meta[" + strconv.Itoa(i/8) + "]"
		if i/8 < len(p.metaNames) && p.metaNames[i/8] != "" {
			name = p.metaNames[i/8]
		}
		fields = append(fields, metaField{name, order.Uint64(data[i:])})
	}
	p.metaBuf = fields
	return fields
}

// appendMetaText appends " skb->hash=0x1a2b skb->mark=0x0" (values in hex).
func (p *printer) appendMetaText(b []byte, e *format.Event) []byte {
	for _, f := range p.metaFields(e) {
		b = append(b, ' ')
		b = append(b, f.expr...)
		b = append(b, '=', '0', 'x')
		b = strconv.AppendUint(b, f.value, 16)
	}
	return b
}

// appendMetaJSON appends `,"skb_meta":[{"expr":"skb->hash","value":6699}]`.
func (p *printer) appendMetaJSON(b []byte, e *format.Event) []byte {
	fields := p.metaFields(e)
	if len(fields) == 0 {
		return b
	}
	b = append(b, `,"skb_meta":[`...)
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"expr":`...)
		b = appendJSONString(b, f.expr)
		b = append(b, `,"value":`...)
		b = strconv.AppendUint(b, f.value, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// bpfMap returns the event's --output-bpfmap bytes (nil without).
func (p *printer) bpfMap(e *format.Event) []byte {
	id := e.Blobs[format.BlobBPFMap]
	if id == 0 {
		return nil
	}
	_, data, err := p.c.File.Blob(id)
	if err != nil {
		return nil
	}
	return data
}

// appendBPFMapText appends "\nbpf map: 0a000002 01000000" (hex, in groups
// of 4 bytes) when the event carries BPF map bytes.
func appendBPFMapText(b []byte, data []byte) []byte {
	if data == nil {
		return b
	}
	b = append(b, "\nbpf map:"...)
	for i := 0; i < len(data); i += 4 {
		b = append(b, ' ')
		b = hex.AppendEncode(b, data[i:min(i+4, len(data))])
	}
	return b
}
