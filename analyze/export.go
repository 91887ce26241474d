package analyze

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// CaptureID identifies a capture across exports: 16 hex digits of a
// SHA-256 of its host, boot id, start, clock offset and event range, so
// exporting the same capture twice gives the same id and two captures
// different ones.
func CaptureID(c *Capture) string {
	h := c.File.Header()
	sum := c.File.Summary()
	d := sha256.New()
	for _, s := range []string{h.Hostname, h.BootID, h.Uname.Release, h.WriterVersion} {
		d.Write([]byte(s))
		d.Write([]byte{0})
	}
	var b [8 * 5]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(h.Start.UnixNano()))
	binary.LittleEndian.PutUint64(b[8:], uint64(h.MonoOffset))
	binary.LittleEndian.PutUint64(b[16:], sum.FirstTime)
	binary.LittleEndian.PutUint64(b[24:], sum.LastTime)
	binary.LittleEndian.PutUint64(b[32:], sum.Events)
	d.Write(b[:])
	return hex.EncodeToString(d.Sum(nil)[:8])
}

// CaptureDay is the UTC day of a capture's first event (of its start when
// it has none): the date partition of the export.
func CaptureDay(c *Capture) string {
	h := c.File.Header()
	sum := c.File.Summary()
	t := h.Start
	if sum.Events > 0 {
		t = time.Unix(0, int64(sum.FirstTime)+h.MonoOffset)
	}
	return t.UTC().Format(time.DateOnly)
}

// probeKindNames names format.ProbeKind values in the events table.
var probeKindNames = [...]string{
	format.ProbeKprobe:      "kprobe",
	format.ProbeKprobeMulti: "kprobe-multi",
	format.ProbeFentry:      "fentry",
	format.ProbeFexit:       "fexit",
	format.ProbeTracepoint:  "tracepoint",
	format.ProbeTC:          "tc",
	format.ProbeXDP:         "xdp",
}

// exporter holds the per-run state of Export.
type exporter struct {
	c       *Capture
	id      string
	kernel  string
	offset  int64
	sink    ExportSink
	jb      *journeyBuilder
	row     ExportEvent
	skbRow  ExportSKB
	retval  int64
	addrs   map[netip.Addr]string
	callers map[uint64]string
	stacks  map[uint32][]string
	ifaces  map[uint64]string // ifaceText by netns<<32 | ifindex
	pkts    map[uint32]pktInfo
	reasons map[uint32]string
	kinds   []string // by probe id
	names   []string // c.ProbeName by probe id
	err     error    // the sink's first error on an skb row
	events  int64
	skbs    int64
	missing map[string]string
	// lastSrc and lastDst are the previous event's tuple addresses as
	// text: an skb's events mostly repeat them.
	lastSrc, lastDst addrText
	// lastIf is the previous event's netns and interface, with their
	// names: they repeat as well.
	lastIf lastIface
}

// lastIface caches the names of an event's netns and interface.
type lastIface struct {
	netns, ifindex    uint32
	ok                bool
	netnsName, ifname string
}

// Export streams the selected events of c and the journeys of the
// selected skbs to sink, and returns the capture's row. It shares
// [Stats]' and [Paths]' computation: an skb row is a lifetime of the
// tracker with its journey, so the counts per function, drop reason and
// flow over the rows are what Stats counts, and the paths what Paths
// shows. Memory is bounded like theirs.
func Export(c *Capture, o *ExportOptions, sink ExportSink) (*ExportCapture, error) {
	if o == nil {
		o = &ExportOptions{}
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return nil, err
	}
	h := c.File.Header()
	x := &exporter{
		c: c, id: CaptureID(c), kernel: h.Uname.Release, offset: h.MonoOffset, sink: sink,
		jb:    newJourneyBuilder(512),
		addrs: map[netip.Addr]string{}, callers: map[uint64]string{}, stacks: map[uint32][]string{}, ifaces: map[uint64]string{},
		pkts: map[uint32]pktInfo{}, reasons: map[uint32]string{}, missing: map[string]string{},
	}
	x.kinds = make([]string, len(c.probes))
	x.names = make([]string, len(c.probes))
	for i, p := range c.probes {
		if p != nil && int(p.Kind) < len(probeKindNames) {
			x.kinds[i] = probeKindNames[p.Kind]
		}
		x.names[i] = c.ProbeName(uint32(i))
	}
	x.row.CaptureID, x.row.Kernel = x.id, x.kernel
	x.skbRow.CaptureID, x.skbRow.Kernel = x.id, x.kernel
	if err := s.run(x.event, x.end); err != nil {
		return nil, err
	}
	if x.err != nil {
		return nil, x.err
	}
	return x.captureRow(o), nil
}

func (x *exporter) event(e *format.Event, l *life) error {
	if x.err != nil {
		return x.err
	}
	c := x.c
	r := &x.row
	r.Time = int64(e.Time) + x.offset
	r.TimeNs = int64(e.Time)
	r.CPU = int32(e.CPU)
	r.PID = int64(e.PID)
	r.Process = e.Comm
	r.Func = x.probeName(e.ProbeID)
	r.ProbeKind = ""
	if int(e.ProbeID) < len(x.kinds) {
		r.ProbeKind = x.kinds[e.ProbeID]
	}
	r.SKBID, r.SKB, r.TrackID = 0, "", int64(e.TrackID)
	if l != nil {
		j := x.jb.event(e, l)
		if j.addr == "" {
			j.addr = "0x" + strconv.FormatUint(l.addr, 16)
		}
		if !j.hasPkt && e.PayloadID != 0 {
			if pi := x.packet(e.PayloadID); pi.ok {
				j.pkt, j.hasPkt = pi, true
			}
		}
		r.SKBID, r.SKB = int64(l.id), j.addr
	} else if e.SKB != 0 {
		r.SKB = "0x" + strconv.FormatUint(e.SKB, 16)
	}
	r.Netns = int64(e.Netns)
	if li := &x.lastIf; !li.ok || li.netns != e.Netns || li.ifindex != e.Ifindex {
		*li = lastIface{netns: e.Netns, ifindex: e.Ifindex, ok: true, netnsName: c.NetnsName(e.Netns), ifname: c.IfName(e.Netns, e.Ifindex)}
	}
	r.NetnsName, r.Ifname = x.lastIf.netnsName, x.lastIf.ifname
	r.Ifindex = int64(e.Ifindex)
	r.Mark = int64(e.Mark)
	r.Protocol = int32(e.Protocol)
	r.Len = int64(e.Len)
	r.MTU = int64(e.MTU)
	r.PktType = int32(e.PktType)
	r.Saddr, r.Daddr = x.lastSrc.text(x, e.Tuple.Src), x.lastDst.text(x, e.Tuple.Dst)
	r.Sport, r.Dport, r.L4Proto = int32(e.Tuple.Sport), int32(e.Tuple.Dport), int32(e.Tuple.Proto)
	r.DropReason = ""
	if e.Flags&format.FlagDropReason != 0 {
		r.DropReason = x.reason(e.DropReason)
	}
	r.Retval, r.Verdict = nil, ""
	if e.Flags&format.FlagRetval != 0 {
		x.retval = e.Retval
		r.Retval = &x.retval
		if p := c.Probe(e.ProbeID); p != nil {
			r.Verdict = verdictName(p.Kind, e.Retval)
		}
	}
	r.Stack = nil
	if e.StackID != 0 {
		r.Stack = x.stack(e.StackID)
	}
	r.Caller = ""
	if e.Caller != 0 {
		r.Caller = x.caller(e.Caller)
	}
	x.events++
	return x.sink.Event(r)
}

func (x *exporter) end(l *life) {
	j := x.jb.end(l)
	if j == nil {
		return
	}
	// The row keeps the journey's strings, never its steps.
	defer x.jb.release(j)
	if l.sel == 0 || x.err != nil {
		return
	}
	xj := j
	r := &x.skbRow
	r.SKBID, r.SKB = int64(l.id), xj.addr
	r.TrackID = int64(l.track)
	r.CloneOf = ""
	if j.parent != 0 {
		r.CloneOf = "0x" + strconv.FormatUint(j.parent, 16)
	}
	r.FirstNs, r.LastNs = int64(l.selFirst), int64(l.selLast)
	r.First, r.Last = r.FirstNs+x.offset, r.LastNs+x.offset
	r.Duration = int64(l.selLast - l.selFirst)
	r.Events = int64(l.sel)
	r.Path = make([]string, len(j.steps))
	r.NetnsSeen, r.Interfaces = nil, nil
	var ns, ifi uint32
	for i, st := range j.steps {
		r.Path[i] = x.probeName(st.probe)
		known := st.netns != 0 || st.ifidx != 0
		if i == 0 || (known && (st.netns != ns || st.ifidx != ifi)) {
			r.Interfaces = append(r.Interfaces, x.iface(st.netns, st.ifidx))
			if i == 0 || st.netns != ns {
				r.NetnsSeen = append(r.NetnsSeen, int64(st.netns))
			}
			ns, ifi = st.netns, st.ifidx
		}
	}
	r.PathMore = int64(j.truncated)
	r.Fate, r.Reason = l.fate.String(), ""
	if l.fate == FateDropped && l.hasRsn {
		r.Reason = x.reason(l.reason)
	}
	t := &l.selTuple
	r.Flow = render.Flow(t)
	r.Saddr, r.Daddr = x.addr(t.Src), x.addr(t.Dst)
	r.Sport, r.Dport, r.L4Proto = int32(t.Sport), int32(t.Dport), int32(t.Proto)
	r.PacketFlow, r.PacketIdent, r.IPID, r.TCPSeq, r.TCPAck, r.ICMPID, r.ICMPSeq = "", nil, nil, nil, nil, nil, nil
	if xj.hasPkt {
		pi := &xj.pkt
		r.PacketFlow = render.Flow(&pi.tuple)
		if pi.hasIdent {
			r.PacketIdent = ptr(int64(pi.ident))
		}
		if pi.hasIPID {
			r.IPID = ptr(int64(pi.ipID))
		}
		switch p := pi.tuple.Proto; {
		case p == 6 && pi.hasIdent:
			r.TCPSeq, r.TCPAck = ptr(int64(pi.ident>>32)), ptr(int64(pi.ident&0xffffffff))
		case (p == 1 || p == 58) && pi.hasIdent:
			r.ICMPID, r.ICMPSeq = ptr(int32(pi.ident>>16&0xffff)), ptr(int32(pi.ident&0xffff))
		}
	}
	x.skbs++
	x.err = x.sink.SKB(r)
}

func ptr[T any](v T) *T { return &v }

func (x *exporter) captureRow(o *ExportOptions) *ExportCapture {
	c := x.c
	h := c.File.Header()
	sum := c.File.Summary()
	loss := c.File.Losses()
	r := &ExportCapture{
		CaptureID: x.id, Hostname: h.Hostname, Kernel: h.Uname.Release, KernelVersion: h.Uname.Version,
		Machine: h.Uname.Machine, BootID: h.BootID, Writer: h.WriterVersion,
		CommandLine: h.CommandLine, Options: h.Options, PcapFilter: h.PcapFilter, Snaplen: int64(h.Snaplen),
		Start: h.Start.UnixNano(), FirstNs: int64(sum.FirstTime), LastNs: int64(sum.LastTime),
		Events: int64(sum.Events), ExportedEvents: x.events, ExportedSKBs: x.skbs, Filter: o.FilterText,
		RingbufLost: int64(loss.TotalLost()), ProbesFailed: int64(loss.ProbesFailed),
		OtherLosses: map[string]int64{}, Truncated: sum.Truncated, Skipped: int64(sum.Skipped),
		Missing: x.missing,
	}
	r.First, r.Last = r.FirstNs+x.offset, r.LastNs+x.offset
	for k, v := range loss.Other {
		r.OtherLosses[k] = int64(v)
	}
	for _, err := range c.Problems() {
		k, v, _ := strings.Cut(err.Error(), ": ")
		r.Missing[k] = v
	}
	return r
}

// probeName is c.ProbeName, computed once per probe.
func (x *exporter) probeName(id uint32) string {
	if int(id) < len(x.names) {
		return x.names[id]
	}
	return x.c.ProbeName(id)
}

// addrText is the last address x.addr turned into text at one place.
type addrText struct {
	a netip.Addr
	s string
}

// text is x.addr(a), without the map lookup when a is the last address.
func (t *addrText) text(x *exporter, a netip.Addr) string {
	if a != t.a {
		t.a, t.s = a, x.addr(a)
	}
	return t.s
}

func (x *exporter) addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	s, ok := x.addrs[a]
	if !ok {
		if len(x.addrs) > 1<<16 {
			clear(x.addrs)
		}
		s = a.String()
		x.addrs[a] = s
	}
	return s
}

// iface is c.ifaceText, cached: a journey's interfaces are few and the
// same for many skbs.
func (x *exporter) iface(netns, ifindex uint32) string {
	k := uint64(netns)<<32 | uint64(ifindex)
	s, ok := x.ifaces[k]
	if !ok {
		if len(x.ifaces) > 1<<14 {
			clear(x.ifaces)
		}
		s = x.c.ifaceText(netns, ifindex)
		x.ifaces[k] = s
	}
	return s
}

func (x *exporter) reason(v uint32) string {
	s, ok := x.reasons[v]
	if !ok {
		var named bool
		if s, named = x.c.DropReason(v); !named {
			s = strconv.FormatUint(uint64(v), 10)
		}
		x.reasons[v] = s
	}
	return s
}

func (x *exporter) caller(a uint64) string {
	s, ok := x.callers[a]
	if !ok {
		if len(x.callers) > 1<<16 {
			clear(x.callers)
		}
		s = x.c.Sym(a)
		x.callers[a] = s
	}
	return s
}

// stack symbolizes a recorded stack (cached by id): never nil, empty
// when it has no frame. A stack the capture does not hold is nil (NULL,
// like one not recorded) and named in the captures table's missing
// column.
func (x *exporter) stack(id uint32) []string {
	if s, ok := x.stacks[id]; ok {
		return s
	}
	ips, err := x.c.File.Stack(id)
	s := []string{}
	if err != nil {
		x.missing["stacks"] = err.Error()
		x.c.noteLost("stack", err)
		s = nil
	}
	for _, ip := range ips {
		if ip != 0 {
			s = append(s, x.c.Sym(ip))
		}
	}
	if len(x.stacks) > 1<<16 {
		clear(x.stacks)
	}
	x.stacks[id] = s
	return s
}

func (x *exporter) packet(id uint32) pktInfo {
	if pi, ok := x.pkts[id]; ok {
		return pi
	}
	var pi pktInfo
	if pk := x.c.packet(id); pk != nil {
		pi = parsePacket(pk.Data, pk.L3)
	}
	if len(x.pkts) > 1<<14 {
		clear(x.pkts)
	}
	x.pkts[id] = pi
	return pi
}
