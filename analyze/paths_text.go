package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

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

// JourneyJSON is one line of `paths --json`, and what the text view of
// [Paths] renders.
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

	text journeyExtra // what only the text view shows
}

// journeyExtra is what the text view of a journey shows besides
// [JourneyJSON]'s fields.
type journeyExtra struct {
	group     bool   // a group of identical journeys, not one skb
	members   string // the group's addresses with their counts
	total     uint64 // the text's duration: the deltas' sum (divided by count once)
	track     uint64 // the clone's track id
	hasReason bool   // the fate has a drop reason
}

// StepJSON is one function of a journey.
type StepJSON struct {
	Func   string `json:"func"`             // the function, without drop reason
	Reason string `json:"reason,omitempty"` // drop reason of this step, where it has one
	DtNs   uint64 `json:"dt_ns"`            // mean time since the previous step
	Iface  string `json:"iface,omitempty"`  // ifname@netns where it changed
	// Trigger: this event fired the flight recorder capture.
	Trigger bool `json:"trigger,omitempty"`

	hasReason bool // the step has a drop reason (Reason)
}

// journeyJSON computes the view of one journey, or of a group of count
// identical ones (g, with the sums of their deltas).
func journeyJSON(c *Capture, l *life, j *journey, count int, dtSum []uint64, g *pathGroup) *JourneyJSON {
	r := &JourneyJSON{Count: count, Flow: render.Flow(&j.tuple), Fate: l.fate.String(), More: j.truncated, Trigger: j.fired}
	r.text.track = l.track
	if l.fate == FateDropped && l.hasRsn {
		name, ok := c.DropReason(l.reason)
		if !ok {
			name = strconv.FormatUint(uint64(l.reason), 10)
		}
		r.Reason, r.text.hasReason = name, true
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
		r.text.group, r.text.members = true, g.membersText()
		for _, d := range dtSum {
			r.text.total += d
		}
		r.text.total /= uint64(count)
	} else {
		r.SKBs = []string{"0x" + strconv.FormatUint(l.addr, 16)}
		for _, st := range j.steps {
			r.text.total += st.dt
		}
	}
	if len(j.steps) > 0 {
		r.Steps = make([]StepJSON, 0, len(j.steps))
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
			s.hasReason = true
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

// writeJourney writes a journey's view as one JSON line or as text.
func writeJourney(w io.Writer, r *JourneyJSON, asJSON bool) error {
	if asJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode journey: %w", err)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	if _, err := io.WriteString(w, journeyText(r)); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// journeyText renders a journey's view as the text of [Paths].
func journeyText(r *JourneyJSON) string {
	var b strings.Builder
	fate := r.Fate
	if r.text.hasReason {
		fate += " (" + r.Reason + ")"
	}
	if r.text.group {
		flows := ""
		if r.Flows > 1 {
			flows = fmt.Sprintf(" (%d flows)", r.Flows)
		}
		fmt.Fprintf(&b, "%d skb%s: %s%s, %d functions, %s, %s (skb %s)\n", r.Count, render.Plural(r.Count), r.Flow, flows, len(r.Steps), fate, fmtDur(r.text.total), r.text.members)
	} else {
		fmt.Fprintf(&b, "skb %s: %s, %d functions, %s, %s\n", r.SKBs[0], r.Flow, len(r.Steps), fate, fmtDur(r.text.total))
	}
	if r.CloneOf != "" {
		fmt.Fprintf(&b, "  clone of skb %s (track %d)\n", r.CloneOf, r.text.track)
	}
	if r.Trigger {
		b.WriteString("  fired the flight recorder capture\n")
	}
	for i, st := range r.Steps {
		fn := st.Func
		if st.hasReason {
			fn += "(" + st.Reason + ")"
		}
		where := st.Iface
		if where != "" && i > 0 {
			where = "-> " + where
		}
		if st.Trigger {
			where += "  <- trigger"
		}
		line := fmt.Sprintf("  %12s  %-32s %s", "+"+fmtDur(st.DtNs), fn, where)
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	if r.More > 0 {
		fmt.Fprintf(&b, "  ... %d more events\n", r.More)
	}
	b.WriteByte('\n')
	return b.String()
}
