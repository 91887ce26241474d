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
}

// StepJSON is one function of a journey.
type StepJSON struct {
	Func   string `json:"func"`             // the function, without drop reason
	Reason string `json:"reason,omitempty"` // drop reason of this step, where it has one
	DtNs   uint64 `json:"dt_ns"`            // mean time since the previous step
	Iface  string `json:"iface,omitempty"`  // ifname@netns where it changed
}

func journeyJSON(c *Capture, l *life, j *journey, count int, dtSum []uint64, g *pathGroup) *JourneyJSON {
	r := &JourneyJSON{Count: count, Flow: render.Flow(&j.tuple), Fate: l.fate.String(), More: j.truncated}
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
		s := StepJSON{Func: c.ProbeName(st.probe), DtNs: dt}
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
	tuple := render.Flow(&j.tuple)
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
