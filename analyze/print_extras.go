package analyze

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
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

// metaNames returns the expressions of option ("output-skb-metadata" or
// "output-xdp-metadata") the capture was recorded with, in option order
// (the header option is comma-separated).
func metaNames(h *format.Header, option string) []string {
	if h == nil {
		return nil
	}
	v := strings.TrimSpace(h.Options[option])
	if v == "" {
		return nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// metaField is one --output-skb-metadata (--output-xdp-metadata) value of
// an event.
type metaField struct {
	expr  string
	value uint64
}

// metaFields decodes the event's metadata blob of kind (BlobMeta for the
// sk_buff fields, BlobXDPMeta for the xdp_buff fields): 8 bytes per field
// in the order of the recorder's option. A field past the recorded
// expressions is named "meta[i]" ("xdp_meta[i]").
func (p *printer) metaFields(e *format.Event, kind int) []metaField {
	id := e.Blobs[kind]
	if id == 0 {
		return nil
	}
	_, data, err := p.c.blob(id)
	if err != nil {
		return nil
	}
	if !p.metaDone {
		p.metaDone = true
		h := p.c.File.Header()
		p.metaNames = metaNames(h, "output-skb-metadata")
		p.xdpMetaNames = metaNames(h, "output-xdp-metadata")
		// A recorder before pwru's expressions took the option as a
		// bool and stored the raw data_meta bytes in this blob kind:
		// they are no fields, so they are not shown as such.
		if len(p.xdpMetaNames) == 1 && !strings.HasPrefix(p.xdpMetaNames[0], "xdp->") {
			p.xdpMetaRaw = true
		}
	}
	if kind == format.BlobXDPMeta && p.xdpMetaRaw {
		return nil
	}
	names, unnamed := p.metaNames, "meta["
	if kind == format.BlobXDPMeta {
		names, unnamed = p.xdpMetaNames, "xdp_meta["
	}
	order := p.c.ByteOrder()
	fields := p.metaBuf[:0]
	for i := 0; i+8 <= len(data); i += 8 {
		name := unnamed + strconv.Itoa(i/8) + "]"
		if i/8 < len(names) && names[i/8] != "" {
			name = names[i/8]
		}
		fields = append(fields, metaField{name, order.Uint64(data[i:])})
	}
	p.metaBuf = fields
	return fields
}

// appendMetaText appends " skb->hash=0x1a2b skb->mark=0x0" (values in hex)
// for the fields of blob kind (BlobMeta, BlobXDPMeta).
func (p *printer) appendMetaText(b []byte, e *format.Event, kind int) []byte {
	for _, f := range p.metaFields(e, kind) {
		b = append(b, ' ')
		b = append(b, f.expr...)
		b = append(b, '=', '0', 'x')
		b = strconv.AppendUint(b, f.value, 16)
	}
	return b
}

// appendMetaJSON appends `,"skb_meta":[{"expr":"skb->hash","value":6699}]`
// for BlobMeta, `,"xdp_meta":[...]` for BlobXDPMeta.
func (p *printer) appendMetaJSON(b []byte, e *format.Event, kind int) []byte {
	fields := p.metaFields(e, kind)
	if len(fields) == 0 {
		return b
	}
	if kind == format.BlobXDPMeta {
		b = append(b, `,"xdp_meta":[`...)
	} else {
		b = append(b, `,"skb_meta":[`...)
	}
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"expr":`...)
		b = render.AppendJSONString(b, f.expr)
		b = append(b, `,"value":`...)
		b = strconv.AppendUint(b, f.value, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// bpfMap returns the event's --output-bpfmap operation: a (nil, nil, nil)
// without one, the raw bytes and the error for a blob that does not parse.
func (p *printer) bpfMap(e *format.Event) (*format.BPFMapAccess, []byte, error) {
	id := e.Blobs[format.BlobBPFMap]
	if id == 0 {
		return nil, nil, nil
	}
	_, data, err := p.c.blob(id)
	if err != nil {
		return nil, nil, err
	}
	a, err := format.ParseBPFMapAccess(data)
	return a, data, err
}

// appendBPFMapText appends the map operation as pwru prints it, on lines
// of its own after the event:
//
//	map_id: 12
//	map_name: vmt_ports
//	key(4):
//	00000000  71 17 00 00                                       |q...|
//	value(8):
//	00000000  01 00 00 00 00 00 00 00                           |........|
//
// The value is left out for a delete; a lookup that found nothing shows
// "value(8): not found"; bytes the recorder cut are said so
// ("key(300, 128 recorded):"). A blob that does not parse is shown in hex
// with the reason.
func (p *printer) appendBPFMapText(b []byte, e *format.Event) []byte {
	a, raw, err := p.bpfMap(e)
	if err != nil {
		b = append(b, "\nbpf map: "...)
		b = append(b, err.Error()...)
		if raw != nil {
			b = append(b, ": "...)
			b = hex.AppendEncode(b, raw)
		}
		return b
	}
	if a == nil {
		return b
	}
	b = append(b, "\nmap_id: "...)
	b = strconv.AppendUint(b, uint64(a.ID), 10)
	b = append(b, "\nmap_name: "...)
	b = append(b, a.Name...)
	b = appendBytesText(b, "key", a.KeySize, a.Key, a.KeyTruncated(), a.Flags&format.BPFMapKeyError != 0)
	switch {
	case a.Op == format.BPFMapDelete:
	case a.Op == format.BPFMapLookup && a.Flags&format.BPFMapNotFound != 0:
		b = appendSizeText(b, "value", a.ValueSize)
		b = append(b, " not found"...)
	case a.Flags&format.BPFMapValuePerCPU != 0:
		b = appendSizeText(b, "value", a.ValueSize)
		b = append(b, " per-CPU, not recorded"...)
	default:
		b = appendBytesText(b, "value", a.ValueSize, a.Value, a.ValueTruncated(), a.Flags&format.BPFMapValueError != 0)
	}
	return b
}

// appendSizeText appends "\nkey(4):".
func appendSizeText(b []byte, what string, size uint32) []byte {
	b = append(b, '\n')
	b = append(b, what...)
	b = append(b, '(')
	b = strconv.AppendUint(b, uint64(size), 10)
	return append(b, "):"...)
}

// appendBytesText appends "\nkey(4):" and a hex dump of data on the
// following lines.
func appendBytesText(b []byte, what string, size uint32, data []byte, truncated, unreadable bool) []byte {
	b = appendSizeText(b, what, size)
	if truncated {
		b = b[:len(b)-2]
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(len(data)), 10)
		b = append(b, " recorded):"...)
	}
	if unreadable {
		return append(b, " unreadable"...)
	}
	if len(data) == 0 {
		return b
	}
	b = append(b, '\n')
	return append(b, strings.TrimSuffix(hex.Dump(data), "\n")...)
}

// appendBPFMapJSON appends `,"bpfmap":{...}` (see JSON.md).
func (p *printer) appendBPFMapJSON(b []byte, e *format.Event) []byte {
	a, raw, err := p.bpfMap(e)
	if err != nil {
		b = append(b, `,"bpfmap":{"error":`...)
		b = render.AppendJSONString(b, err.Error())
		if raw != nil {
			b = append(b, `,"raw":"`...)
			b = hex.AppendEncode(b, raw)
			b = append(b, '"')
		}
		return append(b, '}')
	}
	if a == nil {
		return b
	}
	b = append(b, `,"bpfmap":{"id":`...)
	b = strconv.AppendUint(b, uint64(a.ID), 10)
	b = append(b, `,"name":`...)
	b = render.AppendJSONString(b, a.Name)
	b = append(b, `,"type":`...)
	b = strconv.AppendUint(b, uint64(a.Type), 10)
	b = append(b, `,"op":"`...)
	b = append(b, a.Op.String()...)
	b = append(b, `","key_size":`...)
	b = strconv.AppendUint(b, uint64(a.KeySize), 10)
	b = append(b, `,"value_size":`...)
	b = strconv.AppendUint(b, uint64(a.ValueSize), 10)
	if a.Flags&format.BPFMapKeyError == 0 {
		b = append(b, `,"key":"`...)
		b = hex.AppendEncode(b, a.Key)
		b = append(b, '"')
	}
	if a.Op == format.BPFMapLookup {
		b = append(b, `,"found":`...)
		b = strconv.AppendBool(b, a.Flags&format.BPFMapNotFound == 0)
	}
	if a.Op == format.BPFMapUpdate {
		b = append(b, `,"update_flags":`...)
		b = strconv.AppendUint(b, a.UpdateFlags, 10)
	}
	if len(a.Value) > 0 {
		b = append(b, `,"value":"`...)
		b = hex.AppendEncode(b, a.Value)
		b = append(b, '"')
	}
	for _, f := range [...]struct {
		name string
		on   bool
	}{
		{"key_truncated", a.KeyTruncated()},
		{"value_truncated", a.ValueTruncated()},
		{"key_unreadable", a.Flags&format.BPFMapKeyError != 0},
		{"value_unreadable", a.Flags&format.BPFMapValueError != 0},
		{"value_percpu", a.Flags&format.BPFMapValuePerCPU != 0},
	} {
		if f.on {
			b = append(b, `,"`...)
			b = append(b, f.name...)
			b = append(b, `":true`...)
		}
	}
	return append(b, '}')
}
