package analyze

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// goSliceValue matches how older recorders stored a list flag: the Go
// rendering of urfave/cli's StringSlice ("{[a b] { false false} false
// false}").
var goSliceValue = regexp.MustCompile(`^\{\[([^\]]*)\] \{[^}]*\} (?:true|false) (?:true|false)\}$`)

// OptionValue returns a recorded option's value as the user would type
// it: a list as its items joined by commas.
func OptionValue(v string) string {
	if m := goSliceValue.FindStringSubmatch(v); m != nil {
		return strings.Join(strings.Fields(m[1]), ",")
	}
	return v
}

// optionIsOff reports whether a recorded value means the option was not
// used (false, empty, zero).
func optionIsOff(v string) bool {
	switch v {
	case "", "false", "0", "0s":
		return true
	}
	return false
}

// Header option keys a flight recorder capture carries (format/SPEC.md
// 4.1): the window, the trigger, its wall time and what followed it.
const (
	FlightWindow      = "flight-recorder.window"
	FlightTrigger     = "flight-recorder.trigger"
	FlightTriggerTime = "flight-recorder.trigger-time"
	FlightAfter       = "flight-recorder.trigger-after"
	// The event that fired it (absent for a trigger by hand): kernel
	// time (ns), skb address, probe name and drop reason value.
	FlightTriggerKtime  = "flight-recorder.trigger-ktime"
	FlightTriggerSKB    = "flight-recorder.trigger-skb"
	FlightTriggerProbe  = "flight-recorder.trigger-probe"
	FlightTriggerReason = "flight-recorder.trigger-drop-reason"
)

// FlightTriggerEvent is the event that fired a flight recorder capture,
// as its header names it.
type FlightTriggerEvent struct {
	Time      uint64 // kernel time, ns
	SKB       uint64
	Probe     string
	Reason    uint32
	HasReason bool
}

// FlightTriggerOf returns the event that fired the flight recorder
// capture of h; false when h names none (not a flight recorder capture,
// a trigger by hand, or values that do not parse).
func FlightTriggerOf(h *format.Header) (FlightTriggerEvent, bool) {
	var ev FlightTriggerEvent
	t, err1 := strconv.ParseUint(h.Options[FlightTriggerKtime], 10, 64)
	skb, err2 := strconv.ParseUint(strings.TrimPrefix(h.Options[FlightTriggerSKB], "0x"), 16, 64)
	if err1 != nil || err2 != nil {
		return ev, false
	}
	ev.Time, ev.SKB, ev.Probe = t, skb, h.Options[FlightTriggerProbe]
	if r, err := strconv.ParseUint(h.Options[FlightTriggerReason], 10, 32); err == nil {
		ev.Reason, ev.HasReason = uint32(r), true
	}
	return ev, true
}

// UsedOptions returns the recorder options that were on, as
// "--name=value" ("--filter-track-skb" for a true switch), sorted, and
// the number of options that were off.
func UsedOptions(h *format.Header) (used []string, off int) {
	for _, k := range slices.Sorted(maps.Keys(h.Options)) {
		if strings.HasPrefix(k, "flight-recorder.") {
			continue // what the flight recorder says of the capture, not an option
		}
		v := OptionValue(h.Options[k])
		switch {
		case optionIsOff(v):
			off++
		case v == "true":
			used = append(used, "--"+k)
		default:
			used = append(used, "--"+k+"="+v)
		}
	}
	return used, off
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

// infoDetails appends the options, failed probes and interfaces blocks
// of [Info] to b.
func infoDetails(b *strings.Builder, c *Capture, kv func(k, format string, args ...any)) {
	h := c.File.Header()
	if len(h.Options) > 0 {
		used, off := UsedOptions(h)
		if off > 0 {
			used = append(used, fmt.Sprintf("(%d more off)", off))
		}
		kv("options", "%s", wrapWords(used, 90, strings.Repeat(" ", 14)))
	}
	if fp := failedProbes(c); len(fp) > 0 {
		fmt.Fprintf(b, "failed probes:\n")
		for _, p := range fp {
			fmt.Fprintf(b, "  %s: %s\n", p.Name, p.Error)
		}
	}
	if ns := interfacesByNetns(c); len(ns) > 0 {
		fmt.Fprintf(b, "netns interfaces:\n")
		for _, n := range ns {
			name := ""
			if n.Name != "" {
				name = " (" + n.Name + ")"
			}
			fmt.Fprintf(b, "  %d%s: %s\n", n.Inode, name, strings.Join(n.Interfaces, " "))
		}
	}
}

// InfoDoc is the document of `info --json` (fields: JSON.md).
type InfoDoc struct {
	File          string            `json:"file"`
	Size          int64             `json:"size,omitempty"`
	Format        string            `json:"format"`
	Complete      bool              `json:"complete"`
	Truncated     bool              `json:"truncated"`
	TruncatedAt   int64             `json:"truncated_at,omitempty"`
	Recorder      string            `json:"recorder"`
	Host          string            `json:"host"`
	Kernel        InfoKernel        `json:"kernel"`
	BootID        string            `json:"boot_id,omitempty"`
	CommandLine   []string          `json:"command_line,omitempty"`
	PcapFilter    string            `json:"pcap_filter,omitempty"`
	Snaplen       uint32            `json:"snaplen"`
	Reveals       InfoReveals       `json:"reveals"`
	Options       map[string]string `json:"options"`
	Start         string            `json:"start,omitempty"`
	FirstEventNs  uint64            `json:"first_event_ns,omitempty"`
	LastEventNs   uint64            `json:"last_event_ns,omitempty"`
	FirstEventUTC string            `json:"first_event_utc,omitempty"`
	LastEventUTC  string            `json:"last_event_utc,omitempty"`
	Events        uint64            `json:"events"`
	Selected      *uint64           `json:"selected,omitempty"`
	SKBs          *uint64           `json:"skbs,omitempty"`
	Dropped       *uint64           `json:"dropped,omitempty"`
	Packets       uint64            `json:"packets"`
	Stacks        uint64            `json:"stacks"`
	Blobs         uint64            `json:"blobs"`
	Probes        int               `json:"probes"`
	ProbesHit     *int              `json:"probes_hit,omitempty"`
	FailedProbes  []FailedProbe     `json:"failed_probes"`
	Netns         []NetnsInterfaces `json:"netns"`
	BTF           []string          `json:"btf"`
	Losses        InfoLosses        `json:"losses"`
	Sections      []InfoSection     `json:"sections"`
	TopFunctions  []InfoFunc        `json:"top_functions,omitempty"`
}

// InfoReveals says what the capture shows whoever reads it.
type InfoReveals struct {
	Addresses string `json:"addresses"` // "real" or "redacted"
	Payload   string `json:"payload"`   // "full", "headers" or "none"
}

// InfoKernel is the recording host's uname.
type InfoKernel struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// InfoLosses is what the capture says it does not contain.
type InfoLosses struct {
	KernelLost   uint64            `json:"kernel_lost"`
	PerCPU       []uint64          `json:"per_cpu,omitempty"`
	ProbesFailed uint32            `json:"probes_failed"`
	Other        map[string]uint64 `json:"other,omitempty"`
}

// InfoSection is one section type's totals.
type InfoSection struct {
	Type     string `json:"type"`
	Sections int    `json:"sections"`
	Bytes    int64  `json:"bytes"`
	Raw      int64  `json:"raw"`
	Items    int    `json:"items"`
}

// InfoFunc is one of the busiest probes.
type InfoFunc struct {
	Func   string `json:"func"`
	Events uint64 `json:"events"`
}

// InfoJSON collects what [Info] shows as one document.
func InfoJSON(c *Capture, o *InfoOptions) (*InfoDoc, error) {
	if o == nil {
		o = &InfoOptions{}
	}
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
	}
	if o.NoScan {
		return d, nil
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return nil, err
	}
	s.raw = true
	perProbe := map[uint32]uint64{}
	var events, skbs, dropped uint64
	err = s.run(func(e *format.Event, _ *life) error {
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
		return nil, err
	}
	hit := len(perProbe)
	d.SKBs, d.Dropped, d.ProbesHit = &skbs, &dropped, &hit
	if events != sum.Events {
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
	return d, nil
}
