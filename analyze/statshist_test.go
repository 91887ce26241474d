package analyze

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLatencyHistPrecision checks the documented precision of the
// streaming latency histogram: every percentile within 1/64 (1.6%) of the
// exact one (plus 1 ns of rounding), exact below 64 ns, min and max exact.
func TestLatencyHistPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	tests := []struct {
		name string
		gen  func() uint64
	}{
		{"small", func() uint64 { return r.Uint64N(64) }},
		{"constant", func() uint64 { return 123456 }},
		{"uniform", func() uint64 { return r.Uint64N(10_000_000) }},
		{"log-uniform", func() uint64 { return uint64(1) << r.UintN(40) * (1 + r.Uint64N(1000)) / 1000 }},
		{"bimodal", func() uint64 {
			if r.IntN(10) == 0 {
				return 50_000_000 + r.Uint64N(1_000_000)
			}
			return 20_000 + r.Uint64N(5_000)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h latencyHist
			vals := make([]uint64, 20000)
			for i := range vals {
				vals[i] = tt.gen()
				h.add(vals[i])
			}
			slices.Sort(vals)
			if h.min != vals[0] || h.max != vals[len(vals)-1] {
				t.Errorf("min/max %d/%d, want %d/%d", h.min, h.max, vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				exact := vals[uint64(q*float64(len(vals)-1))]
				got := h.quantile(q)
				tol := exact/64 + 1
				if exact < 64 {
					tol = 0
				}
				if got+tol < exact || got > exact+tol {
					t.Errorf("p%g = %d, exact %d: off by more than %d", q*100, got, exact, tol)
				}
			}
		})
	}
}
