package tracer

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// TestFlightRecorder: records at 1 µs steps, drops at the given indexes;
// a capture per trigger (outside the hold-off) holding the window before
// it and After after it, what the window let go of counted as a loss.
func TestFlightRecorder(t *testing.T) {
	tests := []struct {
		name  string
		drops []int
		max   int
		want  []uint64 // per capture: the trigger record (µs)
	}{
		{"no trigger", nil, 0, nil},
		// The window spans 1000 µs; After 200 µs; hold-off 500 µs.
		{"one drop", []int{5000}, 0, []uint64{5000}},
		{"storm is one capture", []int{5000, 5100, 5300, 5600}, 0, []uint64{5000}},
		{"two apart", []int{3000, 7000}, 0, []uint64{3000, 7000}},
		{"max triggers", []int{3000, 7000}, 1, []uint64{3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs [][]byte
			drop := map[int]bool{}
			for _, i := range tt.drops {
				drop[i] = true
			}
			for i := range 10000 {
				ev := testEvent(0xffff888000000000+uint64(i%8)*0x100, 1)
				ev.Time = uint64(i) * 1000
				if drop[i] {
					ev.Flags = uint16(format.FlagDropReason)
					ev.DropReason = 2
				}
				recs = append(recs, encodeRecord(t, ev, nil))
			}
			win, err := newWindow(0, 1000*1000, 4096)
			if err != nil {
				t.Fatal(err)
			}
			hdr := &format.Header{WriterVersion: "test"}
			idle, err := format.NewWriter(io.Discard, hdr, nil)
			if err != nil {
				t.Fatal(err)
			}
			var files []*bytes.Buffer
			var reasons []string
			d := &drainer{
				ring: &fakeRing{recs: recs},
				dec:  newDecoder(idle, nil),
				opts: drainOptions{Flight: &flightOptions{
					Window: win, After: 200 * time.Microsecond, HoldOff: 500 * time.Microsecond, MaxTriggers: tt.max,
					Trigger: func(rec []byte) string {
						if format.EventFlags(u16at(rec, offFlags))&format.FlagDropReason != 0 {
							return "drop"
						}
						return ""
					},
					Open: func(reason string, at uint64) (*format.Writer, error) {
						files = append(files, new(bytes.Buffer))
						reasons = append(reasons, reason)
						return format.NewWriter(files[len(files)-1], hdr, &format.WriterOptions{FlushInterval: -1})
					},
				}},
			}
			ctx, cancel := context.WithCancel(context.Background())
			d.ring.(*fakeRing).loopsDone = cancel
			if _, err := d.run(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.dec.w.Close(); err != nil {
				t.Fatal(err)
			}
			if len(files) != len(tt.want) {
				t.Fatalf("%d captures (%v), want %d", len(files), reasons, len(tt.want))
			}
			var prevEnd uint64
			for k, b := range files {
				f, err := format.NewFile(bytes.NewReader(b.Bytes()), int64(b.Len()), nil)
				if err != nil {
					t.Fatal(err)
				}
				var first, last, n uint64
				it := f.Events(nil)
				var e format.Event
				for it.Next(&e) {
					if n == 0 {
						first = e.Time / 1000
					} else if e.Time/1000 != last+1 {
						t.Fatalf("capture %d: gap from %d to %d µs", k, last, e.Time/1000)
					}
					last = e.Time / 1000
					n++
				}
				// The window before the trigger: at least its 1000 µs,
				// at most a chunk (4096 bytes, < 64 records) more.
				trig := tt.want[k]
				if trig < first || trig-first < 1000 || trig-first > 1000+64 {
					t.Errorf("capture %d: window %d..%d µs before the trigger at %d, want 1000 µs (+ < a chunk)", k, first, trig, trig)
				}
				if last != trig+200 {
					t.Errorf("capture %d: ends at %d µs, want the trigger + 200 = %d", k, last, trig+200)
				}
				// Every record between the previous capture and this one
				// is in it or counted as evicted.
				if got := f.Losses().Other["flight_window_evicted"]; got != first-prevEnd {
					t.Errorf("capture %d: flight_window_evicted %d, want %d (records %d..%d)", k, got, first-prevEnd, prevEnd, first-1)
				}
				prevEnd = last + 1
			}
		})
	}
}
