package analyze

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/synth"
)

// benchCaptures caches the generated benchmark captures for the whole test
// binary: generating a million events takes longer than analyzing them.
var benchCaptures struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// benchCapture writes (once) a synthetic capture of about events events.
func benchCapture(b *testing.B, name string, cfg synth.Config) (*Capture, uint64) {
	b.Helper()
	benchCaptures.Lock()
	defer benchCaptures.Unlock()
	if benchCaptures.paths == nil {
		dir, err := os.MkdirTemp("", "analyze-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchCaptures.dir, benchCaptures.paths = dir, map[string]string{}
	}
	path, ok := benchCaptures.paths[name]
	if !ok {
		path = filepath.Join(benchCaptures.dir, name+".pwru")
		writeSynthFile(b, path, cfg, nil)
		benchCaptures.paths[name] = path
	}
	c, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	// Generating the stream leaves about a gigabyte of garbage: collect it
	// now, not during the timed loop.
	runtime.GC()
	return c, c.File.Summary().Events
}

// oneMillion is a synth config of about a million events.
func oneMillion(seed uint64) synth.Config {
	return synth.Config{Seed: seed, SKBs: 25000, PayloadPercent: 20}
}

// reportEvents reports events/s against wall time, and cpu-events/s
// against the CPU time the process used since cpu0 (all threads, GC
// included): on a loaded machine the second is the per-core figure.
func reportEvents(b *testing.B, events uint64, cpu0 time.Duration) {
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	if cpu := processCPU() - cpu0; cpu > 0 && cpu0 > 0 {
		b.ReportMetric(total/cpu.Seconds(), "cpu-events/s")
	}
}

func BenchmarkPrintJSON(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	o := &PrintOptions{JSON: true, OutputMeta: true, OutputTuple: true}
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if err := Print(io.Discard, c, o); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

func BenchmarkPrintText(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	o := &PrintOptions{OutputMeta: true, OutputTuple: true}
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if err := Print(io.Discard, c, o); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

// BenchmarkFilteredScan: print with event predicates selecting a few
// events out of a million.
func BenchmarkFilteredScan(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		o := &PrintOptions{OutputMeta: true, OutputTuple: true, Filter: Filter{Func: "^tcp_v4_rcv$", Netns: &NetnsRef{Inode: 4026531840}, Mark: &Mark{}}}
		if err := Print(io.Discard, c, o); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

func BenchmarkStats(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := CollectStats(c, &Filter{}); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

func BenchmarkDiff(b *testing.B) {
	good, n1 := benchCapture(b, "1m", oneMillion(1))
	cfg := oneMillion(1)
	cfg.DropPercent = 20
	bad, n2 := benchCapture(b, "1m-bad", cfg)
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := Diff(io.Discard, good, bad, &DiffOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n1+n2, cpu0)
}

// BenchmarkIterate is the floor: decoding the events with no analysis.
func BenchmarkIterate(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		it := c.File.Events(nil)
		var e format.Event
		for it.Next(&e) {
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

// BenchmarkIterateShared is the floor of a projected pass: the fields
// stats needs, without copying events (format.EventIter.NextShared).
func BenchmarkIterateShared(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		it := c.File.Events(&format.IterOptions{Fields: format.FieldTrackID | format.FieldNetns | format.FieldIfindex | format.FieldFlags | format.FieldDropReason | format.FieldTuple})
		for e := it.NextShared(); e != nil; e = it.NextShared() {
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}

// BenchmarkPathsNoGroup: every skb's journey of a million events, as
// text (each journey computed, then rendered).
func BenchmarkPathsNoGroup(b *testing.B) {
	c, n := benchCapture(b, "1m", oneMillion(1))
	o := &PathsOptions{NoGroup: true}
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if err := Paths(io.Discard, c, o); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b, n, cpu0)
}
