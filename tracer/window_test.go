package tracer

import (
	"encoding/binary"
	"testing"
)

// windowRec is a record whose first 8 bytes are its number.
func windowRec(i uint64, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(b, i)
	for k := 8; k < len(b); k++ {
		b[k] = byte(i*31 + uint64(k)*7) // compresses a little, not away
	}
	return b
}

func windowContents(t *testing.T, w *window) []uint64 {
	t.Helper()
	var got []uint64
	if err := w.drain(0, func(rec []byte) error {
		got = append(got, binary.LittleEndian.Uint64(rec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name      string
		maxBytes  int64
		maxAge    uint64
		chunk     int
		n         uint64 // records 0..n-1, record i at time i*1000
		recSize   int
		wantFirst uint64 // oldest record kept (evicted whole chunks before it)
		wantMax   int64  // bound on the compressed bytes held, 0 = not checked
	}{
		{"no eviction", 1 << 20, 0, 4096, 100, 64, 0, 0},
		{"bytes bound", 16 << 10, 0, 2048, 5000, 64, 0, 16 << 10},
		{"age bound", 0, 500_000, 1024, 5000, 64, 0, 0},
		{"one record per chunk", 4 << 10, 0, 1, 500, 200, 0, 4 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := newWindow(tt.maxBytes, tt.maxAge, tt.chunk)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.n {
				w.add(i*1000, windowRec(i, tt.recSize))
				if _, b := w.size(); tt.wantMax > 0 && b > tt.wantMax+int64(tt.chunk)+int64(tt.recSize)+16 {
					t.Fatalf("after record %d: %d bytes held, bound %d (+ the open chunk)", i, b, tt.wantMax)
				}
			}
			recs, _ := w.size()
			dropped := w.dropped
			got := windowContents(t, w)
			if uint64(len(got))+dropped != tt.n || len(got) != recs {
				t.Fatalf("kept %d (size said %d) + dropped %d != %d records", len(got), recs, dropped, tt.n)
			}
			// What is kept is the newest records, in order, without a gap.
			for k, v := range got {
				if v != dropped+uint64(k) {
					t.Fatalf("record %d of the window is %d, want %d (oldest first, no gap)", k, v, dropped+uint64(k))
				}
			}
			if tt.maxAge > 0 {
				newest := (tt.n - 1) * 1000
				if oldest := got[0] * 1000; newest-oldest > tt.maxAge+uint64(tt.chunk)*1000 {
					t.Errorf("window spans %d ns, bound %d", newest-oldest, tt.maxAge)
				}
				if dropped == 0 {
					t.Error("age bound evicted nothing")
				}
			}
			if tt.maxBytes > 0 && tt.maxBytes < 1<<20 && dropped == 0 {
				t.Error("bytes bound evicted nothing")
			}
			if tt.maxBytes == 1<<20 && dropped != 0 {
				t.Errorf("evicted %d records below the bound", dropped)
			}
			if r, b := w.size(); r != 0 || b != 0 {
				t.Errorf("after drain: %d records, %d bytes", r, b)
			}
		})
	}
}

// TestWindowDrainSince: eviction is by whole chunks, so a quiet window
// can hold records older than its age; drain leaves them out and counts
// them (the flight recorder's window is exact at the trigger).
func TestWindowDrainSince(t *testing.T) {
	w, err := newWindow(0, 500_000, 1<<20) // one chunk: nothing is evicted
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(2000) {
		w.add(i*1000, windowRec(i, 64))
	}
	if w.dropped != 0 {
		t.Fatalf("%d records evicted from an unsealed chunk", w.dropped)
	}
	since := uint64(1999*1000 - 500_000)
	var got []uint64
	if err := w.drain(since, func(rec []byte) error {
		got = append(got, binary.LittleEndian.Uint64(rec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0]*1000 < since || got[0]*1000 >= since+1000 {
		t.Fatalf("oldest record drained at %d ns, want the first at or after %d", got[0]*1000, since)
	}
	for k, v := range got {
		if v != got[0]+uint64(k) {
			t.Fatalf("record %d is %d: a gap", k, v)
		}
	}
	if uint64(len(got))+w.dropped != 2000 {
		t.Errorf("drained %d + dropped %d != 2000", len(got), w.dropped)
	}
}

func TestWindowNeedsBound(t *testing.T) {
	if _, err := newWindow(0, 0, 0); err == nil {
		t.Error("a window without a bound was created")
	}
}

// BenchmarkWindowAdd measures the CPU per event of keeping the window
// and the compressed bytes it holds per event: records laid out by the
// kernel program, 8 skbs, varying times, marks and lengths, a 98-byte
// payload on one event in 8.
func BenchmarkWindowAdd(b *testing.B) {
	w, err := newWindow(1<<40, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	recs := flightBenchRecords(b) // 2.6 MB: more than the zstd window, so repeats do not compress away
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.add(uint64(i), recs[i%len(recs)])
	}
	b.StopTimer()
	held, bytes := w.size()
	b.ReportMetric(float64(bytes)/float64(max(held, 1)), "B/held-event")
	b.ReportMetric(float64(len(recs[1])), "B/raw-record")
}
