//go:build linux && cgo

package pktfilter

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/internal/pktfilter/internal/pcaporacle"
)

// TestConformanceLibpcap compares every verdict of the pure-Go matcher with
// libpcap's (pcap_compile with optimisation, as tcpdump does, and
// pcap_offline_filter) on the corpus: DLT_EN10MB for Ethernet frames,
// DLT_RAW for packets that start at the IP header. When libpcap cannot
// compile an expression for DLT_RAW (link-layer primitives), that
// expression/packet pair is skipped; when it reports that the expression
// rejects all packets, the expected verdict is false.
func TestConformanceLibpcap(t *testing.T) {
	ps := corpus(t)
	type oracle struct {
		prog *pcaporacle.Program
		err  error
	}
	var total, agree, skipped, matches int
	for _, expr := range conformanceExprs {
		f, err := Compile(expr)
		if err != nil {
			_, lerr := pcaporacle.Compile(expr, pcaporacle.LinkEthernet, true)
			if lerr == nil {
				t.Errorf("Compile(%q): %v; libpcap compiles it", expr, err)
			}
			continue
		}
		var orc [2]oracle
		for i, lt := range []int{pcaporacle.LinkEthernet, pcaporacle.LinkRaw} {
			prog, err := pcaporacle.Compile(expr, lt, true)
			orc[i] = oracle{prog, err}
			if prog != nil {
				defer prog.Close()
			}
		}
		if orc[0].err != nil && !rejectsAll(orc[0].err) {
			t.Errorf("Compile(%q) succeeded; libpcap (Ethernet): %v", expr, orc[0].err)
			continue
		}
		for _, p := range ps {
			o := orc[0]
			if p.l3 {
				o = orc[1]
			}
			if o.err != nil && !rejectsAll(o.err) {
				skipped++
				continue
			}
			want := o.err == nil && o.prog.Match(p.data, p.wirelen)
			got := f.MatchLen(p.data, p.wirelen, p.l3)
			total++
			if want {
				matches++
			}
			if got == want {
				agree++
				continue
			}
			t.Errorf("expr %q, packet %q (l3=%v, wirelen %d): got %v, libpcap %v\n%s",
				expr, p.name, p.l3, p.wirelen, got, want, hex.Dump(p.data))
		}
	}
	t.Logf("corpus: %d packets x %d expressions; %d verdicts compared (%d matches), %d agree (%.2f%%), %d pairs skipped (libpcap cannot compile the expression for raw IP)",
		len(ps), len(conformanceExprs), total, matches, agree, 100*float64(agree)/float64(max(total, 1)), skipped)
	if matches < total/20 {
		t.Errorf("only %d of %d verdicts are matches: the corpus does not exercise the filters", matches, total)
	}
	if len(ps) < 60 || len(conformanceExprs) < 80 {
		t.Errorf("corpus too small: %d packets, %d expressions", len(ps), len(conformanceExprs))
	}
}

func rejectsAll(err error) bool {
	return strings.Contains(err.Error(), "expression rejects all packets")
}

// FuzzLibpcap is a differential fuzz target: whenever both pktfilter and
// libpcap accept an expression, their verdicts on the packet must agree,
// and an expression pktfilter accepts must compile with libpcap for
// Ethernet. Expressions pktfilter reports as unsupported are not given to
// libpcap (they could trigger name lookups).
func FuzzLibpcap(f *testing.F) {
	ps := corpus(f)
	for i, e := range conformanceExprs {
		p := ps[(i*7)%len(ps)]
		f.Add(e, p.data, p.l3)
	}
	f.Fuzz(func(t *testing.T, expr string, data []byte, l3 bool) {
		if strings.ContainsRune(expr, 0) {
			return
		}
		flt, err := Compile(expr)
		if errors.Is(err, ErrUnsupported) {
			return
		}
		lt := pcaporacle.LinkEthernet
		if l3 {
			lt = pcaporacle.LinkRaw
		}
		prog, lerr := pcaporacle.Compile(expr, lt, true)
		if prog != nil {
			defer prog.Close()
		}
		switch {
		case err != nil && lerr == nil:
			if strings.Contains(err.Error(), "unknown port") || strings.Contains(err.Error(), "unknown ip proto") {
				return // a name in the host's /etc/services or /etc/protocols only
			}
			t.Fatalf("Compile(%q): %v; libpcap compiles it", expr, err)
		case err != nil:
			return
		case lerr != nil && rejectsAll(lerr):
			if flt.Match(data, l3) {
				t.Fatalf("%q matches %x; libpcap: %v", expr, data, lerr)
			}
			return
		case lerr != nil:
			if !l3 {
				t.Fatalf("Compile(%q) succeeded; libpcap: %v", expr, lerr)
			}
			return
		}
		if got, want := flt.Match(data, l3), prog.Match(data, len(data)); got != want {
			t.Fatalf("expr %q, l3=%v, packet %x: got %v, libpcap %v", expr, l3, data, got, want)
		}
	})
}

// TestRandomExpressionsLibpcap compares verdicts on the corpus for random
// expressions built from the supported grammar (fixed seed, so failures
// reproduce).
func TestRandomExpressionsLibpcap(t *testing.T) {
	ps := corpus(t)
	g := newExprGen(1)
	n := 3000
	if testing.Short() {
		n = 300
	}
	var compiled, total, failures int
	for range n {
		expr := g.expr(2)
		f, err := Compile(expr)
		l2, lerr := pcaporacle.Compile(expr, pcaporacle.LinkEthernet, true)
		if l2 != nil {
			defer l2.Close()
		}
		if lerr != nil && rejectsAll(lerr) {
			lerr = nil
		}
		if (err == nil) != (lerr == nil) {
			t.Errorf("%q: Compile error %v, libpcap error %v", expr, err, lerr)
			continue
		}
		if err != nil {
			continue
		}
		compiled++
		raw, rerr := pcaporacle.Compile(expr, pcaporacle.LinkRaw, true)
		if raw != nil {
			defer raw.Close()
		}
		for _, p := range ps {
			prog := l2
			if p.l3 {
				if rerr != nil && !rejectsAll(rerr) {
					continue
				}
				prog = raw
			}
			want := prog != nil && prog.Match(p.data, p.wirelen)
			total++
			if got := f.MatchLen(p.data, p.wirelen, p.l3); got != want {
				failures++
				if failures <= 20 {
					t.Errorf("expr %q, packet %q (l3=%v): got %v, libpcap %v", expr, p.name, p.l3, got, want)
				}
			}
		}
	}
	t.Logf("%d random expressions, %d compiled by both, %d verdicts compared, %d disagree", n, compiled, total, failures)
}
