package analyze

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// writeSynthFile writes the synthetic stream of cfg to path as a capture.
func writeSynthFile(tb testing.TB, path string, cfg fakecapture.Config, opts *format.WriterOptions) {
	tb.Helper()
	if err := fakecapture.WriteFile(path, fakecapture.Generate(cfg), opts); err != nil {
		tb.Fatal(err)
	}
}

// writeSynthCapture writes a synthetic capture to path and opens it.
func writeSynthCapture(tb testing.TB, path string, cfg fakecapture.Config, opts *format.WriterOptions) *Capture {
	tb.Helper()
	writeSynthFile(tb, path, cfg, opts)
	c, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// statsPeakHeap runs CollectStats over c and returns the largest live
// heap seen during the pass (measured after a forced GC every every
// lifetimes) above the live heap before it.
func statsPeakHeap(tb testing.TB, c *Capture, flt *Filter, every int) uint64 {
	tb.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak, n := base, 0
	if _, err := collectStats(c, flt, func() {
		if n++; n%every != 0 {
			return
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}); err != nil {
		tb.Fatal(err)
	}
	return peak - base
}

// statsWindow is the skb silence window of the memory measurements. An
// skb whose fate the capture does not show (45% of the synthetic ones)
// stays live until it has been silent that long, so the live skbs are
// those of the last window: with the default (1 s) they would grow with
// captures shorter than a second (the 1M-event one spans 1.9 s). 20 ms
// makes both captures many windows long, with the same live skbs.
const statsWindow = 20_000_000

// statsMemChunks is the chunk size of the memory measurements. The
// reader holds the decoded columns of the chunks open at once (two where
// chunks overlap in time), a cost that depends on the chunk size, not on
// the capture length; small chunks keep it from hiding the analyzer's
// state, and make both captures hold many overlapping chunks.
var statsMemChunks = &format.WriterOptions{ChunkEvents: 4096}

// TestStatsMemoryBounded: stats over a capture ten times longer, with the
// same skbs live and the same flows, must not need much more memory: the
// per-skb latencies go into a fixed histogram and lifetimes end as the
// skbs do.
func TestStatsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes two synthetic captures of 50k and 500k events (-short)")
	}
	dir := t.TempDir()
	small := writeSynthCapture(t, filepath.Join(dir, "small.pwru"), fakecapture.Config{Seed: 3, SKBs: 1250, PayloadPercent: 20}, statsMemChunks)
	large := writeSynthCapture(t, filepath.Join(dir, "large.pwru"), fakecapture.Config{Seed: 3, SKBs: 12500, PayloadPercent: 20}, statsMemChunks)
	ns, nl := small.File.Summary().Events, large.File.Summary().Events
	if nl < 8*ns {
		t.Fatalf("large capture has %d events, small %d: want ten times more", nl, ns)
	}
	flt := &Filter{Window: statsWindow}
	hs := statsPeakHeap(t, small, flt, 25)
	hl := statsPeakHeap(t, large, flt, 25)
	t.Logf("peak heap of stats: %d B for %d events, %d B for %d events", hs, ns, hl, nl)
	// The same state but for noise (measured: within 5%); keeping 16
	// bytes per skb would add 180 kB and fail.
	if limit := hs + hs/8 + 64<<10; hl > limit {
		t.Errorf("stats over %d events peaked at %d B of heap, over %d events at %d B: want at most %d B (bounded by live skbs, not capture length)",
			nl, hl, ns, hs, limit)
	}
}

// BenchmarkStatsMemory reports the peak live heap of a stats pass
// (peak-heap-B) for captures of about 100k and 1M events with the same
// skbs live (window statsWindow): the two must be about the same.
func BenchmarkStatsMemory(b *testing.B) {
	for _, skbs := range []int{2500, 25000} {
		cfg := oneMillion(1)
		cfg.SKBs = skbs
		c := writeSynthCapture(b, filepath.Join(b.TempDir(), "x.pwru"), cfg, statsMemChunks)
		b.Run(fmt.Sprintf("events=%dk", c.File.Summary().Events/1000), func(b *testing.B) {
			var peak uint64
			for range b.N {
				peak = max(peak, statsPeakHeap(b, c, &Filter{Window: statsWindow}, 50))
			}
			b.ReportMetric(float64(peak), "peak-heap-B")
		})
	}
}
