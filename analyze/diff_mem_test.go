package analyze

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/internal/synth"
)

// diffMemCaptures are the synthetic captures of the diff memory test and
// benchmark, written once per test binary: about 100k and 1M events with
// the same number of skbs in flight, each as a good run and a bad one
// (more drops, different payloads).
var diffMemCaptures struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

func diffMemConfig(events int, bad bool) synth.Config {
	cfg := synth.Config{Seed: 7, SKBs: events / 40, PayloadPercent: 50, Concurrent: 8}
	if bad {
		cfg.DropPercent = 20
	}
	return cfg
}

// mustDiffMemCapture opens the capture of about events events.
func mustDiffMemCapture(tb testing.TB, events int, bad bool) *Capture {
	tb.Helper()
	diffMemCaptures.Lock()
	defer diffMemCaptures.Unlock()
	if diffMemCaptures.paths == nil {
		dir, err := os.MkdirTemp("", "analyze-diffmem-")
		if err != nil {
			tb.Fatal(err)
		}
		diffMemCaptures.dir, diffMemCaptures.paths = dir, map[string]string{}
	}
	cfg := diffMemConfig(events, bad)
	name := filepath.Join(diffMemCaptures.dir, "c"+time.Duration(cfg.SKBs).String()+map[bool]string{false: "-good", true: "-bad"}[bad]+".pwru")
	if _, ok := diffMemCaptures.paths[name]; !ok {
		writeSynthFile(tb, name, cfg, nil)
		diffMemCaptures.paths[name] = name
	}
	c, err := Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// diffMemWindow is the silence after which the memory test's skbs end.
// Synthetic journeys have no freeing function, so they end when silent for
// the window: with the default 1s, a capture of 100k events (0.2s) keeps
// every skb alive to its end while one of 1M keeps a second's worth; with
// 10ms both have the same skbs alive at once.
const diffMemWindow = 10 * time.Millisecond

// liveHeap collects garbage and returns the heap that survived it.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// diffPeakHeap runs Diff once to warm the captures' lazy tables up, then
// again while another goroutine collects garbage every few milliseconds,
// and returns the largest live heap seen minus the live heap before the
// second run: what the diff itself holds at its peak.
func diffPeakHeap(tb testing.TB, good, bad *Capture) (peak uint64, elapsed time.Duration) {
	tb.Helper()
	o := &DiffOptions{Filter: Filter{Window: diffMemWindow}}
	if _, err := Diff(io.Discard, good, bad, o); err != nil {
		tb.Fatal(err)
	}
	base := liveHeap()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		for {
			peak = max(peak, liveHeap())
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	_, err := Diff(io.Discard, good, bad, o)
	elapsed = time.Since(t0)
	close(stop)
	peak = <-done
	if err != nil {
		tb.Fatal(err)
	}
	if peak < base {
		return 0, elapsed
	}
	return peak - base, elapsed
}

// diffBytesPerJourney bounds what the diff may keep per finished journey
// (its compact summary, about 40 bytes, see diff_stream.go) beyond what it
// holds for the skbs in flight.
const diffBytesPerJourney = 64

// TestDiffMemoryBounded: diffing captures ten times as long with the same
// number of skbs in flight needs, beyond the shorter diff's peak, no more
// than diffBytesPerJourney per extra journey (plus slack for a chunk being
// decoded when a sample is taken): the events, payloads and paths of
// finished journeys are not kept.
func TestDiffMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes two captures of a million events (-short)")
	}
	var peaks [2]uint64
	var journeys [2]int
	for i, events := range []int{100_000, 1_000_000} {
		journeys[i] = diffMemConfig(events, false).SKBs + diffMemConfig(events, true).SKBs
		good, bad := mustDiffMemCapture(t, events, false), mustDiffMemCapture(t, events, true)
		peak, elapsed := diffPeakHeap(t, good, bad)
		// The smaller of two: a sample may catch a chunk being decoded.
		p, _ := diffPeakHeap(t, good, bad)
		peak = min(peak, p)
		peaks[i] = peak
		t.Logf("%d+%d events: peak live heap of the diff %d KiB (%v)", good.File.Summary().Events, bad.File.Summary().Events, peak>>10, elapsed)
	}
	const slack = 512 << 10
	limit := peaks[0] + uint64(journeys[1]-journeys[0])*diffBytesPerJourney + slack
	if peaks[1] > limit {
		t.Errorf("peak live heap: %d KiB for 1M events, %d KiB for 100k: more than %d B per extra journey (%d journeys more; limit %d KiB)",
			peaks[1]>>10, peaks[0]>>10, diffBytesPerJourney, journeys[1]-journeys[0], limit>>10)
	}
}

// BenchmarkDiffMemory reports the diff's peak live heap (diff-peak-B) for
// captures of 100k and 1M events with the same skbs in flight.
func BenchmarkDiffMemory(b *testing.B) {
	for _, bc := range []struct {
		name   string
		events int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(bc.name, func(b *testing.B) {
			good, bad := mustDiffMemCapture(b, bc.events, false), mustDiffMemCapture(b, bc.events, true)
			var peak uint64
			b.ResetTimer()
			for range b.N {
				p, _ := diffPeakHeap(b, good, bad)
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak), "diff-peak-B")
		})
	}
}
