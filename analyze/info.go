package analyze

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// InfoOptions tune [Info].
type InfoOptions struct {
	Filter Filter
	// Top is the number of functions listed (0 = 10).
	Top int
	// Size is the file size in bytes (0 = not shown).
	Size int64
	// Location is the time zone of wall-clock times (nil = UTC).
	Location *time.Location
	// NoScan skips reading the events: the summary comes from the
	// trailer and section index only (instant on any size), without skb
	// counts and top functions.
	NoScan bool
}

// Info writes a summary of the capture: recorder, host, kernel, options
// and filter, time range, sections, counts, losses, truncation and the
// busiest functions.
func Info(w io.Writer, c *Capture, o *InfoOptions) error {
	if o == nil {
		o = &InfoOptions{}
	}
	top := o.Top
	if top <= 0 {
		top = 10
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	f := c.File
	h := f.Header()
	sum := f.Summary()

	// Count events, skbs and functions in one pass, over the events as
	// recorded (the drop tracepoint's too).
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return err
	}
	s.raw = true
	perProbe := map[uint32]uint64{}
	var events, skbs, dropped uint64
	var first, last uint64
	run := s.run
	if o.NoScan {
		run = func(func(*format.Event, *life) error, func(*life)) error { return nil }
		events = sum.Events
	}
	err = run(func(e *format.Event, l *life) error {
		events++
		perProbe[e.ProbeID]++
		if first == 0 || e.Time < first {
			first = e.Time
		}
		if e.Time > last {
			last = e.Time
		}
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

	var b strings.Builder
	kv := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-13s "+format+"\n", append([]any{k + ":"}, args...)...)
	}
	state := "complete"
	if !sum.Complete {
		state = "incomplete (no trailer)"
	}
	if o.Size > 0 {
		kv("file", "%s (%d bytes, format %s, %s)", c.Path, o.Size, sum.Version, state)
	} else {
		kv("file", "%s (format %s, %s)", c.Path, sum.Version, state)
	}
	kv("recorder", "%s", orDash(h.WriterVersion))
	kv("host", "%s", orDash(h.Hostname))
	kv("kernel", "%s", orDash(strings.TrimSpace(strings.Join([]string{h.Uname.Sysname, h.Uname.Release, h.Uname.Version, h.Uname.Machine}, " "))))
	if len(h.KernelLacks) > 0 {
		lacks := make([]string, len(h.KernelLacks))
		for i, l := range h.KernelLacks {
			lacks[i] = l
			if what, ok := lackTexts[l]; ok {
				lacks[i] += " (" + what + ")"
			}
		}
		kv("kernel lacks", "%s", strings.Join(lacks, ", "))
	}
	if h.BootID != "" {
		kv("boot id", "%s", h.BootID)
	}
	if len(h.CommandLine) > 0 {
		kv("command", "%s", strings.Join(h.CommandLine, " "))
	}
	kv("pcap filter", "%s", orDash(h.PcapFilter))
	if h.Snaplen != 0 {
		kv("snaplen", "%d", h.Snaplen)
	}
	kv("reveals", "%s", reveals(h, sum))
	infoDetails(&b, c, kv)
	if !h.Start.IsZero() {
		kv("recording", "started %s", h.Start.In(loc).Format(time.RFC3339Nano))
	}
	if tr, ok := h.Options[FlightTrigger]; ok {
		kv("flight recorder", "window %s, trigger %s at %s, then %s; %d events of the window let go of before the trigger",
			orDash(h.Options[FlightWindow]), tr, orDash(h.Options[FlightTriggerTime]), orDash(h.Options[FlightAfter]), c.File.Losses().Other["flight_window_evicted"])
		if ev, ok := FlightTriggerOf(h); ok {
			fn := orDash(ev.Probe)
			if ev.HasReason {
				r, ok := c.DropReason(ev.Reason)
				if !ok {
					r = strconv.FormatUint(uint64(ev.Reason), 10)
				}
				fn += " (" + r + ")"
			}
			kv("trigger event", "%s (%d), skb 0x%x, %s",
				time.Unix(0, int64(ev.Time)+h.MonoOffset).In(loc).Format(time.RFC3339Nano), ev.Time, ev.SKB, fn)
		}
	}
	if sum.Events > 0 {
		wall := func(t uint64) string {
			return time.Unix(0, int64(t)+h.MonoOffset).In(loc).Format("2006-01-02T15:04:05.000000000Z07:00")
		}
		kv("first event", "%s (%d)", wall(sum.FirstTime), sum.FirstTime)
		kv("last event", "%s (%d)", wall(sum.LastTime), sum.LastTime)
		kv("duration", "%s", time.Duration(sum.LastTime-sum.FirstTime))
	}
	hit := 0
	for _, n := range perProbe {
		if n > 0 {
			hit++
		}
	}
	kv("events", "%d", sum.Events)
	if events != sum.Events {
		kv("selected", "%d events", events)
	}
	if !o.NoScan {
		kv("skbs", "%d (%d dropped)", skbs, dropped)
	}
	kv("packets", "%d", sum.Packets)
	kv("stacks", "%d", sum.Stacks)
	kv("blobs", "%d", sum.Blobs)
	failed := 0
	for _, p := range f.Probes() {
		if p.Error != "" {
			failed++
		}
	}
	if o.NoScan {
		kv("functions", "%d probed, %d failed to attach", len(f.Probes()), failed)
	} else {
		kv("functions", "%d probed, %d hit, %d failed to attach", len(f.Probes()), hit, failed)
	}
	kv("interfaces", "%d in %d netns", len(f.Interfaces()), countNetns(f))
	if mods := f.BTFModules(); len(mods) > 0 {
		names := make([]string, len(mods))
		for i, m := range mods {
			names[i] = m
			if m == "" {
				names[i] = "vmlinux"
			}
		}
		kv("btf", "%s", strings.Join(names, " "))
	} else {
		kv("btf", "none")
	}
	nsyms := 0
	if o.NoScan {
		for _, si := range f.Sections() {
			if si.Type == format.SectionKallsyms {
				nsyms += si.Count
			}
		}
	} else if syms := c.Symbols(); syms != nil {
		nsyms = syms.Len()
	}
	if nsyms > 0 {
		kv("kallsyms", "%d symbols", nsyms)
	} else {
		kv("kallsyms", "none")
	}
	ls := f.Losses()
	lost := fmt.Sprintf("%d events lost in the kernel", ls.TotalLost())
	if ls.TotalLost() > 0 {
		var per []string
		for cpu, n := range ls.RingbufLost {
			if n > 0 {
				per = append(per, fmt.Sprintf("cpu%d=%d", cpu, n))
			}
		}
		lost += " (" + strings.Join(per, " ") + ")"
	}
	lost += fmt.Sprintf(", %d probes failed", ls.ProbesFailed)
	for _, k := range slices.Sorted(maps.Keys(ls.Other)) {
		lost += fmt.Sprintf(", %s=%d", k, ls.Other[k])
	}
	kv("losses", "%s", lost)
	switch {
	case sum.Truncated:
		kv("truncated", "yes, at offset %d", sum.TruncatedAt)
	default:
		kv("truncated", "no")
	}
	if sum.Skipped > 0 {
		kv("skipped", "%d corrupt sections", sum.Skipped)
	}
	for _, p := range f.Problems() {
		kv("problem", "%v", p)
	}

	// Sections grouped by type.
	type agg struct {
		n         int
		size, raw int64
		count     int
	}
	byType := map[format.SectionType]*agg{}
	var order []format.SectionType
	for _, si := range f.Sections() {
		a := byType[si.Type]
		if a == nil {
			a = &agg{}
			byType[si.Type] = a
			order = append(order, si.Type)
		}
		a.n++
		a.size += si.Size
		a.raw += si.RawSize
		a.count += si.Count
	}
	b.WriteString("sections:\n")
	fmt.Fprintf(&b, "  %-11s %8s %12s %12s %10s\n", "TYPE", "SECTIONS", "BYTES", "RAW", "ITEMS")
	for _, t := range order {
		a := byType[t]
		fmt.Fprintf(&b, "  %-11s %8d %12d %12d %10d\n", t, a.n, a.size, a.raw, a.count)
	}

	if o.NoScan {
		_, err := io.WriteString(w, b.String())
		if err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	b.WriteString("top functions:\n")
	ids := slices.Collect(maps.Keys(perProbe))
	slices.SortFunc(ids, func(a, b uint32) int {
		if d := cmp.Compare(perProbe[b], perProbe[a]); d != 0 {
			return d
		}
		return cmp.Compare(c.ProbeName(a), c.ProbeName(b))
	})
	if len(ids) > top {
		ids = ids[:top]
	}
	for _, id := range ids {
		pct := 0.0
		if events > 0 {
			pct = 100 * float64(perProbe[id]) / float64(events)
		}
		fmt.Fprintf(&b, "  %10d %5.1f%%  %s\n", perProbe[id], pct, c.ProbeName(id))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// wrapWords joins words with spaces, breaking lines before width bytes;
// continuation lines start with indent.
func wrapWords(words []string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range words {
		if i > 0 {
			if n+1+len(w) > width {
				b.WriteString("\n")
				b.WriteString(indent)
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countNetns(f *format.File) int {
	seen := map[uint32]bool{}
	for _, i := range f.Interfaces() {
		seen[i.Netns] = true
	}
	return len(seen)
}

// lackTexts says what each of format.Header.KernelLacks costs a capture.
var lackTexts = map[string]string{
	format.LackModuleBTF:    "module functions not traced",
	format.LackDropReason:   "drops carry no reason",
	format.LackAttachCookie: "kprobes told apart by address",
	format.LackKprobeMulti:  "single kprobes",
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

// reveals renders revealsOf for the text view.
func reveals(h *format.Header, sum format.Summary) string {
	r := revealsOf(h, sum)
	addrs := "addresses real (kernel layout: KASLR base, heap)"
	if r.Addresses == "redacted" {
		addrs = "addresses redacted (pseudonyms)"
	}
	payload := "payload " + r.Payload
	switch {
	case r.Payload == "headers":
		payload = "payload headers (L2-L4, the rest zeroed)"
	case r.Payload == "full" && h.Snaplen != 0:
		payload = fmt.Sprintf("payload full (up to %d bytes per packet)", h.Snaplen)
	}
	return addrs + ", " + payload
}
