//go:build vmtest

package vmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/vmtest/report"
)

// Ports of vmtest/guest/flight.go.
const (
	flightDropPort = 5651
	flightPcapPort = 5652
)

// flightWarmUp: RSS samples before this (the window filling, the first
// capture written) are the warm-up; flightSteady: the samples from here
// to flightSteadyEnd are the baseline the last ones are compared with.
const (
	flightSteady    = 40
	flightSteadyEnd = 55
	flightLast      = 95
	// flightLastAfter: the last samples begin this many seconds after
	// the last capture became complete at the earliest.
	flightLastAfter = 3
)

// TestFlight: a flight recorder over two minutes of steady traffic with
// rare nftables drops and one datagram matching --trigger-pcap writes
// nothing before the first trigger and exactly one capture per trigger
// outside the hold-off (three), each holding the window before it and the
// whole journey of the skb that fired it, named in its header; info and
// paths show that event; the recorder's RSS stays flat after warm-up.
func TestFlight(t *testing.T) {
	forKernels(t, "flight", func(t *testing.T, c *checkCtx) {
		v := c.rep.Values
		r := c.rep.Run("flight")
		if r == nil {
			t.Fatal("no flight run in the report")
		}
		t.Logf("sent %d datagrams (%d payload bytes) in %d ms; trigger to complete file %d, %d, %d ms; log %v; stderr:\n%s",
			v["sent"], v["sent_bytes"], v["traffic_ms"], v["trigger_to_file_ms_1"], v["trigger_to_file_ms_2"], v["trigger_to_file_ms_3"],
			c.rep.Log, stderrTail(r.Stderr))
		if v["files_before_drop"] != 0 {
			t.Errorf("%d files before the first trigger, want none", v["files_before_drop"])
		}
		files, _ := filepath.Glob(filepath.Join(c.dir, "flight-*.pwru"))
		sort.Strings(files)
		var kinds []string
		for _, f := range files {
			kinds = append(kinds, f[strings.LastIndexByte(f, '-')+1:len(f)-len(".pwru")])
		}
		if want := []string{"drop", "pcap", "drop"}; !slices.Equal(kinds, want) {
			t.Fatalf("flight recorder captures %v (triggers %v), want one per trigger outside the hold-off: %v", files, kinds, want)
		}
		var rate float64 // compressed capture bytes per second of events
		for i, file := range files {
			t.Run(fmt.Sprintf("capture%d-%s", i+1, kinds[i]), func(t *testing.T) {
				rate = max(rate, checkFlightCapture(t, file, kinds[i]))
			})
		}
		checkFlightRSS(t, v, rate)
		// --trigger-drop REASON: refused at start, in one line, on a
		// kernel that reports no drop reasons.
		rr := c.rep.Run("flight-reasons")
		if rr == nil {
			t.Fatal("no flight-reasons run in the report")
		}
		const refusal = "this kernel reports no drop reasons (its skb:kfree_skb tracepoint passes none); only --trigger-drop any can fire"
		if c.has(t, report.FeatDropReason) {
			if rr.ExitCode != 0 {
				t.Errorf("--trigger-drop NETFILTER_DROP on a kernel with drop reasons: exit %d:\n%s", rr.ExitCode, stderrTail(rr.Stderr))
			}
		} else if rr.ExitCode == 0 || !strings.Contains(rr.Stderr, refusal) {
			t.Errorf("--trigger-drop NETFILTER_DROP on a kernel without drop reasons: exit %d, want the refusal %q:\n%s", rr.ExitCode, refusal, stderrTail(rr.Stderr))
		}
	})
}

// checkFlightCapture checks one capture of TestFlight and returns its
// compressed bytes per second of events.
func checkFlightCapture(t *testing.T, file, kind string) float64 {
	cp := readCapture(t, file, false)
	h := cp.f.Header()
	if h.Options[analyze.FlightTrigger] != kind || h.Options[analyze.FlightWindow] != "10s" {
		t.Errorf("header options %v: want the flight recorder's window and trigger %s", h.Options, kind)
	}
	trig, ok := analyze.FlightTriggerOf(h)
	if !ok {
		t.Fatalf("header names no trigger event: %v", h.Options)
	}
	port := uint16(flightDropPort)
	if kind == "pcap" {
		port = flightPcapPort
	}
	var journey, drops, flagged int
	var fired *format.Event
	for i := range cp.events {
		e := &cp.events[i]
		if e.Flags&format.FlagTrigger != 0 {
			flagged++
			if kind == "pcap" && !tupleIs(e, 17, "10.0.0.1", "10.0.0.2", flightPcapPort) {
				t.Errorf("event of %s flagged as matching --trigger-pcap: %+v", cp.f.Probe(e.ProbeID).Name, e.Tuple)
			}
		}
	}
	// The trigger skb's life: its address is reused by the next
	// datagrams, so its events are those after the free (freedIn) before
	// the trigger, up to the one after it.
	var cur, life []*format.Event
	for i := range cp.events {
		e := &cp.events[i]
		if e.SKB != trig.SKB {
			continue
		}
		cur = append(cur, e)
		if e.Time == trig.Time {
			fired = e
		}
		if freedIn(cp, e) {
			if fired != nil {
				break
			}
			cur = cur[:0]
		}
	}
	if fired != nil {
		life = cur
	}
	for _, e := range life {
		journey++
		// A drop: the skb:kfree_skb tracepoint with a drop reason, or
		// without one on a kernel that reports none (5.10).
		isDrop := e.Flags&format.FlagDropReason != 0 && e.DropReason > 1
		if p := cp.f.Probe(e.ProbeID); !isDrop && e.Flags&format.FlagDropReason == 0 && p != nil && p.Kind == format.ProbeTracepoint {
			isDrop = true
		}
		if isDrop {
			drops++
		}
	}
	if fired == nil {
		t.Fatalf("the trigger event (time %d, skb 0x%x) is not in the capture", trig.Time, trig.SKB)
	}
	if !tupleIs(fired, 17, "10.0.0.1", "10.0.0.2", port) {
		t.Errorf("the trigger event is not the datagram to port %d: %+v", port, fired.Tuple)
	}
	if p := cp.f.Probe(fired.ProbeID); p == nil || p.Name != trig.Probe {
		t.Errorf("trigger probe %q in the header, the event's is %v", trig.Probe, p)
	}
	switch kind {
	case "drop":
		if journey < 3 || drops == 0 {
			t.Errorf("dropped skb: %d events, %d drops; want its journey to the drop", journey, drops)
		}
	case "pcap":
		if fired.Flags&format.FlagTrigger == 0 || flagged < 3 {
			t.Errorf("--trigger-pcap: the trigger event has flags %#x, %d events flagged; want the flag on its journey", fired.Flags, flagged)
		}
		if journey < 3 || drops != 0 {
			t.Errorf("--trigger-pcap skb: %d events, %d drops; want its delivered journey", journey, drops)
		}
	}
	first, last := cp.events[0].Time, cp.events[len(cp.events)-1].Time
	before, after := time.Duration(trig.Time-first), time.Duration(last-trig.Time)
	t.Logf("%s: %d events, %d bytes, window %v before the trigger, %v after; the trigger skb's journey %d events; flight_window_evicted %d",
		filepath.Base(file), len(cp.events), fileSize(t, file), before, after, journey, cp.f.Losses().Other["flight_window_evicted"])
	if before < 8*time.Second || before > 11*time.Second {
		t.Errorf("the capture holds %v before the trigger, want about the 10s window", before)
	}
	if after > 2*time.Second+100*time.Millisecond {
		t.Errorf("the capture holds %v after the trigger, want at most --trigger-after 2s", after)
	}
	out, err := exec.Command(bins["pwru-replay"], "info", file).CombinedOutput()
	if want := fmt.Sprintf("(%d), skb 0x%x, %s", trig.Time, trig.SKB, trig.Probe); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("pwru-replay info: %v; does not name the trigger event %q:\n%s", err, want, out)
	}
	out, err = exec.Command(bins["pwru-replay"], "paths", "--json", file).Output()
	if err != nil {
		t.Fatalf("pwru-replay paths --json: %v", err)
	}
	var marked []analyze.JourneyJSON
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var j analyze.JourneyJSON
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("paths --json: %v", err)
		}
		if j.Trigger {
			marked = append(marked, j)
		}
	}
	if want := "0x" + strconv.FormatUint(trig.SKB, 16); len(marked) != 1 || !slices.Equal(marked[0].SKBs, []string{want}) {
		t.Fatalf("paths --json marks %d journeys %+v, want the one of skb %s", len(marked), marked, want)
	}
	wantFate := map[string]string{"drop": "dropped", "pcap": "delivered"}[kind]
	steps := 0
	for _, s := range marked[0].Steps {
		if s.Trigger {
			steps++
		}
	}
	if marked[0].Fate != wantFate || len(marked[0].Steps) < 3 || steps != 1 {
		t.Errorf("paths: the trigger journey is %s with %d steps (%d marked), want %s, its whole journey, one marked: %+v",
			marked[0].Fate, len(marked[0].Steps), steps, wantFate, marked[0])
	}
	return float64(fileSize(t, file)) / (before + after).Seconds()
}

// freedIn says whether e ends its skb's life: kfree_skbmem, or
// napi_skb_cache_put where the kernel puts the skb back into its per-CPU
// cache (a delivered datagram on 7.2).
func freedIn(cp *capture, e *format.Event) bool {
	p := cp.f.Probe(e.ProbeID)
	return p != nil && (p.Name == "kfree_skbmem" || p.Name == "napi_skb_cache_put")
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// checkFlightRSS: the recorder's RSS after warm-up stays flat: the last
// samples may not exceed the steady ones by more than 15% or 8 MiB
// (whichever is less). rate (compressed bytes per second of events, from
// the captures) shows the bound can see a leak: a window that kept
// everything would grow by rate × the time between the samples, which
// must exceed the tolerance by a quarter at least.
func checkFlightRSS(t *testing.T, v map[string]uint64, rate float64) {
	type sample struct{ at, kb uint64 }
	var samples []sample
	for k, kb := range v {
		if s, ok := strings.CutPrefix(k, "rss_kb_at_"); ok {
			at, err := strconv.ParseUint(s, 10, 64)
			if err == nil {
				samples = append(samples, sample{at, kb})
			}
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].at < samples[j].at })
	// The last samples start once the last capture is complete (a slow
	// guest may take longer than the schedule allows to write it: writing
	// holds its compressed copy in memory, which is no leak).
	lastFrom := max(uint64(flightLast), v["last_complete_s"]+flightLastAfter)
	var text []string
	var steady, last []uint64
	for _, s := range samples {
		text = append(text, fmt.Sprintf("%ds %.1fMiB", s.at, float64(s.kb)/1024))
		switch {
		case s.at >= flightSteady && s.at < flightSteadyEnd:
			steady = append(steady, s.kb)
		case s.at >= lastFrom:
			last = append(last, s.kb)
		}
	}
	t.Logf("recorder VmRSS every 3s: %s; the last capture complete at %ds", strings.Join(text, ", "), v["last_complete_s"])
	if len(steady) < 3 || len(last) < 3 {
		t.Fatalf("%d steady and %d last RSS samples (from %ds), want at least 3 of each", len(steady), len(last), lastFrom)
	}
	base := slices.Max(steady)
	slices.Sort(last)
	end := last[len(last)/2] // median: one GC cycle's peak is not a leak
	tol := min(base*15/100, 8<<10)
	span := float64(samples[len(samples)-1].at - flightSteady)
	t.Logf("RSS: steady max %.1f MiB, last median %.1f MiB, tolerance %.1f MiB; a window keeping everything would grow %.1f MiB (%.0f KiB/s over %.0fs)",
		float64(base)/1024, float64(end)/1024, float64(tol)/1024, rate*span/(1<<20), rate/1024, span)
	if end > base+tol {
		t.Errorf("recorder RSS grew from %d kB to %d kB after warm-up (tolerance %d kB): a leak", base, end, tol)
	}
	if rate*span/1024 < 1.25*float64(tol) {
		t.Errorf("the traffic (%.0f KiB/s of capture) is too little for the RSS bound to see a leak of the window", rate/1024)
	}
}
