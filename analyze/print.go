package analyze

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// Timestamp modes of [PrintOptions.Timestamp], as pwru's --timestamp.
const (
	TimestampNone     = "none"     // no timestamp column
	TimestampCurrent  = "current"  // kernel monotonic ns of the event
	TimestampRelative = "relative" // ns since the previous event of the same skb
	TimestampAbsolute = "absolute" // wall-clock time of the event (capture clock)
)

// PrintOptions selects pwru's columns and extras.
type PrintOptions struct {
	Filter Filter

	OutputMeta       bool // NETNS MARK IFACE PROTO MTU LEN (pwru default on)
	OutputTuple      bool // TUPLE (pwru default on)
	OutputTunnel     bool // inner tuple of VXLAN/Geneve payloads
	OutputTCPFlags   bool // TCP flags after the protocol in tuples
	OutputSkb        bool // struct sk_buff rendered with the capture's BTF
	OutputShinfo     bool // struct skb_shared_info rendered with BTF
	OutputSkbCB      bool // __sk_buff->cb[] words
	OutputStack      bool // kernel stack, one symbolized frame per line
	OutputCaller     bool // CALLER column
	OutputNetnsNames bool // NETNS NAME column
	// NetnsNamesMaxLength is the width of the NETNS NAME column (0 = 16).
	NetnsNamesMaxLength int
	// Timestamp is one of the Timestamp* modes ("" = none).
	Timestamp string
	// LimitLines stops after this many events (0 = no limit).
	LimitLines uint64
	// JSON writes one JSON object per event (see JSON.md).
	JSON bool
	// Color highlights drops and tracked events with ANSI colours.
	Color bool
	// Location is the time zone of absolute timestamps (nil = UTC).
	Location *time.Location
}

// absoluteLayout is the TIME column of --timestamp absolute: the time
// in the chosen zone, with the zone ("Z" for UTC).
const absoluteLayout = "2006-01-02T15:04:05.000Z07:00"

// printer holds the per-run state of Print.
type printer struct {
	c        *Capture
	o        *PrintOptions
	w        *bufio.Writer
	buf      []byte
	maxTuple int
	maxFunc  int
	nsWidth  int
	ifNames  map[ifKey]string
	ifCols   map[ifKey]string
	pktCache map[uint32]pktInfo
	n        uint64

	procs     map[uint32]procName
	funcs     []string // FUNC column by probe id for events without drop reason
	funcsQ    [][]byte // the same as JSON strings
	lastTuple format.Tuple
	lastFlags uint8
	tupleText []byte // rendering of lastTuple (text or JSON)
	tupleOK   bool
	// recentTuples caches renderings of recent tuples (text or JSON).
	recentTuples [16]recentTuple
	nextTuple    int
	lastProc     procName
	lastPID      uint32
	// quoted caches JSON string literals of process and function names.
	quoted map[string][]byte
	// metaNames are the --output-skb-metadata expressions of the capture.
	metaNames []string
	// xdpMetaNames are its --output-xdp-metadata expressions.
	xdpMetaNames []string
	xdpMetaRaw   bool // the capture's xdp metadata blobs are raw bytes (old recorder)
	metaDone     bool
	metaBuf      []metaField
	// utcSec and utcPrefix cache the JSON time_utc up to the second.
	utcSec    int64
	utcPrefix []byte
}

type recentTuple struct {
	k tupleKey
	r []byte
}

type tupleKey struct {
	t     format.Tuple
	flags uint8
}

// tuple returns the rendering of e's tuple, cached.
func (p *printer) tuple(t *format.Tuple, flags uint8, render func([]byte, *format.Tuple, uint8, bool) []byte) []byte {
	if p.tupleOK && *t == p.lastTuple && flags == p.lastFlags {
		return p.tupleText
	}
	k := tupleKey{*t, flags}
	var r []byte
	for i := range p.recentTuples {
		if p.recentTuples[i].r != nil && p.recentTuples[i].k == k {
			r = p.recentTuples[i].r
			break
		}
	}
	if r == nil {
		r = render(nil, t, flags, p.o.OutputTCPFlags)
		p.recentTuples[p.nextTuple] = recentTuple{k, r}
		p.nextTuple = (p.nextTuple + 1) % len(p.recentTuples)
	}
	p.lastTuple, p.lastFlags, p.tupleText, p.tupleOK = *t, flags, r, true
	return r
}

// appendQuoted appends s as a JSON string, cached.
func (p *printer) appendQuoted(b []byte, s string) []byte {
	q, ok := p.quoted[s]
	if !ok {
		if p.quoted == nil || len(p.quoted) > 4096 {
			p.quoted = map[string][]byte{}
		}
		q = render.AppendJSONString(nil, s)
		p.quoted[s] = q
	}
	return append(b, q...)
}

type procName struct {
	comm, text string
	quoted     []byte // text as a JSON string
}

// Print writes the capture's selected events to w in pwru's live format,
// or as JSON lines with o.JSON. Whatever the recorder stored for an event
// is shown after FUNC: its return value ("retval=TC_ACT_SHOT" for tc and
// XDP programs, the signed number for other probes), its
// --output-skb-metadata and --output-xdp-metadata values
// ("skb->hash=0x9e3779b9", "xdp->rxq->queue_index=0x0", named by the
// capture's recorder options), and its --output-bpfmap map operation on
// lines of their own (map id, name, key and value in hex, as pwru prints
// them).
func Print(w io.Writer, c *Capture, o *PrintOptions) error {
	if o == nil {
		o = &PrintOptions{OutputMeta: true, OutputTuple: true}
	}
	switch o.Timestamp {
	case "", TimestampNone, TimestampCurrent, TimestampRelative, TimestampAbsolute:
	default:
		return fmt.Errorf("print: timestamp mode %q is not none, relative, absolute or current", o.Timestamp)
	}
	oc := *o
	MissingData(c, &oc)
	o = &oc
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return err
	}
	p := &printer{
		c: c, o: o, w: bufio.NewWriterSize(w, 64<<10),
		ifNames:  map[ifKey]string{},
		pktCache: map[uint32]pktInfo{},
		nsWidth:  o.NetnsNamesMaxLength,
	}
	if p.nsWidth <= 0 {
		p.nsWidth = 16
	}
	if p.nsWidth < 10 {
		p.nsWidth = 10
	}
	if !o.JSON {
		if err := p.header(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	handle := func(e *format.Event, l *life) error {
		if o.LimitLines != 0 && p.n >= o.LimitLines {
			return errStop
		}
		p.n++
		p.buf = p.buf[:0]
		if o.JSON {
			p.json(e, l)
		} else {
			p.line(e, l)
		}
		if _, err := p.w.Write(p.buf); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	if o.Timestamp == TimestampRelative || o.JSON {
		// JSON names each skb lifetime (skb_id).
		err = s.run(handle, nil)
	} else {
		err = s.runEvents(handle)
	}
	if ferr := p.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return err
}

func (p *printer) ts() string {
	if p.o.Timestamp == "" {
		return TimestampNone
	}
	return p.o.Timestamp
}

func (p *printer) process(e *format.Event) string { return p.proc(e).text }

func (p *printer) proc(e *format.Event) procName {
	if p.lastProc.quoted != nil && p.lastPID == e.PID && p.lastProc.comm == e.Comm {
		return p.lastProc
	}
	if pn, ok := p.procs[e.PID]; ok && pn.comm == e.Comm {
		p.lastPID, p.lastProc = e.PID, pn
		return pn
	}
	if p.procs == nil || len(p.procs) > 1<<14 {
		p.procs = map[uint32]procName{}
	}
	text := processText(e)
	pn := procName{e.Comm, text, render.AppendJSONString(nil, text)}
	p.procs[e.PID] = pn
	p.lastPID, p.lastProc = e.PID, pn
	return pn
}

// funcQuoted returns the JSON "func" field: the probe's name without the
// drop reason (which has its own field).
func (p *printer) funcQuoted(e *format.Event) []byte {
	if int(e.ProbeID) < len(p.c.probes) {
		if p.funcsQ == nil {
			p.funcsQ = make([][]byte, len(p.c.probes))
		}
		if q := p.funcsQ[e.ProbeID]; q != nil {
			return q
		}
		q := render.AppendJSONString(nil, p.funcBase(e))
		p.funcsQ[e.ProbeID] = q
		return q
	}
	return render.AppendJSONString(nil, p.funcBase(e))
}

func processText(e *format.Event) string {
	comm := e.Comm
	if comm == "" {
		comm = "<empty>"
	}
	return render.TildeTrim(comm + ":" + strconv.FormatUint(uint64(e.PID), 10))
}

func (p *printer) iface(e *format.Event) string {
	k := ifKey{e.Netns, e.Ifindex}
	if s, ok := p.ifNames[k]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(e.Ifindex), 10)
	if n := p.c.IfName(e.Netns, e.Ifindex); n != "" {
		s = render.TildeTrim(n + ":" + s)
	}
	p.ifNames[k] = s
	return s
}

// funcName is pwru's FUNC column: the probe name, "(tc)"/"(xdp)" for BPF
// programs, and the drop reason in parentheses as pwru prints it
// ("kfree_skb_reason(SKB_DROP_REASON_NO_SOCKET)", the number after a
// space when the capture's BTF does not name it).
func (p *printer) funcName(e *format.Event) string {
	name := p.funcBase(e)
	if e.Flags&format.FlagDropReason != 0 {
		if r, ok := p.c.DropReasonFull(e.DropReason); ok {
			name += "(" + r + ")"
		} else {
			name += " (" + strconv.FormatUint(uint64(e.DropReason), 10) + ")"
		}
	} else if p.c.reasonlessDrop(e) {
		name += "(" + NoReasonText + ")"
	}
	return name
}

// funcBase is the FUNC column without the drop reason, cached by probe.
func (p *printer) funcBase(e *format.Event) string {
	if int(e.ProbeID) < len(p.funcs) && p.funcs[e.ProbeID] != "" {
		return p.funcs[e.ProbeID]
	}
	name := p.c.ProbeName(e.ProbeID)
	if pr := p.c.Probe(e.ProbeID); pr != nil {
		switch pr.Kind {
		case format.ProbeTC:
			name += "(tc)"
		case format.ProbeXDP:
			name += "(xdp)"
		}
	}
	if int(e.ProbeID) < len(p.c.probes) {
		if p.funcs == nil {
			p.funcs = make([]string, len(p.c.probes))
		}
		p.funcs[e.ProbeID] = name
	}
	return name
}

// packet returns the decoded payload of e (cached by payload id).
func (p *printer) packet(e *format.Event) pktInfo {
	if e.PayloadID == 0 {
		return pktInfo{}
	}
	if pi, ok := p.pktCache[e.PayloadID]; ok {
		return pi
	}
	var pi pktInfo
	if pk := p.c.packet(e.PayloadID); pk != nil {
		pi = parsePacket(pk.Data, pk.L3)
	}
	if len(p.pktCache) > 1<<14 {
		clear(p.pktCache)
	}
	p.pktCache[e.PayloadID] = pi
	return pi
}

func (p *printer) timestamp(e *format.Event, l *life) uint64 {
	if p.ts() == TimestampRelative {
		if l != nil && l.sel > 1 {
			return e.Time - l.prevSel
		}
		return 0
	}
	return e.Time
}

func (p *printer) absolute(e *format.Event) string {
	loc := p.o.Location
	if loc == nil {
		loc = time.UTC
	}
	return p.wall(e).In(loc).Format(absoluteLayout)
}

// wall is the event's wall-clock time (the capture's clock).
func (p *printer) wall(e *format.Event) time.Time {
	return time.Unix(0, int64(e.Time)+p.c.File.Header().MonoOffset)
}
