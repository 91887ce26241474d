package analyze

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// PathsOptions tune [Paths].
type PathsOptions struct {
	Filter Filter
	// NoGroup lists every skb's journey instead of grouping identical ones.
	NoGroup bool
	// Limit stops after this many journeys or groups (0 = all).
	Limit int
	// MaxSteps bounds the functions kept per skb (0 = 512).
	MaxSteps int
	// JSON writes one JSON object per journey or group (see JSON.md).
	JSON bool
}

// step is one function of a journey.
type step struct {
	probe  uint32
	netns  uint32
	ifidx  uint32
	reason uint32
	flags  format.EventFlags
	dt     uint64 // ns since the previous step
}

// journey is the per-skb state of Paths, stored in life.ext.
type journey struct {
	steps     []step
	tuple     format.Tuple
	last      uint64
	truncated int
	parent    uint64 // skb address of the skb this one was cloned from
	// fired: one of its events fired the flight recorder capture;
	// firedStep is that step's index + 1 (0 when past the step limit).
	fired     bool
	firedStep int
	// Export only: the address as text, and the first decoded payload.
	addr   string
	pkt    pktInfo
	hasPkt bool
}

// journeyBuilder builds the journey of every selected skb (the steps of
// [Paths] and the path of the export's skbs table) in life.ext.
type journeyBuilder struct {
	maxSteps   int
	trackFirst map[uint64]uint64 // track id -> addr of the first skb with it
	capture    *Capture          // marks the journey of its flight recorder trigger (nil: none)
}

func newJourneyBuilder(maxSteps int) *journeyBuilder {
	return &journeyBuilder{maxSteps: maxSteps, trackFirst: map[uint64]uint64{}}
}

// event adds a selected event to its skb's journey (nothing for events
// without an skb) and returns the journey.
func (b *journeyBuilder) event(e *format.Event, l *life) *journey {
	if l == nil {
		return nil
	}
	j, _ := l.ext.(*journey)
	if j == nil {
		j = &journey{tuple: e.Tuple}
		if l.track != 0 {
			if a, ok := b.trackFirst[l.track]; ok && a != l.addr {
				j.parent = a
			} else if !ok {
				b.trackFirst[l.track] = l.addr
			}
		}
		l.ext = j
	}
	if betterTuple(&j.tuple, &e.Tuple) {
		j.tuple = e.Tuple
	}
	var dt uint64
	if len(j.steps) > 0 {
		dt = e.Time - j.last
	}
	j.last = e.Time
	fired := b.capture != nil && b.capture.isTrigger(e)
	j.fired = j.fired || fired
	if len(j.steps) >= b.maxSteps {
		j.truncated++
		return j
	}
	if fired {
		j.firedStep = len(j.steps) + 1
	}
	j.steps = append(j.steps, step{probe: e.ProbeID, netns: e.Netns, ifidx: e.Ifindex, reason: e.DropReason, flags: e.Flags, dt: dt})
	return j
}

// end returns the journey of an ended lifetime (nil when none of its
// events was selected).
func (b *journeyBuilder) end(l *life) *journey {
	j, _ := l.ext.(*journey)
	if j == nil {
		return nil
	}
	if l.track != 0 && b.trackFirst[l.track] == l.addr {
		delete(b.trackFirst, l.track)
	}
	return j
}

// pathGroup aggregates identical journeys.
type pathGroup struct {
	key     string
	first   *journey
	firstL  life
	count   int
	dtSum   []uint64
	order   int
	flows   map[format.Tuple]struct{}
	members []member // up to maxMembers distinct addresses, in order of appearance
	others  int      // journeys at addresses not in members
}

// member is one distinct skb address of a group and how many of the
// group's journeys it carried (addresses are reused once an skb is freed).
type member struct {
	addr  uint64
	count int
}

// maxMembers bounds the distinct addresses a group lists.
const maxMembers = 3

// add counts one journey at addr.
func (g *pathGroup) add(addr uint64) {
	for i := range g.members {
		if g.members[i].addr == addr {
			g.members[i].count++
			return
		}
	}
	if len(g.members) < maxMembers {
		g.members = append(g.members, member{addr: addr, count: 1})
		return
	}
	g.others++
}

// membersText is "0xffff888001000200 (x3), 0xffff888001000300, ...": each
// distinct address once, with its journey count when above one.
func (g *pathGroup) membersText() string {
	var b []byte
	for i, m := range g.members {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, m.addr, 16)
		if m.count > 1 {
			b = append(b, " (x"...)
			b = strconv.AppendInt(b, int64(m.count), 10)
			b = append(b, ')')
		}
	}
	if g.others > 0 {
		b = append(b, ", ..."...)
	}
	return string(b)
}

// Paths writes each selected skb's journey: its functions in order with
// time deltas, netns and interface changes, its fate, and the skb it was
// cloned from. Identical journeys (same functions, interfaces and fate)
// are grouped with a count and mean deltas, in order of first appearance;
// a group lists up to three distinct skb addresses, each once with the
// number of its journeys (freed addresses are reused). Without grouping,
// journeys are written as the skbs end.
func Paths(w io.Writer, c *Capture, o *PathsOptions) error {
	if o == nil {
		o = &PathsOptions{}
	}
	maxSteps := o.MaxSteps
	if maxSteps <= 0 {
		maxSteps = 512
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return err
	}
	groups := map[string]*pathGroup{}
	var ordered []*pathGroup
	var werr error
	shown := 0
	emit := func(l *life, j *journey) {
		if werr != nil || (o.Limit > 0 && shown >= o.Limit) {
			return
		}
		if o.NoGroup {
			shown++
			werr = writeJourney(w, c, l, j, 1, nil, nil, o.JSON)
			return
		}
		key := journeyKey(l, j)
		g := groups[key]
		if g == nil {
			if o.Limit > 0 && len(groups) >= o.Limit {
				return
			}
			g = &pathGroup{key: key, first: j, firstL: *l, dtSum: make([]uint64, len(j.steps)), order: len(ordered), flows: map[format.Tuple]struct{}{}}
			groups[key] = g
			ordered = append(ordered, g)
		}
		g.count++
		if len(g.flows) < 64 {
			g.flows[j.tuple] = struct{}{}
		}
		g.add(l.addr)
		for i := range j.steps {
			if i < len(g.dtSum) {
				g.dtSum[i] += j.steps[i].dt
			}
		}
	}
	jb := newJourneyBuilder(maxSteps)
	jb.capture = c
	err = s.run(func(e *format.Event, l *life) error {
		jb.event(e, l)
		return nil
	}, func(l *life) {
		if j := jb.end(l); j != nil {
			emit(l, j)
		}
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if !o.NoGroup {
		slices.SortFunc(ordered, func(a, b *pathGroup) int { return cmp.Compare(a.firstL.id, b.firstL.id) })
		for _, g := range ordered {
			if err := writeJourney(w, c, &g.firstL, g.first, g.count, g.dtSum, g, o.JSON); err != nil {
				return err
			}
		}
	}
	return nil
}

// journeyKey identifies identical journeys: functions, interface changes,
// fate and drop reason, and whether the skb is a clone.
func journeyKey(l *life, j *journey) string {
	var b []byte
	var ns, ifi uint32
	for i, st := range j.steps {
		b = strconv.AppendUint(b, uint64(st.probe), 36)
		known := st.netns != 0 || st.ifidx != 0
		if i == 0 || (known && (st.netns != ns || st.ifidx != ifi)) {
			b = append(b, '@')
			b = strconv.AppendUint(b, uint64(st.netns), 36)
			b = append(b, '/')
			b = strconv.AppendUint(b, uint64(st.ifidx), 36)
			ns, ifi = st.netns, st.ifidx
		}
		b = append(b, ',')
	}
	b = append(b, byte('0'+l.fate))
	if l.hasRsn {
		b = strconv.AppendUint(b, uint64(l.reason), 10)
	}
	if j.parent != 0 {
		b = append(b, 'c')
	}
	if j.fired {
		b = append(b, 'T') // the journey that fired the capture stands alone
	}
	return string(b)
}

func fmtDur(ns uint64) string {
	return time.Duration(ns).String()
}

// fateText is "delivered", "dropped (NO_SOCKET)", ...
func fateText(c *Capture, l *life) string {
	s := l.fate.String()
	if l.fate == FateDropped {
		if l.hasRsn {
			r, ok := c.DropReason(l.reason)
			if !ok {
				r = strconv.FormatUint(uint64(l.reason), 10)
			}
			s += " (" + r + ")"
		}
	}
	return s
}

func (c *Capture) ifaceText(netns, ifindex uint32) string {
	name := c.IfName(netns, ifindex)
	switch {
	case name != "":
	case ifindex == 0:
		name = "(no device)"
	default:
		name = "if" + strconv.FormatUint(uint64(ifindex), 10)
	}
	ns := strconv.FormatUint(uint64(netns), 10)
	if n := c.NetnsName(netns); n != "" {
		ns = n
	}
	return name + "@" + ns
}

// JourneyJSON is one line of `paths --json`.
type JourneyJSON struct {
	Count      int        `json:"count"`           // skbs with this journey
	SKBs       []string   `json:"skbs"`            // up to 3 distinct addresses
	Flow       string     `json:"flow"`            // flow tuple of the first
	Flows      int        `json:"flows,omitempty"` // distinct flows when more than one
	Fate       string     `json:"fate"`            // delivered, dropped, freed, unknown
	Reason     string     `json:"reason,omitempty"`
	CloneOf    string     `json:"clone_of,omitempty"`
	DurationNs uint64     `json:"duration_ns"` // mean first-to-last time
	Steps      []StepJSON `json:"steps"`
	More       int        `json:"more_events,omitempty"` // events past the step limit
	Trigger    bool       `json:"trigger,omitempty"`     // its event fired the flight recorder capture
}

// StepJSON is one function of a journey.
type StepJSON struct {
	Func   string `json:"func"`             // the function, without drop reason
	Reason string `json:"reason,omitempty"` // drop reason of this step, where it has one
	DtNs   uint64 `json:"dt_ns"`            // mean time since the previous step
	Iface  string `json:"iface,omitempty"`  // ifname@netns where it changed
	// Trigger: this event fired the flight recorder capture.
	Trigger bool `json:"trigger,omitempty"`
}

func journeyJSON(c *Capture, l *life, j *journey, count int, dtSum []uint64, g *pathGroup) *JourneyJSON {
	r := &JourneyJSON{Count: count, Flow: string(appendTuple(nil, &j.tuple, 0, false)), Fate: l.fate.String(), More: j.truncated, Trigger: j.fired}
	if l.fate == FateDropped && l.hasRsn {
		name, ok := c.DropReason(l.reason)
		if !ok {
			name = strconv.FormatUint(uint64(l.reason), 10)
		}
		r.Reason = name
	}
	if j.parent != 0 {
		r.CloneOf = "0x" + strconv.FormatUint(j.parent, 16)
	}
	if g != nil {
		for _, m := range g.members {
			r.SKBs = append(r.SKBs, "0x"+strconv.FormatUint(m.addr, 16))
		}
		if len(g.flows) > 1 {
			r.Flows = len(g.flows)
		}
	} else {
		r.SKBs = []string{"0x" + strconv.FormatUint(l.addr, 16)}
	}
	var ns, ifi uint32
	for i, st := range j.steps {
		dt := st.dt
		if dtSum != nil && i < len(dtSum) {
			dt = dtSum[i] / uint64(count)
		}
		r.DurationNs += dt
		s := StepJSON{Func: c.ProbeName(st.probe), DtNs: dt, Trigger: j.firedStep == i+1}
		if st.flags&format.FlagDropReason != 0 {
			if name, ok := c.DropReason(st.reason); ok {
				s.Reason = name
			} else {
				s.Reason = strconv.FormatUint(uint64(st.reason), 10)
			}
		}
		known := st.netns != 0 || st.ifidx != 0
		if i == 0 || (known && (st.netns != ns || st.ifidx != ifi)) {
			s.Iface = c.ifaceText(st.netns, st.ifidx)
			ns, ifi = st.netns, st.ifidx
		}
		r.Steps = append(r.Steps, s)
	}
	return r
}

func writeJourney(w io.Writer, c *Capture, l *life, j *journey, count int, dtSum []uint64, g *pathGroup, asJSON bool) error {
	if asJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(journeyJSON(c, l, j, count, dtSum, g)); err != nil {
			return fmt.Errorf("encode journey: %w", err)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	var b strings.Builder
	tuple := string(appendTuple(nil, &j.tuple, 0, false))
	total := uint64(0)
	for _, st := range j.steps {
		total += st.dt
	}
	if g != nil {
		total = 0
		for _, d := range dtSum {
			total += d
		}
		total /= uint64(count)
		flows := ""
		if len(g.flows) > 1 {
			flows = fmt.Sprintf(" (%d flows)", len(g.flows))
		}
		fmt.Fprintf(&b, "%d skb%s: %s%s, %d functions, %s, %s (skb %s)\n", count, plural(count), tuple, flows, len(j.steps), fateText(c, l), fmtDur(total), g.membersText())
	} else {
		fmt.Fprintf(&b, "skb 0x%x: %s, %d functions, %s, %s\n", l.addr, tuple, len(j.steps), fateText(c, l), fmtDur(total))
	}
	if j.parent != 0 {
		fmt.Fprintf(&b, "  clone of skb 0x%x (track %d)\n", j.parent, l.track)
	}
	if j.fired {
		b.WriteString("  fired the flight recorder capture\n")
	}
	var ns, ifi uint32
	for i, st := range j.steps {
		dt := st.dt
		if dtSum != nil && i < len(dtSum) {
			dt = dtSum[i] / uint64(count)
		}
		fn := c.ProbeName(st.probe)
		if st.flags&format.FlagDropReason != 0 {
			if r, ok := c.DropReason(st.reason); ok {
				fn += "(" + r + ")"
			} else {
				fn += "(" + strconv.FormatUint(uint64(st.reason), 10) + ")"
			}
		}
		where := ""
		known := st.netns != 0 || st.ifidx != 0
		if i == 0 || (known && (st.netns != ns || st.ifidx != ifi)) {
			where = c.ifaceText(st.netns, st.ifidx)
			if i > 0 {
				where = "-> " + where
			}
			ns, ifi = st.netns, st.ifidx
		}
		if j.firedStep == i+1 {
			where += "  <- trigger"
		}
		line := fmt.Sprintf("  %12s  %-32s %s", "+"+fmtDur(dt), fn, where)
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	if j.truncated > 0 {
		fmt.Fprintf(&b, "  ... %d more events\n", j.truncated)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
