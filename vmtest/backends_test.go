//go:build vmtest

package vmtest

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// datagramTag finds "pwru-vmtest <backend> #<i> " in a payload.
var datagramTag = regexp.MustCompile(`pwru-vmtest ([a-z-]+) #([0-9]+) `)

// TestBackends: the same five datagrams recorded with each skb backend
// the kernel has (kprobe, kprobe-multi, fentry) and auto give the same functions
// and the same number of events per function for every datagram, and the
// same caller per function; the fentry probes say fentry in the capture
// (or the kprobe kind they fell back to); auto took a kprobe backend
// (checkAuto).
func TestBackends(t *testing.T) {
	forKernels(t, "backends", func(t *testing.T, c *checkCtx) {
		type seen struct {
			perPacket map[int]map[string]int // datagram -> function -> events
			callers   map[string]uint64      // function -> caller of its first event
		}
		got := map[string]*seen{}
		var names []string
		refused := false
		for _, r := range c.rep.Runs {
			if r.Name == "fentry" && r.ExitCode != 0 && strings.Contains(r.Stderr, "--backend fentry: kernel does not support it") {
				// Refused up front, with the reason (e.g. no fentry
				// attach cookies on 5.10): the kprobe backends are
				// compared alone.
				t.Logf("fentry refused on %s: %s", c.rep.Kernel, strings.TrimSpace(r.Stderr))
				refused = true
				continue
			}
			names = append(names, r.Name)
			cp := openCapture(t, c, r.Name)
			s := &seen{perPacket: map[int]map[string]int{}, callers: map[string]uint64{}}
			got[r.Name] = s
			byTrack := map[uint64][]format.Event{}
			for _, e := range cp.events {
				if e.TrackID != 0 {
					byTrack[e.TrackID] = append(byTrack[e.TrackID], e)
				}
			}
			for _, evs := range byTrack {
				idx := -1
				for i := range evs {
					p := cp.packetOf(t, &evs[i])
					if p == nil {
						continue
					}
					if m := datagramTag.FindSubmatch(p.Data); m != nil && string(m[1]) == r.Name {
						fmt.Sscan(string(m[2]), &idx)
						break
					}
				}
				if idx < 0 {
					continue
				}
				counts := map[string]int{}
				for i := range evs {
					name := cp.probe(&evs[i])
					counts[name]++
					if _, ok := s.callers[name]; !ok {
						s.callers[name] = evs[i].Caller
					}
				}
				s.perPacket[idx] = counts
			}
			if len(s.perPacket) != 5 {
				t.Errorf("%s: %d of 5 datagrams found as tracked skbs", r.Name, len(s.perPacket))
			}
			kinds := map[format.ProbeKind]int{}
			for _, p := range cp.f.Probes() {
				if p.SKBArg != 0 && p.Kind != format.ProbeTracepoint {
					kinds[p.Kind]++
				}
			}
			t.Logf("%s: probe kinds %v, datagram 0: %v", r.Name, kinds, s.perPacket[0])
			if r.Name == "fentry" && kinds[format.ProbeFentry] == 0 {
				t.Errorf("fentry: no probe of kind fentry in the capture (kinds %v)", kinds)
			}
			if r.Name == "auto" {
				checkAuto(t, c, r.Stderr, kinds)
			}
		}
		if !slices.Contains(names, "kprobe") || (len(names) < 2 && !refused) {
			t.Fatalf("runs %v: want kprobe and another backend at least", names)
		}
		ref := got["kprobe"]
		for _, name := range names {
			if name == "kprobe" {
				continue
			}
			s := got[name]
			for i := range 5 {
				want, have := ref.perPacket[i], s.perPacket[i]
				if !maps.Equal(want, have) {
					t.Errorf("datagram %d: %s saw %s; kprobe saw %s", i, name, countsString(have), countsString(want))
				}
			}
			for fn, caller := range ref.callers {
				if c, ok := s.callers[fn]; ok && c != caller {
					t.Errorf("%s: caller of %s is %#x, kprobe says %#x", name, fn, c, caller)
				}
			}
		}
	})
}

// checkAuto: --backend auto took a kprobe backend, also where the guest
// found the tracing multi-link in the kernel's BTF (fentry there skips the
// runs of a program a preempted task is inside: not complete), no probe is
// of kind fentry, and the recorder said which in one line.
func checkAuto(t *testing.T, c *checkCtx, stderr string, kinds map[format.ProbeKind]int) {
	t.Helper()
	multi, ok := c.rep.Values["multi_supported"]
	if !ok {
		t.Fatalf("no multi-link probe result in the report (log %v)", c.rep.Log)
	}
	line := regexp.MustCompile(`backend auto: [^\n]*`).FindString(stderr)
	t.Logf("auto on %s (tracing multi-link: %d): %s", c.rep.Kernel, multi, line)
	if kinds[format.ProbeFentry] != 0 {
		t.Errorf("auto: %d fentry probes (kinds %v), want kprobe backends only", kinds[format.ProbeFentry], kinds)
	}
	if !strings.HasPrefix(line, "backend auto: kprobe") {
		t.Errorf("auto logged %q, want a kprobe backend", line)
	}
}

func countsString(m map[string]int) string {
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// TestTracingMulti: internal/tracingmulti on the real kernel. Where the
// kernel's BTF has the multi-link, one link on udp_sendmsg and
// kfree_skbmem ran the program with each function's cookie; elsewhere the
// probe said the kernel has none (and the fentry backend then uses one
// link per function).
func TestTracingMulti(t *testing.T) {
	forKernels(t, "tmulti", func(t *testing.T, c *checkCtx) {
		v, ok := c.rep.Values["multi_supported"]
		if !ok {
			t.Fatalf("no probe result in the report (log %v)", c.rep.Log)
		}
		if v == 0 {
			t.Logf("no tracing multi-link on %s: %v", c.rep.Kernel, c.rep.Log)
			return
		}
		for _, k := range []string{"cookie_1", "cookie_2"} {
			if c.rep.Values[k] == 0 {
				t.Errorf("%s: the multi-link program never ran with it (values %v)", k, c.rep.Values)
			}
		}
	})
}
