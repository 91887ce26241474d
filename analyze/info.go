package analyze

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// InfoOptions tune [Info] and [InfoJSON].
type InfoOptions struct {
	Filter Filter
	// Top is the number of functions listed (0 = 10).
	Top int
	// Size is the file size in bytes (0 = not shown).
	Size int64
	// Location is the time zone of wall-clock times in the text view (nil
	// = UTC; the JSON document is always in UTC).
	Location *time.Location
	// NoScan skips reading the events: the summary comes from the
	// trailer and section index only (instant on any size), without skb
	// counts and top functions.
	NoScan bool
}

// Info writes a summary of the capture: recorder, host, kernel, options
// and filter, time range, sections, counts, losses, truncation and the
// busiest functions. It renders what [InfoJSON] computes, plus the
// number of kallsyms entries (which loads them).
func Info(w io.Writer, c *Capture, o *InfoOptions) error {
	if o == nil {
		o = &InfoOptions{}
	}
	d, err := collectInfo(c, o, true)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, infoText(d, o.Location)); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// InfoJSON collects what [Info] shows as one document.
func InfoJSON(c *Capture, o *InfoOptions) (*InfoDoc, error) {
	if o == nil {
		o = &InfoOptions{}
	}
	return collectInfo(c, o, false)
}

// collectInfo computes the summary: from the header, trailer and section
// index, then (unless o.NoScan) from one pass over the events as recorded
// (the drop tracepoint's too). forText also counts the kallsyms entries
// (loading them) and checks the filter under NoScan, as the text view
// always did.
func collectInfo(c *Capture, o *InfoOptions, forText bool) (*InfoDoc, error) {
	top := o.Top
	if top <= 0 {
		top = 10
	}
	f := c.File
	h := f.Header()
	sum := f.Summary()
	d := &InfoDoc{
		File: c.Path, Size: o.Size, Format: sum.Version, Complete: sum.Complete, Truncated: sum.Truncated,
		Recorder: h.WriterVersion, Host: h.Hostname, Kernel: InfoKernel(h.Uname), BootID: h.BootID, CommandLine: h.CommandLine,
		PcapFilter: h.PcapFilter, Snaplen: h.Snaplen, Reveals: revealsOf(h, sum), Options: map[string]string{},
		Events: sum.Events, Packets: sum.Packets, Stacks: sum.Stacks, Blobs: sum.Blobs, Probes: len(f.Probes()),
		FailedProbes: failedProbes(c), Netns: interfacesByNetns(c), BTF: []string{},
	}
	d.text = infoExtra{
		lacks: h.KernelLacks, start: h.Start, monoOffset: h.MonoOffset, skipped: sum.Skipped,
		interfaces: len(f.Interfaces()), noScan: o.NoScan, hasOptions: len(h.Options) > 0,
	}
	d.text.used, d.text.off = UsedOptions(h)
	if tr, ok := h.Options[FlightTrigger]; ok {
		d.text.flight = &infoFlight{window: h.Options[FlightWindow], trigger: tr, at: h.Options[FlightTriggerTime],
			after: h.Options[FlightAfter], evicted: f.Losses().Other["flight_window_evicted"]}
		if ev, ok := FlightTriggerOf(h); ok && forText { // naming the reason loads the BTF
			fn := render.OrDash(ev.Probe)
			if ev.HasReason {
				r, ok := c.DropReason(ev.Reason)
				if !ok {
					r = strconv.FormatUint(uint64(ev.Reason), 10)
				}
				fn += " (" + r + ")"
			}
			d.text.flight.event = &infoTrigger{time: ev.Time, skb: ev.SKB, fn: fn}
		}
	}
	if sum.Truncated {
		d.TruncatedAt = sum.TruncatedAt
	}
	if d.FailedProbes == nil {
		d.FailedProbes = []FailedProbe{}
	}
	if d.Netns == nil {
		d.Netns = []NetnsInterfaces{}
	}
	for k, v := range h.Options {
		d.Options[k] = OptionValue(v)
	}
	if !h.Start.IsZero() {
		d.Start = h.Start.UTC().Format(time.RFC3339Nano)
	}
	if sum.Events > 0 {
		d.FirstEventNs, d.LastEventNs = sum.FirstTime, sum.LastTime
		d.FirstEventUTC = time.Unix(0, int64(sum.FirstTime)+h.MonoOffset).UTC().Format(time.RFC3339Nano)
		d.LastEventUTC = time.Unix(0, int64(sum.LastTime)+h.MonoOffset).UTC().Format(time.RFC3339Nano)
	}
	for _, m := range f.BTFModules() {
		if m == "" {
			m = "vmlinux"
		}
		d.BTF = append(d.BTF, m)
	}
	ls := f.Losses()
	d.Losses = InfoLosses{KernelLost: ls.TotalLost(), ProbesFailed: ls.ProbesFailed, Other: ls.Other}
	if ls.TotalLost() > 0 {
		d.Losses.PerCPU = ls.RingbufLost
	}
	idx := map[format.SectionType]int{}
	for _, si := range f.Sections() {
		i, ok := idx[si.Type]
		if !ok {
			i = len(d.Sections)
			idx[si.Type] = i
			d.Sections = append(d.Sections, InfoSection{Type: si.Type.String()})
		}
		a := &d.Sections[i]
		a.Sections++
		a.Bytes += si.Size
		a.Raw += si.RawSize
		a.Items += si.Count
		if si.Type == format.SectionKallsyms {
			d.text.kallsyms += si.Count
		}
	}
	if o.NoScan && !forText {
		return d, nil
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return nil, err
	}
	if !o.NoScan {
		if err := scanInfo(d, c, s, top); err != nil {
			return nil, err
		}
		d.text.kallsyms = 0
		if forText {
			if syms := c.Symbols(); syms != nil {
				d.text.kallsyms = syms.Len()
			}
		}
	}
	d.text.problems = f.Problems()
	return d, nil
}

// scanInfo is the one pass of [Info] over the selected events: events
// per probe, skbs and drops, the busiest functions.
func scanInfo(d *InfoDoc, c *Capture, s *scanner, top int) error {
	s.raw = true
	perProbe := map[uint32]uint64{}
	var events, skbs, dropped uint64
	err := s.run(func(e *format.Event, _ *life) error {
		events++
		perProbe[e.ProbeID]++
		return nil
	}, func(l *life) {
		if l.sel == 0 {
			return
		}
		skbs++
		if l.fate == FateDropped {
			dropped++
		}
	})
	if err != nil {
		return err
	}
	hit := len(perProbe)
	d.SKBs, d.Dropped, d.ProbesHit = &skbs, &dropped, &hit
	d.text.selected = events
	if events != d.Events {
		d.Selected = &events
	}
	ids := slices.Collect(maps.Keys(perProbe))
	slices.SortFunc(ids, func(a, b uint32) int {
		if x := cmp.Compare(perProbe[b], perProbe[a]); x != 0 {
			return x
		}
		return cmp.Compare(c.ProbeName(a), c.ProbeName(b))
	})
	for i, id := range ids {
		if i == top {
			break
		}
		d.TopFunctions = append(d.TopFunctions, InfoFunc{Func: c.ProbeName(id), Events: perProbe[id]})
	}
	return nil
}

// FailedProbe is a probe that did not attach, and why.
type FailedProbe struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

// failedProbes lists the probes that failed to attach, by name.
func failedProbes(c *Capture) []FailedProbe {
	var r []FailedProbe
	for _, p := range c.File.Probes() {
		if p.Error != "" {
			r = append(r, FailedProbe{Name: c.ProbeName(p.ID), Error: p.Error})
		}
	}
	slices.SortFunc(r, func(a, b FailedProbe) int { return cmp.Compare(a.Name, b.Name) })
	return r
}

// NetnsInterfaces is one network namespace and its recorded interfaces.
type NetnsInterfaces struct {
	Inode      uint32   `json:"inode"`
	Name       string   `json:"name,omitempty"`
	Interfaces []string `json:"interfaces"` // "name:ifindex", by ifindex
}

// interfacesByNetns groups the capture's interface table by netns.
func interfacesByNetns(c *Capture) []NetnsInterfaces {
	by := map[uint32][]format.Interface{}
	for _, i := range c.File.Interfaces() {
		by[i.Netns] = append(by[i.Netns], i)
	}
	var r []NetnsInterfaces
	for _, ns := range slices.Sorted(maps.Keys(by)) {
		ifs := by[ns]
		slices.SortFunc(ifs, func(a, b format.Interface) int { return cmp.Compare(a.Ifindex, b.Ifindex) })
		n := NetnsInterfaces{Inode: ns, Name: c.NetnsName(ns)}
		for _, i := range ifs {
			n.Interfaces = append(n.Interfaces, i.Name+":"+strconv.FormatUint(uint64(i.Ifindex), 10))
		}
		r = append(r, n)
	}
	return r
}

// revealsOf says what a capture shows whoever reads it: real or redacted
// kernel addresses, and how much of the packets.
func revealsOf(h *format.Header, sum format.Summary) InfoReveals {
	r := InfoReveals{Addresses: "real", Payload: "full"}
	if h.Redaction&format.RedactAddresses != 0 {
		r.Addresses = "redacted"
	}
	switch {
	case sum.Packets == 0:
		r.Payload = "none"
	case h.Redaction&format.RedactPayloads != 0:
		r.Payload = "headers"
	}
	return r
}
