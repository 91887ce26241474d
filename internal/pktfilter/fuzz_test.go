package pktfilter

import (
	"errors"
	"testing"
)

// FuzzMatch compiles arbitrary expressions and matches the accepted ones
// against arbitrary packets: neither step may panic, Compile returns an
// error xor a filter, Match agrees with MatchLen for the captured length,
// and the optimised filter agrees with the unoptimised one whenever the
// latter reads nothing past the packet.
func FuzzMatch(f *testing.F) {
	ps := corpus(f)
	for i, e := range conformanceExprs {
		p := ps[i%len(ps)]
		f.Add(e, p.data, p.l3)
	}
	f.Add("tcp[tcp[tcp[0]]:4] = 1", []byte{0x45}, true)
	f.Add("((((vlan and vlan) or vlan 1) and ether[ip[0]:4] > 0))", []byte{}, false)
	f.Fuzz(func(t *testing.T, expr string, data []byte, l3 bool) {
		flt, err := Compile(expr)
		if (flt == nil) == (err == nil) {
			t.Fatalf("Compile(%q) = %v, %v: want a filter xor an error", expr, flt, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(expr) {
				t.Fatalf("Compile(%q): bad error %#v", expr, err)
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Compile(%q): error %v wraps no sentinel", expr, err)
			}
			return
		}
		_ = flt.String()
		got := flt.Match(data, l3)
		if again := flt.MatchLen(data, len(data), l3); again != got {
			t.Fatalf("Match = %v, MatchLen = %v", got, again)
		}
		flt.MatchLen(data, len(data)+1500, l3)
		// Optimisation may change only which out-of-range reads happen.
		if plain, err := compile(expr, false); err == nil {
			if want, aborted := plain.matchTrace(data, len(data), l3); !aborted && want != got {
				t.Fatalf("%q on %x (l3=%v): optimised %v, unoptimised %v", expr, data, l3, got, want)
			}
		}
	})
}
