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
// libpcap's (pcap_compile and pcap_offline_filter) on the corpus:
// DLT_EN10MB for Ethernet frames, DLT_RAW for packets that start at the IP
// header; once as tcpdump runs libpcap (optimised) and once unoptimised.
// When libpcap cannot compile an expression for DLT_RAW (link-layer
// primitives), that expression/packet pair is skipped; when it reports that
// the expression rejects all packets, the expected verdict is false. An
// expression must compile with pktfilter exactly when it compiles with
// libpcap for Ethernet.
func TestConformanceLibpcap(t *testing.T) {
	ps := corpus(t)
	for _, optimize := range []bool{true, false} {
		var total, agree, skipped, matches int
		for _, expr := range conformanceExprs {
			f, err := compile(expr, optimize)
			lp := compileLibpcap(t, expr, optimize)
			l2err := lp.l2err
			if l2err != nil && rejectsAll(l2err) {
				l2err = nil
			}
			if (err == nil) != (l2err == nil) {
				t.Errorf("optimize=%v: Compile(%q) error %v; libpcap (Ethernet) error %v", optimize, expr, err, l2err)
				continue
			}
			if err != nil {
				continue
			}
			for _, p := range ps {
				want, ok := lp.verdict(p)
				if !ok {
					skipped++
					continue
				}
				got := f.MatchLen(p.data, p.wirelen, p.l3)
				total++
				if want {
					matches++
				}
				if got == want {
					agree++
					continue
				}
				t.Errorf("optimize=%v: expr %q, packet %q (l3=%v, wirelen %d): got %v, libpcap %v\n%s",
					optimize, expr, p.name, p.l3, p.wirelen, got, want, hex.Dump(p.data))
			}
		}
		t.Logf("optimize=%v: %d packets x %d expressions; %d verdicts compared (%d matches), %d agree (%.2f%%), %d pairs skipped (libpcap cannot compile the expression for raw IP)",
			optimize, len(ps), len(conformanceExprs), total, matches, agree, 100*float64(agree)/float64(max(total, 1)), skipped)
		if matches < total/20 {
			t.Errorf("only %d of %d verdicts are matches: the corpus does not exercise the filters", matches, total)
		}
	}
	if len(ps) < 60 || len(conformanceExprs) < 80 {
		t.Errorf("corpus too small: %d packets, %d expressions", len(ps), len(conformanceExprs))
	}
}

func rejectsAll(err error) bool {
	return strings.Contains(err.Error(), "expression rejects all packets")
}

// FuzzLibpcap is a differential fuzz target. Unoptimised, an expression
// must compile with pktfilter exactly when it compiles with libpcap for
// Ethernet, and the verdicts must agree. Optimised, the verdicts must agree
// whenever the unoptimised filter reads nothing past the packet (the
// optimisers may skip different out-of-range tests). Expressions
// pktfilter reports as unsupported are not given to libpcap (they could
// trigger name lookups), nor are the documented "byte N & V" forms, nor
// packets on which libpcap's code is ill-defined (a protochain loop,
// Geneve offsets used before a Geneve test computed them).
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
		plain, err := compile(expr, false)
		if errors.Is(err, ErrUnsupported) || usesByteMask(expr) {
			return
		}
		p := testPacket{data: data, l3: l3}
		if err == nil {
			if _, tr := plain.matchInfo(data, len(data), l3); tr.hung || tr.uninit {
				return // libpcap loops forever or reads uninitialised memory
			}
		}
		lplain := compileLibpcap(t, expr, false)
		switch {
		case err != nil && lplain.l2err == nil:
			if strings.Contains(err.Error(), "unknown port") || strings.Contains(err.Error(), "unknown ip proto") {
				return // a name in the host's /etc/services or /etc/protocols only
			}
			t.Fatalf("Compile(%q): %v; libpcap compiles it", expr, err)
		case err == nil && lplain.l2err != nil:
			t.Fatalf("Compile(%q) succeeded; libpcap: %v", expr, lplain.l2err)
		case err != nil:
			return
		}
		want, ok := lplain.verdict(p)
		if !ok {
			return // libpcap cannot compile it for raw IP
		}
		got, aborted := plain.matchTrace(data, len(data), l3)
		if got != want {
			t.Fatalf("unoptimised: expr %q, l3=%v, packet %x: got %v, libpcap %v", expr, l3, data, got, want)
		}
		opt, oerr := Compile(expr)
		lopt := compileLibpcap(t, expr, true)
		if oerr != nil || (lopt.l2err != nil && !rejectsAll(lopt.l2err)) {
			if (oerr != nil && foldError(oerr)) || (lopt.l2err != nil && foldError(lopt.l2err)) {
				return // constant folding errors depend on the optimiser
			}
			t.Fatalf("Compile(%q) error %v; libpcap optimised: %v", expr, oerr, lopt.l2err)
		}
		if aborted {
			return
		}
		wantOpt, _ := lopt.verdict(p)
		if gotOpt := opt.Match(data, l3); gotOpt != wantOpt {
			t.Fatalf("expr %q, l3=%v, packet %x: got %v, libpcap %v", expr, l3, data, gotOpt, wantOpt)
		}
	})
}

// libpcapPrograms compiles expr for Ethernet and raw IP.
type libpcapPrograms struct {
	l2, l3       *pcaporacle.Program
	l2err, l3err error
}

func compileLibpcap(t *testing.T, expr string, optimize bool) libpcapPrograms {
	var lp libpcapPrograms
	lp.l2, lp.l2err = pcaporacle.Compile(expr, pcaporacle.LinkEthernet, optimize)
	lp.l3, lp.l3err = pcaporacle.Compile(expr, pcaporacle.LinkRaw, optimize)
	t.Cleanup(func() {
		for _, p := range []*pcaporacle.Program{lp.l2, lp.l3} {
			if p != nil {
				p.Close()
			}
		}
	})
	return lp
}

// verdict returns libpcap's verdict on p, or false when libpcap cannot
// compile the expression for p's link type (rejects-all counts as false).
func (lp libpcapPrograms) verdict(p testPacket) (match, ok bool) {
	prog, err := lp.l2, lp.l2err
	if p.l3 {
		prog, err = lp.l3, lp.l3err
	}
	if err != nil {
		return false, rejectsAll(err)
	}
	return prog.Match(p.data, p.wirelen), true
}

// foldError reports errors that libpcap's optimiser raises only when the
// folded code is reachable.
func foldError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "by zero") || strings.Contains(s, "more than 31 bits")
}

// TestRandomExpressionsLibpcap compares verdicts on the corpus for random
// expressions built from the supported grammar (fixed seed, so failures
// reproduce). Without optimisation every verdict must agree with libpcap's
// unoptimised code. With optimisation, the optimisers decide which tests
// run, and so whether a packet too short for a test that one of them skips
// matches: verdicts must agree for every packet on which the unoptimised
// filter reads nothing past the capture, and the agreement on the others
// is reported.
func TestRandomExpressionsLibpcap(t *testing.T) {
	ps := corpus(t)
	g := newExprGen(1)
	n := 3000
	if testing.Short() {
		n = 300
	}
	var compiled, strict, optDependent, optAgree, foldErrs, failures int
	fail := func(format string, args ...any) {
		failures++
		if failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for range n {
		expr := g.expr(2)
		plain, perr := compile(expr, false)
		opt, oerr := Compile(expr)
		lplain := compileLibpcap(t, expr, false)
		lopt := compileLibpcap(t, expr, true)
		if (perr == nil) != (lplain.l2err == nil) {
			fail("%q unoptimised: Compile error %v, libpcap error %v", expr, perr, lplain.l2err)
			continue
		}
		if perr != nil {
			continue
		}
		lopt2err := lopt.l2err
		if lopt2err != nil && rejectsAll(lopt2err) {
			lopt2err = nil
		}
		if (oerr == nil) != (lopt2err == nil) {
			if (oerr != nil && foldError(oerr)) || (lopt2err != nil && foldError(lopt2err)) {
				foldErrs++
			} else {
				fail("%q: Compile error %v, libpcap error %v", expr, oerr, lopt2err)
			}
			continue
		}
		if oerr != nil {
			continue
		}
		compiled++
		for _, p := range ps {
			wantPlain, ok := lplain.verdict(p)
			if !ok {
				continue
			}
			gotPlain, aborted := plain.matchTrace(p.data, p.wirelen, p.l3)
			if gotPlain != wantPlain {
				fail("expr %q unoptimised, packet %q (l3=%v): got %v, libpcap %v", expr, p.name, p.l3, gotPlain, wantPlain)
			}
			wantOpt, _ := lopt.verdict(p)
			got := opt.MatchLen(p.data, p.wirelen, p.l3)
			if aborted {
				optDependent++
				if got == wantOpt {
					optAgree++
				}
				continue
			}
			strict++
			if got != wantOpt {
				fail("expr %q, packet %q (l3=%v): got %v, libpcap %v", expr, p.name, p.l3, got, wantOpt)
			}
		}
	}
	t.Logf("%d random expressions, %d compiled by both; %d verdicts on packets the filter reads within the capture, all agree; "+
		"%d on packets where some test reads past the capture (optimiser-dependent): %d agree (%.1f%%); "+
		"%d expressions where only one optimiser reports a constant division by zero or an oversized shift",
		n, compiled, strict, optDependent, optAgree, 100*float64(optAgree)/float64(max(optDependent, 1)), foldErrs)
}

// usesByteMask reports "byte N & V" or "byte N | V", where libpcap 1.10
// tests the accumulator instead of byte N (a documented difference).
func usesByteMask(expr string) bool {
	toks, err := lex(expr)
	if err != nil {
		return false
	}
	for i, t := range toks {
		if t.kind == tkKW && t.kw == "byte" && i+2 < len(toks) && (isOp(toks[i+2], "&") || isOp(toks[i+2], "|")) {
			return true
		}
	}
	return false
}

// TestRejectsAllLibpcap checks [Filter.RejectsAll] against libpcap's
// optimiser: it holds exactly for the expressions libpcap refuses for
// Ethernet with "expression rejects all packets".
func TestRejectsAllLibpcap(t *testing.T) {
	n := 0
	for _, expr := range conformanceExprs {
		f, err := Compile(expr)
		if err != nil {
			continue
		}
		lp := compileLibpcap(t, expr, true)
		want := lp.l2err != nil && rejectsAll(lp.l2err)
		if want {
			n++
		}
		if got := f.RejectsAll(); got != want {
			t.Errorf("Compile(%q).RejectsAll() = %v; libpcap (Ethernet): %v", expr, got, lp.l2err)
		}
	}
	if n < 3 {
		t.Errorf("only %d expressions reject all packets: the corpus does not exercise RejectsAll", n)
	}
}
