//go:build vmtest

package vmtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/vmtest/report"
)

// Ports and sizes of the guest's filter scenarios (vmtest/guest/filters.go).
const (
	exprLenBound  = 600
	exprPort      = 5600
	exprPortA     = 5601
	exprSportSm   = 40011
	exprSportBig  = 40012
	exprSportXDPA = 40014
	exprSportXDPB = 40015
	nonSKBPort    = 5610
	nonSKBOther   = 5611
	nonSKBFunc    = "fib_table_lookup"
	helperPort    = 5620
	tcHelperName  = "vmt_tc_ldbytes"
	helperCalled  = "bpf_skb_load_bytes"
)

// udpOf returns the UDP ports and the (possibly cut) payload of a stored
// packet.
func udpOf(p *format.Packet) (sport, dport uint16, data []byte, ok bool) {
	proto, _, _, l4b, ok := l4(p)
	if !ok || proto != 17 || len(l4b) < 8 {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(l4b), binary.BigEndian.Uint16(l4b[2:]), l4b[8:], true
}

// storedPayloadOf reports whether some event's stored payload is the
// datagram: its ports and (up to the snaplen) its payload. The checksum
// is the kernel's, not in the report.
func (cp *capture) storedPayloadOf(t *testing.T, evs []format.Event, s report.Packet) bool {
	t.Helper()
	for i := range evs {
		p := cp.packetOf(t, &evs[i])
		if p == nil {
			continue
		}
		if sp, dp, data, ok := udpOf(p); ok && sp == s.Sport && dp == s.Dport && prefixEqual(data, s.Payload, 16) {
			return true
		}
	}
	return false
}

// TestSKBExpr: --filter-skb-expr on skb->len and on fields behind two and
// three pointers, --filter-xdp-expr on the XDP program's device's netns.
func TestSKBExpr(t *testing.T) {
	forKernels(t, "skbexpr", func(t *testing.T, c *checkCtx) {
		t.Run("skb", func(t *testing.T) {
			small, big := sentOf(c.rep, "udp-small", 0), sentOf(c.rep, "udp-big", 0)
			requireAnswered(t, append(small, big...))
			cp := openCapture(t, c, "skb")
			nsB, ifB := ifaceOf(t, c.rep, "skbexpr-b")
			if len(cp.events) == 0 {
				t.Fatal("no events")
			}
			// skb->len > 600 && skb->dev->ifindex == ifB &&
			// skb->dev->nd_net.net->ns.inum == nsB: the big datagrams'
			// skbs in A and the small ones' in B fail one part each.
			for _, e := range cp.events {
				if e.Len <= exprLenBound || e.Netns != nsB || e.Ifindex != uint32(ifB.Ifindex) {
					t.Errorf("%s event with skb->len %d on netns %d ifindex %d (%s) passed 'skb->len > %d' on netns %d ifindex %d",
						cp.probe(&e), e.Len, e.Netns, e.Ifindex, cp.ifname(&e), exprLenBound, nsB, ifB.Ifindex)
				}
				if e.Tuple.Sport == exprSportSm {
					t.Errorf("%s event of a small datagram (sport %d, len %d) passed", cp.probe(&e), exprSportSm, e.Len)
				}
			}
			bigEv := cp.where(func(e *format.Event) bool {
				return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", exprPort) && e.Tuple.Sport == exprSportBig
			})
			t.Logf("big datagrams: %d events, functions %v", len(bigEv), cp.funcs(bigEv))
			for _, s := range big {
				if !cp.storedPayloadOf(t, bigEv, s) {
					t.Errorf("big datagram %q: no stored payload", s.Payload[:24])
				}
			}
			for _, fn := range []string{"ip_rcv", "udp_rcv"} {
				if n := len(cp.where(func(e *format.Event) bool { return cp.probe(e) == fn && e.Tuple.Sport == exprSportBig })); n < len(big) {
					t.Errorf("%d %s events of big datagrams on %s, want >= %d (functions: %v)", n, fn, ifB.Name, len(big), cp.funcs(cp.events))
				}
			}
		})
		t.Run("xdp", func(t *testing.T) {
			ab, ba := sentOf(c.rep, "udp-xdp-ab", 0), sentOf(c.rep, "udp-xdp-ba", 0)
			requireAnswered(t, append(ab, ba...))
			cp := openCapture(t, c, "xdp")
			nsA, _ := ifaceOf(t, c.rep, "skbexpr-a")
			nsB, ifB := ifaceOf(t, c.rep, "skbexpr-b")
			var xdpID uint32
			for _, p := range cp.f.Probes() {
				if p.Kind == format.ProbeXDP && strings.Contains(p.Name, "vmt_xdp_pass") {
					xdpID = p.ID
					if p.Error != "" {
						t.Fatalf("probe %s failed to attach: %s", p.Name, p.Error)
					}
				}
			}
			if xdpID == 0 {
				t.Fatal("no probe for the guest's XDP program")
			}
			xdp := cp.where(func(e *format.Event) bool { return e.ProbeID == xdpID })
			for _, e := range xdp {
				if e.Netns != nsB || e.Ifindex != uint32(ifB.Ifindex) {
					t.Errorf("XDP event on netns %d ifindex %d passed 'ns.inum == %d' (A is %d)", e.Netns, e.Ifindex, nsB, nsA)
				}
				if e.Flags&format.FlagXDP == 0 {
					t.Errorf("XDP program event without the XDP flag")
				}
			}
			entries := 0
			for i, e := range xdp {
				p := cp.packetOf(t, &xdp[i])
				if p == nil {
					continue
				}
				if sp, dp, _, ok := udpOf(p); ok && e.Flags&format.FlagExit == 0 && sp == exprSportXDPA && dp == exprPort {
					entries++
				}
			}
			if entries < len(ab) {
				t.Errorf("%d XDP entries with a stored A -> B datagram, want %d (XDP events: %d)", entries, len(ab), len(xdp))
			}
			// The B -> A datagrams ran the same program on veth-a: the
			// expression, not a missing attachment, kept them out.
			if n := len(cp.where(func(e *format.Event) bool { return e.Tuple.Sport == exprSportXDPB && e.Tuple.Dport == exprPortA })); n == 0 {
				t.Errorf("no skb event of the B -> A datagrams: udp_rcv in A should have passed the pcap filter 'udp'")
			}
		})
	})
}

// TestNonSKB: --filter-non-skb-funcs records fib_table_lookup (no skb
// argument) when it runs in the call stack of a tracked skb, as an event of
// that skb: every tracked datagram's input route lookup, and not those of
// the untracked datagrams that followed each one through the same call
// chains. Each of its events is called from within a traced function of
// its skb: the stack holds that function's recorded stack but for the
// first frame, as one run (--output-stack).
func TestNonSKB(t *testing.T) {
	forKernels(t, "nonskb", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "udp", 0)
		requireAnswered(t, sent)
		other := sentOf(c.rep, "udp-other", 0)
		requireAnswered(t, other)
		cp := openCapture(t, c, "main")
		syms, err := cp.f.Symbols()
		if err != nil {
			t.Fatalf("symbols: %v", err)
		}
		l := cp.f.Losses()
		for _, k := range []string{"stack_lost", "nonskb_stack_lost"} {
			if n := l.Other[k]; n != 0 {
				t.Errorf("%s = %d, want 0", k, n)
			}
		}
		for i := range cp.events {
			checkStack(t, cp, syms, &cp.events[i])
		}
		var id uint32
		for _, p := range cp.f.Probes() {
			if p.Name == nonSKBFunc {
				id = p.ID
				if p.Error != "" {
					t.Fatalf("probe %s failed to attach: %s", p.Name, p.Error)
				}
				if p.SKBArg != 0 {
					t.Errorf("probe %s has skb argument %d, want none", p.Name, p.SKBArg)
				}
			}
		}
		if id == 0 {
			t.Fatalf("no probe for %s", nonSKBFunc)
		}
		// The skb events by track id and skb address. Stack-id tracking
		// may give an untracked datagram's skb a tracked one's id at a
		// function whose whole stack was seen with it (it did on 6.1,
		// rarely, at __udp_enqueue_schedule_skb): its events belong to
		// that skb, not to the datagram that had the id first. The skb
		// may even reuse the memory of the tracked skb it borrowed the id
		// from: the tuple tells the two apart.
		type skbKey struct {
			track, skb uint64
			tuple      format.Tuple
		}
		skbs := map[skbKey][]format.Event{}
		tracked := map[[2]uint64]bool{}
		for _, e := range cp.events {
			if e.TrackID != 0 && e.Flags&format.FlagNonSKB == 0 {
				tracked[[2]uint64{e.TrackID, e.SKB}] = true
				k := skbKey{e.TrackID, e.SKB, e.Tuple}
				skbs[k] = append(skbs[k], e)
			}
		}
		non := cp.where(func(e *format.Event) bool { return e.ProbeID == id })
		t.Logf("%d %s events, %d tracked skbs, %d untracked datagrams to port %d",
			len(non), nonSKBFunc, len(skbs), len(other), nonSKBOther)
		tied := map[uint64]int{}
		enclosers := map[string]int{}
		for _, e := range non {
			if e.Flags&format.FlagNonSKB == 0 || e.Flags&format.FlagTracked == 0 {
				t.Errorf("%s event with flags %#x, want non-skb and tracked", nonSKBFunc, e.Flags)
			}
			// The event is one of a tracked skb: its track id and
			// address, its packet, within its life (the route lookup
			// comes after the skb's first event and before its last, the
			// delivery), called from within one of its traced functions.
			// An untracked datagram's lookup wrongly attributed to the
			// tracked one before it comes after the latter's last event,
			// with the untracked datagram's tuple.
			if !tracked[[2]uint64{e.TrackID, e.SKB}] {
				t.Errorf("%s event of track %d on skb %#x, which no skb event has", nonSKBFunc, e.TrackID, e.SKB)
				continue
			}
			skbEv := skbs[skbKey{e.TrackID, e.SKB, e.Tuple}]
			if len(skbEv) == 0 {
				t.Errorf("%s event of track %d on skb %#x with tuple %v, which no event of that skb has", nonSKBFunc, e.TrackID, e.SKB, e.Tuple)
				continue
			}
			first, last := skbEv[0].Time, skbEv[0].Time
			for _, s := range skbEv {
				first, last = min(first, s.Time), max(last, s.Time)
			}
			if e.Time < first || e.Time > last {
				t.Errorf("%s event of track %d at %d, outside its skb's events (%d..%d)", nonSKBFunc, e.TrackID, e.Time, first, last)
			}
			if encl := enclosing(t, cp, syms, &e, skbEv); encl == "" {
				t.Errorf("%s event of track %d: its stack holds the caller chain of none of its skb's events", nonSKBFunc, e.TrackID)
			} else {
				enclosers[encl]++
			}
			if tupleIs(&e, 17, "10.0.0.1", "10.0.0.2", nonSKBPort) {
				tied[e.TrackID]++
			} else {
				t.Logf("%s event of track %d on a datagram to port %d", nonSKBFunc, e.TrackID, e.Tuple.Dport)
			}
		}
		t.Logf("%s events called from within: %v", nonSKBFunc, enclosers)
		for _, e := range cp.where(func(e *format.Event) bool { return e.Flags&format.FlagNonSKB != 0 }) {
			if e.ProbeID != id {
				t.Errorf("non-skb event from %s, which is no --filter-non-skb-funcs function", cp.probe(&e))
			}
		}
		if n := len(cp.where(func(e *format.Event) bool {
			return e.Tuple.Dport == nonSKBOther && e.Flags&format.FlagNonSKB == 0
		})); n > 0 {
			t.Logf("%d skb events of the untracked datagrams to port %d (stack-id tracking)", n, nonSKBOther)
		}
		if len(tied) < len(sent) {
			t.Errorf("%s events tied to %d of the %d datagrams' skbs; every received datagram looks up its input route", nonSKBFunc, len(tied), len(sent))
		}
		t.Logf("%s events per tracked skb: %v", nonSKBFunc, tied)
	})
}

// enclosing returns the name of the innermost traced function among the
// skb events evs that e's stack runs within: e's stack holds the event's
// stack from its frame 1 on (at most 8 frames) at some frame k >= 2.
func enclosing(t *testing.T, cp *capture, syms *format.Symbols, e *format.Event, evs []format.Event) string {
	t.Helper()
	ips, err := cp.f.Stack(e.StackID)
	if err != nil || e.StackID == 0 {
		return ""
	}
	best, name := len(ips), ""
	for i := range evs {
		if evs[i].StackID == 0 {
			continue
		}
		s, err := cp.f.Stack(evs[i].StackID)
		if err != nil || len(s) < 2 {
			continue
		}
		chain := s[1:min(len(s), 9)]
		for k := 2; k+len(chain) <= len(ips) && k < best; k++ {
			if slices.Equal(ips[k:k+len(chain)], chain) {
				best, name = k, stackNames(syms, s[:1])[0]
				break
			}
		}
	}
	return name
}

// TestStackID: --filter-track-skb-by-stackid (what --filter-non-skb-funcs
// implies) keeps one track id per skb for datagrams that take the same
// path, and records no non-skb event without --filter-non-skb-funcs.
func TestStackID(t *testing.T) {
	forKernels(t, "stackid", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "udp", 0)
		requireAnswered(t, sent)
		cp := openCapture(t, c, "main")
		// --filter-track-skb-by-stackid: each datagram matches the
		// filter by itself and is its own skb, so it gets its own
		// track id, although it runs through the same stacks as the
		// one before.
		ids := map[uint64]bool{}
		for _, e := range cp.where(func(e *format.Event) bool {
			return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", nonSKBPort) && cp.probe(e) == "udp_rcv"
		}) {
			ids[e.TrackID] = true
		}
		if ids[0] {
			t.Error("a udp_rcv event of the datagrams has no track id")
		}
		if len(ids) != len(sent) {
			t.Errorf("udp_rcv events of the %d datagrams carry %d distinct track ids, want one each", len(sent), len(ids))
		}
		for _, p := range cp.f.Probes() {
			if p.Name == nonSKBFunc {
				t.Errorf("probe %s exists without --filter-non-skb-funcs", p.Name)
			}
		}
		if n := len(cp.where(func(e *format.Event) bool { return e.Flags&format.FlagNonSKB != 0 })); n > 0 {
			t.Errorf("%d non-skb events without --filter-non-skb-funcs", n)
		}
		if n := len(cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", nonSKBPort) })); n == 0 {
			t.Error("no events of the datagrams")
		}
	})
}

// TestBPFHelpers: --filter-track-bpf-helpers records the helper the
// guest's tc program calls (bpf_skb_load_bytes), tied to the skb the
// program runs on, and no helper it does not call.
func TestBPFHelpers(t *testing.T) {
	forKernels(t, "helpers", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "udp", helperPort)
		requireAnswered(t, sent)
		cp := openCapture(t, c, "main")
		var tcID, helperID uint32
		helpers := 0
		for _, p := range cp.f.Probes() {
			switch {
			case p.Kind == format.ProbeTC && strings.Contains(p.Name, tcHelperName):
				tcID = p.ID
			case p.Name == helperCalled:
				helperID = p.ID
			}
			if strings.HasPrefix(p.Name, "bpf_") && p.Kind != format.ProbeTC && p.Kind != format.ProbeXDP {
				helpers++
			}
			if (p.ID == tcID || p.ID == helperID) && p.ID != 0 && p.Error != "" {
				t.Fatalf("probe %s failed to attach: %s", p.Name, p.Error)
			}
		}
		t.Logf("%d helper probes", helpers)
		if tcID == 0 || helperID == 0 {
			t.Fatalf("probe of the tc program found: %v, probe of %s found: %v", tcID != 0, helperCalled, helperID != 0)
		}
		// Entry and exit of the tc program per skb address.
		type span struct{ from, to uint64 }
		runs := map[uint64][]span{}
		for _, e := range cp.where(func(e *format.Event) bool { return e.ProbeID == tcID }) {
			r := runs[e.SKB]
			if e.Flags&format.FlagExit == 0 {
				runs[e.SKB] = append(r, span{from: e.Time})
			} else if len(r) > 0 && r[len(r)-1].to == 0 {
				r[len(r)-1].to = e.Time
			}
		}
		calls := cp.where(func(e *format.Event) bool { return e.ProbeID == helperID })
		inRun := 0
		for _, e := range calls {
			if !tupleIs(&e, 17, "10.0.0.1", "10.0.0.2", helperPort) {
				t.Errorf("%s event with tuple %+v, want the datagrams to port %d", helperCalled, e.Tuple, helperPort)
			}
			if slices.ContainsFunc(runs[e.SKB], func(s span) bool { return s.from <= e.Time && (s.to == 0 || e.Time <= s.to) }) {
				inRun++
			}
		}
		if inRun < len(sent) {
			t.Errorf("%d %s events within a run of the tc program on the same skb, want >= %d (%d %s events, %d skbs ran the program)",
				inRun, helperCalled, len(sent), len(calls), helperCalled, len(runs))
		}
		other := map[string]int{}
		for _, e := range cp.events {
			if p := cp.f.Probe(e.ProbeID); p != nil && e.ProbeID != helperID && strings.HasPrefix(p.Name, "bpf_") &&
				p.Kind != format.ProbeTC && p.Kind != format.ProbeXDP {
				other[p.Name]++
			}
		}
		if len(other) > 0 {
			names := make([]string, 0, len(other))
			for n, k := range other {
				names = append(names, fmt.Sprintf("%s x%d", n, k))
			}
			sort.Strings(names)
			t.Errorf("events of helpers the tc program does not call (the recorder's own?): %s", strings.Join(names, ", "))
		}
		var b bytes.Buffer
		for _, e := range cp.events[:min(len(cp.events), 12)] {
			fmt.Fprintf(&b, " %s", cp.probe(&e))
		}
		t.Logf("first events:%s", b.String())
	})
}
