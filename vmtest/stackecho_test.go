//go:build vmtest

package vmtest

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/pktfilter"
)

// TestStackEcho: --filter-track-skb-by-stackid. The pcap filter admits only
// echo sequence 1; the echo requests with sequences 2 and 3 run through
// the same kernel stacks and must reach icmp_rcv as tracked events. Every
// event carries a sensible stack of its own (--output-stack).
func TestStackEcho(t *testing.T) {
	forKernels(t, "stackecho", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, sentOf(c.rep, "icmp-echo", 0))
		cp := openCapture(t, c, "main")
		syms, err := cp.f.Symbols()
		if err != nil {
			t.Fatalf("symbols: %v", err)
		}
		expr := cp.f.Header().PcapFilter
		filter, err := pktfilter.Compile(expr)
		if err != nil {
			t.Fatalf("compile the capture's filter %q: %v", expr, err)
		}
		l := cp.f.Losses()
		t.Logf("%d events, %d stacks, stack_lost %d, stackid_lost %d",
			len(cp.events), cp.f.Summary().Stacks, l.Other["stack_lost"], l.Other["stackid_lost"])
		for _, k := range []string{"stack_lost", "stackid_lost"} {
			if n := l.Other[k]; n != 0 {
				t.Errorf("%s = %d, want 0", k, n)
			}
		}
		seqs := map[uint16]int{} // echo request sequence -> icmp_rcv events
		for i := range cp.events {
			e := &cp.events[i]
			checkStack(t, cp, syms, e)
			if cp.probe(e) != "icmp_rcv" {
				continue
			}
			p := cp.packetOf(t, e)
			if p == nil {
				t.Errorf("icmp_rcv event at %d without a payload", e.Time)
				continue
			}
			proto, _, _, icmp, ok := l4(p)
			if !ok || proto != 1 || len(icmp) < 8 || icmp[0] != 8 {
				continue // not an echo request
			}
			seq := binary.BigEndian.Uint16(icmp[6:])
			seqs[seq]++
			if seq == 1 {
				continue
			}
			if filter.Match(p.Data, p.L3) {
				t.Errorf("%q matches echo sequence %d: the filter must exclude it", expr, seq)
			}
			if e.Flags&format.FlagTracked == 0 || e.TrackID == 0 {
				t.Errorf("icmp_rcv of echo sequence %d: flags %v, track id %d; want tracked", seq, e.Flags, e.TrackID)
			}
		}
		if diff := cmp.Diff(map[uint16]int{1: 1, 2: 1, 3: 1}, seqs); diff != "" {
			t.Errorf("icmp_rcv events per echo request sequence (-want +got):\n%s", diff)
		}
	})
}
