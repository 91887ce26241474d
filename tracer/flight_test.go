package tracer

import (
	"bytes"
	"context"
	"encoding/binary"
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
					Open: func(reason string, at uint64, _ []byte) (*format.Writer, error) {
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

// TestFlightTick: on an idle host the drain's tick acts: a trigger by
// hand opens a capture with the window at once, and the capture is
// completed once its After has passed with no record coming; while
// records come, the tick leaves that to them.
func TestFlightTick(t *testing.T) {
	win, err := newWindow(0, uint64(5*time.Second), 4096)
	if err != nil {
		t.Fatal(err)
	}
	hdr := &format.Header{WriterVersion: "test"}
	idle, err := format.NewWriter(io.Discard, hdr, nil)
	if err != nil {
		t.Fatal(err)
	}
	manual := make(chan struct{}, 1)
	var now uint64
	var files []*bytes.Buffer
	var trig []uint64
	d := &drainer{
		dec: newDecoder(idle, nil),
		opts: drainOptions{Flight: &flightOptions{
			Window: win, After: 200 * time.Millisecond, HoldOff: time.Second,
			Trigger: func([]byte) string { return "" },
			Manual:  manual,
			Now:     func() uint64 { return now },
			Open: func(reason string, at uint64, rec []byte) (*format.Writer, error) {
				if reason != "signal" || rec != nil {
					t.Errorf("trigger %q by a record %v, want a signal and none", reason, rec != nil)
				}
				files = append(files, new(bytes.Buffer))
				trig = append(trig, at)
				return format.NewWriter(files[len(files)-1], hdr, &format.WriterOptions{FlushInterval: -1})
			},
		}},
	}
	d.idle = idle
	for i := range 10 {
		ev := testEvent(0xffff888000000000, 1)
		ev.Time = uint64(i+1) * uint64(time.Millisecond)
		if err := d.flightRecord(encodeRecord(t, ev, nil)); err != nil {
			t.Fatal(err)
		}
	}
	tick := func(at time.Duration) {
		t.Helper()
		now = uint64(at)
		if err := d.flightTick(); err != nil {
			t.Fatal(err)
		}
	}
	tick(time.Second) // records came since the last tick
	if len(files) != 0 || d.flight.capturing {
		t.Fatal("a capture without a trigger")
	}
	manual <- struct{}{}
	tick(2 * time.Second)
	if len(files) != 1 || !d.flight.capturing || trig[0] != uint64(2*time.Second) {
		t.Fatalf("after SIGUSR1 on an idle host: %d captures, capturing %v, want one at once", len(files), d.flight.capturing)
	}
	tick(2*time.Second + 250*time.Millisecond) // After passed, the slack not
	if !d.flight.capturing {
		t.Fatal("capture completed before After and the slack passed")
	}
	tick(2*time.Second + 400*time.Millisecond)
	if d.flight.capturing {
		t.Fatal("capture not completed on an idle host after After")
	}
	f, err := format.NewFile(bytes.NewReader(files[0].Bytes()), int64(files[0].Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Summary().Complete || f.Summary().Events != 10 {
		t.Errorf("capture: complete %v, %d events, want complete with the 10 of the window", f.Summary().Complete, f.Summary().Events)
	}
	// In the hold-off a signal starts nothing.
	manual <- struct{}{}
	tick(3 * time.Second)
	if len(files) != 1 {
		t.Errorf("a capture in the hold-off")
	}
}

// flightBenchRecords are the benchmarks' records: 16,384 records as the
// kernel program writes them, 8 skbs, varying times, marks and lengths, a
// 98-byte payload on one event in 8.
func flightBenchRecords(tb testing.TB) [][]byte {
	x := uint64(88172645463325252)
	recs := make([][]byte, 16384)
	for i := range recs {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ev := testEvent(0xffff888000000000+uint64(i%8)*0x100, uint32(i%64+1))
		ev.Time = uint64(i)<<20 | x&0xfffff
		ev.Mark = uint32(x >> 32)
		ev.Len = uint32(x>>20) & 0xffff
		var payload []byte
		if i%8 == 0 {
			payload = windowRec(x, 98)
		}
		recs[i] = encodeRecord(tb, ev, payload)
	}
	return recs
}

// BenchmarkFlightRecord measures the drain's CPU per event in flight
// recorder mode between triggers: the payload carry, the trigger test and
// the window (16 MiB compressed, so that it evicts), as the recorder runs
// them.
func BenchmarkFlightRecord(b *testing.B) {
	recs := flightBenchRecords(b)
	win, err := newWindow(16<<20, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	idle, err := format.NewWriter(io.Discard, &format.Header{WriterVersion: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := &drainer{dec: newDecoder(idle, nil), opts: drainOptions{Flight: &flightOptions{
		Window: win, MaxTriggers: 1,
		Trigger: func(rec []byte) string {
			if format.EventFlags(u16at(rec, offFlags))&format.FlagDropReason != 0 {
				return "drop"
			}
			return ""
		},
	}}}
	d.dec.carry = newPayloadCarry(nil, defaultCarryBytes)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec := recs[i%len(recs)]
		binary.LittleEndian.PutUint64(rec[offTime:], uint64(i)*1000)
		d.dec.carry.note(rec)
		if err := d.flightRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
	held, bytes := win.size()
	b.ReportMetric(float64(bytes)/float64(max(held, 1)), "B/held-event")
}

// BenchmarkFlightTrigger measures the time from a trigger to the
// capture's window written: a full window of 64 MiB compressed (about
// 2.5M events) decoded into a new capture.
func BenchmarkFlightTrigger(b *testing.B) {
	recs := flightBenchRecords(b)
	hdr := &format.Header{WriterVersion: "bench"}
	for b.Loop() {
		b.StopTimer()
		win, err := newWindow(64<<20, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		for i := 0; ; i++ {
			win.add(uint64(i)*1000, recs[i%len(recs)])
			if _, bytes := win.size(); bytes >= 63<<20 {
				n = i + 1
				break
			}
		}
		idle, err := format.NewWriter(io.Discard, hdr, nil)
		if err != nil {
			b.Fatal(err)
		}
		d := &drainer{dec: newDecoder(idle, nil), opts: drainOptions{Flight: &flightOptions{
			Window: win, After: time.Nanosecond,
			Open: func(string, uint64, []byte) (*format.Writer, error) {
				return format.NewWriter(io.Discard, hdr, nil)
			},
		}}}
		d.idle = idle
		b.StartTimer()
		if err := d.flightOpen("bench", uint64(n)*1000, nil); err != nil {
			b.Fatal(err)
		}
		if err := d.flightClose(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "events/trigger")
	}
}
