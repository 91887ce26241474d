package analyze

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// infoText renders the summary [Info] writes, wall-clock times in loc
// (nil = UTC).
func infoText(d *InfoDoc, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	x := &d.text
	var b strings.Builder
	kv := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-13s "+format+"\n", append([]any{k + ":"}, args...)...)
	}
	state := "complete"
	if !d.Complete {
		state = "incomplete (no trailer)"
	}
	if d.Size > 0 {
		kv("file", "%s (%d bytes, format %s, %s)", d.File, d.Size, d.Format, state)
	} else {
		kv("file", "%s (format %s, %s)", d.File, d.Format, state)
	}
	kv("recorder", "%s", render.OrDash(d.Recorder))
	kv("host", "%s", render.OrDash(d.Host))
	k := d.Kernel
	kv("kernel", "%s", render.OrDash(strings.TrimSpace(strings.Join([]string{k.Sysname, k.Release, k.Version, k.Machine}, " "))))
	if len(x.lacks) > 0 {
		lacks := make([]string, len(x.lacks))
		for i, l := range x.lacks {
			lacks[i] = l
			if what, ok := lackTexts[l]; ok {
				lacks[i] += " (" + what + ")"
			}
		}
		kv("kernel lacks", "%s", strings.Join(lacks, ", "))
	}
	if d.BootID != "" {
		kv("boot id", "%s", d.BootID)
	}
	if len(d.CommandLine) > 0 {
		kv("command", "%s", strings.Join(d.CommandLine, " "))
	}
	kv("pcap filter", "%s", render.OrDash(d.PcapFilter))
	if d.Snaplen != 0 {
		kv("snaplen", "%d", d.Snaplen)
	}
	kv("reveals", "%s", revealsText(d.Reveals, d.Snaplen))
	infoDetailsText(&b, d, kv)
	if !x.start.IsZero() {
		kv("recording", "started %s", x.start.In(loc).Format(time.RFC3339Nano))
	}
	if fl := x.flight; fl != nil {
		kv("flight recorder", "window %s, trigger %s at %s, then %s; %d events of the window let go of before the trigger",
			render.OrDash(fl.window), fl.trigger, render.OrDash(fl.at), render.OrDash(fl.after), fl.evicted)
		if ev := fl.event; ev != nil {
			kv("trigger event", "%s (%d), skb 0x%x, %s",
				time.Unix(0, int64(ev.time)+x.monoOffset).In(loc).Format(time.RFC3339Nano), ev.time, ev.skb, ev.fn)
		}
	}
	if d.Events > 0 {
		wall := func(t uint64) string {
			return time.Unix(0, int64(t)+x.monoOffset).In(loc).Format("2006-01-02T15:04:05.000000000Z07:00")
		}
		kv("first event", "%s (%d)", wall(d.FirstEventNs), d.FirstEventNs)
		kv("last event", "%s (%d)", wall(d.LastEventNs), d.LastEventNs)
		kv("duration", "%s", time.Duration(d.LastEventNs-d.FirstEventNs))
	}
	kv("events", "%d", d.Events)
	if d.Selected != nil {
		kv("selected", "%d events", *d.Selected)
	}
	if !x.noScan {
		kv("skbs", "%d (%d dropped)", *d.SKBs, *d.Dropped)
	}
	kv("packets", "%d", d.Packets)
	kv("stacks", "%d", d.Stacks)
	kv("blobs", "%d", d.Blobs)
	if x.noScan {
		kv("functions", "%d probed, %d failed to attach", d.Probes, len(d.FailedProbes))
	} else {
		kv("functions", "%d probed, %d hit, %d failed to attach", d.Probes, *d.ProbesHit, len(d.FailedProbes))
	}
	kv("interfaces", "%d in %d netns", x.interfaces, len(d.Netns))
	if len(d.BTF) > 0 {
		kv("btf", "%s", strings.Join(d.BTF, " "))
	} else {
		kv("btf", "none")
	}
	if x.kallsyms > 0 {
		kv("kallsyms", "%d symbols", x.kallsyms)
	} else {
		kv("kallsyms", "none")
	}
	kv("losses", "%s", lossesText(&d.Losses))
	if d.Truncated {
		kv("truncated", "yes, at offset %d", d.TruncatedAt)
	} else {
		kv("truncated", "no")
	}
	if x.skipped > 0 {
		kv("skipped", "%d corrupt sections", x.skipped)
	}
	for _, p := range x.problems {
		kv("problem", "%v", p)
	}
	b.WriteString("sections:\n")
	fmt.Fprintf(&b, "  %-11s %8s %12s %12s %10s\n", "TYPE", "SECTIONS", "BYTES", "RAW", "ITEMS")
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "  %-11s %8d %12d %12d %10d\n", s.Type, s.Sections, s.Bytes, s.Raw, s.Items)
	}
	if x.noScan {
		return b.String()
	}
	b.WriteString("top functions:\n")
	for _, fn := range d.TopFunctions {
		pct := 0.0
		if x.selected > 0 {
			pct = 100 * float64(fn.Events) / float64(x.selected)
		}
		fmt.Fprintf(&b, "  %10d %5.1f%%  %s\n", fn.Events, pct, fn.Func)
	}
	return b.String()
}

// infoDetailsText appends the options, failed probes and interfaces
// blocks of [Info] to b.
func infoDetailsText(b *strings.Builder, d *InfoDoc, kv func(k, format string, args ...any)) {
	if d.text.hasOptions {
		used := d.text.used
		if d.text.off > 0 {
			used = append(slices.Clip(used), fmt.Sprintf("(%d more off)", d.text.off))
		}
		kv("options", "%s", render.WrapWords(used, 90, strings.Repeat(" ", 14)))
	}
	if len(d.FailedProbes) > 0 {
		fmt.Fprintf(b, "failed probes:\n")
		for _, p := range d.FailedProbes {
			fmt.Fprintf(b, "  %s: %s\n", p.Name, p.Error)
		}
	}
	if len(d.Netns) > 0 {
		fmt.Fprintf(b, "netns interfaces:\n")
		for _, n := range d.Netns {
			name := ""
			if n.Name != "" {
				name = " (" + n.Name + ")"
			}
			fmt.Fprintf(b, "  %d%s: %s\n", n.Inode, name, strings.Join(n.Interfaces, " "))
		}
	}
}

// lossesText is the losses line: kernel losses (per CPU when any),
// failed probes, then the other counters by name.
func lossesText(ls *InfoLosses) string {
	lost := fmt.Sprintf("%d events lost in the kernel", ls.KernelLost)
	if ls.KernelLost > 0 {
		var per []string
		for cpu, n := range ls.PerCPU {
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
	return lost
}

// lackTexts says what each of format.Header.KernelLacks costs a capture.
var lackTexts = map[string]string{
	format.LackModuleBTF:    "module functions not traced",
	format.LackDropReason:   "drops carry no reason",
	format.LackAttachCookie: "kprobes told apart by address",
	format.LackKprobeMulti:  "single kprobes",
}

// revealsText renders [InfoReveals] for the text view.
func revealsText(r InfoReveals, snaplen uint32) string {
	addrs := "addresses real (kernel layout: KASLR base, heap)"
	if r.Addresses == "redacted" {
		addrs = "addresses redacted (pseudonyms)"
	}
	payload := "payload " + r.Payload
	switch {
	case r.Payload == "headers":
		payload = "payload headers (L2-L4, the rest zeroed)"
	case r.Payload == "full" && snaplen != 0:
		payload = fmt.Sprintf("payload full (up to %d bytes per packet)", snaplen)
	}
	return addrs + ", " + payload
}
