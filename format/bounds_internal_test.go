package format

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// overlapping returns a complete capture of n events chunks that all
// start at the same time, each holding one event and pad zero bytes
// after its columns (which compress to almost nothing): every chunk must
// be open at once to merge them.
func overlapping(tb testing.TB, n, pad int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, &Header{Hostname: "overlap"}, &WriterOptions{FlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	ev := []Event{{Time: 1000, SKB: 0xffff0000, ProbeID: 1}}
	raw := newChunkEncoder().encode(ev, []int32{0}, 1000)
	raw = append(raw, make([]byte, pad)...)
	for range n {
		if err := w.section(SectionEvents, 1000, 1000, 1, raw); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestOverlapBounded: however many chunks overlap, the events iterator
// holds at most MaxIterMemory; beyond it a strict reader fails with
// ErrLimit in the chunk that does not fit, and SkipCorrupt skips such
// chunks. Before the bound, the padded file took 8 GiB.
func TestOverlapBounded(t *testing.T) {
	tests := []struct {
		name   string
		n, pad int
	}{
		{"padded", 40, 60 << 20}, // 2.4 GiB decompressed in ~100 KiB
		{"many-tiny", 20000, 0},  // a cursor each: 650 MiB of prediction tables
		{"padded-small", 400, 4 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := overlapping(t, tt.n, tt.pad)
			for _, skip := range []bool{false, true} {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				f, err := NewFile(bytes.NewReader(file), int64(len(file)), &ReaderOptions{SkipCorrupt: skip})
				if err != nil {
					t.Fatal(err)
				}
				it := f.Events(nil)
				events := 0
				for it.NextShared() != nil {
					events++
				}
				runtime.ReadMemStats(&after)
				f.Close()
				if !skip {
					if !errors.Is(it.Err(), ErrLimit) {
						t.Errorf("strict: error %v after %d events, want ErrLimit", it.Err(), events)
					}
					// Nothing beyond the bound was read: the total
					// allocated stays near it.
					if grew := after.TotalAlloc - before.TotalAlloc; grew > MaxIterMemory+MaxIterMemory/2 {
						t.Errorf("strict: allocated %d MiB, bound %d MiB", grew>>20, MaxIterMemory>>20)
					}
					continue
				}
				if it.Err() != nil || events+it.Skipped() != tt.n || it.Skipped() == 0 {
					t.Errorf("skip: %d events + %d skipped (err %v), want %d chunks, some skipped", events, it.Skipped(), it.Err(), tt.n)
				}
				if after.HeapSys > 2*MaxIterMemory+64<<20 {
					t.Errorf("skip: heap grew to %d MiB", after.HeapSys>>20)
				}
			}
		})
	}
}

// TestWriteHostileFiles writes the hostile files of the tests to
// $PWRU_HOSTILE_DIR, to measure the commands on them (see DESIGN.md
// "Bounds on hostile files"); it is skipped without that variable.
func TestWriteHostileFiles(t *testing.T) {
	dir := os.Getenv("PWRU_HOSTILE_DIR")
	if dir == "" {
		t.Skip("PWRU_HOSTILE_DIR not set")
	}
	for name, b := range map[string][]byte{
		"overlap-padded.pwru": overlapping(t, 40, 60<<20),
		"overlap-tiny.pwru":   overlapping(t, 20000, 0),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
