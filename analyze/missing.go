package analyze

import (
	"fmt"
	"strings"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
)

// recorded reports whether the recorder's option flag was on ("true") and
// whether the capture says at all (captures of other writers may not).
func (c *Capture) recorded(flag string) (on, known bool) {
	h := c.File.Header()
	if h == nil || h.Options == nil {
		return false, false
	}
	v, ok := h.Options[flag]
	if !ok {
		return false, false
	}
	v = strings.TrimSpace(v)
	return v != "" && v != "false" && v != "0", true
}

// lacks says why the capture cannot show a recorder option's data: ""
// when it can. The recorded options decide; without them, the counts.
func (c *Capture) lacks(flag string, count uint64, what string) string {
	on, known := c.recorded(flag)
	if (known && !on) || (!known && count == 0) {
		return fmt.Sprintf("%s has no %s: record with --%s", c.Path, what, flag)
	}
	return ""
}

// MissingNote is an option of [PrintOptions] whose data the capture
// lacks: Option is the field's Go name ("OutputStack"), Text says why
// ("x.pwru has no kernel stacks: record with --output-stack", naming the
// recorder's option).
type MissingNote struct {
	Option string
	Text   string
}

// MissingData lists the options of o whose data the capture lacks, one
// note each, and turns them off in o, so that no empty column and no
// invented value is shown. [Print] does the same without telling.
func MissingData(c *Capture, o *PrintOptions) []MissingNote {
	sum := c.File.Summary()
	var notes []MissingNote
	check := func(opt *bool, field, flag string, count uint64, what string) {
		if !*opt {
			return
		}
		if n := c.lacks(flag, count, what); n != "" {
			notes = append(notes, MissingNote{field, n})
			*opt = false
		}
	}
	check(&o.OutputStack, "OutputStack", "output-stack", sum.Stacks, "kernel stacks")
	check(&o.OutputSkbCB, "OutputSkbCB", "output-skb-cb", sum.Blobs, "skb->cb bytes")
	check(&o.OutputSkb, "OutputSkb", "output-skb", sum.Blobs, "struct sk_buff bytes")
	check(&o.OutputShinfo, "OutputShinfo", "output-skb-shared-info", sum.Blobs, "struct skb_shared_info bytes")
	check(&o.OutputCaller, "OutputCaller", "output-caller", 1, "callers")
	if sum.Packets == 0 {
		if o.OutputTCPFlags {
			notes = append(notes, MissingNote{"OutputTCPFlags", c.Path + " has no payloads: record with --snaplen above 0"})
			o.OutputTCPFlags = false
		}
		if o.OutputTunnel {
			notes = append(notes, MissingNote{"OutputTunnel", c.Path + " has no payloads: record with --snaplen above 0"})
			o.OutputTunnel = false
		}
	}
	if o.OutputNetnsNames && len(c.netns) == 0 {
		notes = append(notes, MissingNote{"OutputNetnsNames", c.Path + " names no network namespace"})
		o.OutputNetnsNames = false
	}
	return notes
}

// FilterNotes warns about filters that cannot match in this capture: a
// pcap filter over a capture without payloads.
func FilterNotes(c *Capture, f *Filter) []string {
	if f == nil || strings.TrimSpace(f.Pcap) == "" {
		return nil
	}
	if c.File.Summary().Packets == 0 {
		return []string{fmt.Sprintf("pcap filter %q: %s has no payloads (recorded with --snaplen 0?), so no skb can match", f.Pcap, c.Path)}
	}
	return nil
}

// CompareSources says in one line when two captures come from different
// kernels or traced different probe sets, so that a diff of their paths
// may show the setup, not the traffic ("" when they match).
func CompareSources(a, b *Capture) string {
	ha, hb := a.File.Header(), b.File.Header()
	ka := strings.TrimSpace(ha.Uname.Release + " " + ha.Uname.Version)
	kb := strings.TrimSpace(hb.Uname.Release + " " + hb.Uname.Version)
	var parts []string
	if ka != kb {
		parts = append(parts, fmt.Sprintf("different kernels (%s: %s; %s: %s)", a.Path, render.OrDash(ha.Uname.Release), b.Path, render.OrDash(hb.Uname.Release)))
	}
	names := func(c *Capture) map[string]bool {
		m := map[string]bool{}
		for _, p := range c.File.Probes() {
			if p.Error == "" {
				m[c.ProbeName(p.ID)] = true
			}
		}
		return m
	}
	na, nb := names(a), names(b)
	onlyA, onlyB := 0, 0
	for n := range na {
		if !nb[n] {
			onlyA++
		}
	}
	for n := range nb {
		if !na[n] {
			onlyB++
		}
	}
	if onlyA+onlyB > 0 {
		parts = append(parts, fmt.Sprintf("different probe sets (%d functions traced only in %s, %d only in %s)", onlyA, a.Path, onlyB, b.Path))
	}
	if len(parts) == 0 {
		return ""
	}
	return "the captures come from " + strings.Join(parts, " and ") + ": paths may differ for that reason alone"
}
