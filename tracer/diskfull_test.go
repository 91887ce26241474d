package tracer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/pwru-record/pwru-record/format"
)

// fullDisk is an io.Writer on a device with room bytes: the write that
// does not fit is cut short with ENOSPC, as write(2) does.
type fullDisk struct {
	buf  bytes.Buffer
	room int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if d.buf.Len()+len(p) <= d.room {
		return d.buf.Write(p)
	}
	n, _ := d.buf.Write(p[:max(0, d.room-d.buf.Len())])
	return n, syscall.ENOSPC
}

// randomRing hands out records without end, each with its own random
// payload: they neither compress nor deduplicate, so any room runs out.
type randomRing struct {
	tb  testing.TB
	rng *rand.Rand
	n   uint64
}

func (r *randomRing) ReadInto(rec *ringbuf.Record) error {
	pkt := make([]byte, 64)
	for i := range pkt {
		pkt[i] = byte(r.rng.Uint32())
	}
	r.n++
	rec.RawSample = encodeRecord(r.tb, testEvent(r.n, 1), pkt)
	return nil
}

func (r *randomRing) SetDeadline(time.Time) {}
func (r *randomRing) Flush() error          { return nil }

// TestDrainDiskFull: when the capture's device fills up, the drain stops
// at once with an error that is ENOSPC, and what was written reads back as
// a truncated capture whose complete chunks hold every event they claim.
func TestDrainDiskFull(t *testing.T) {
	tests := []struct {
		name  string
		chunk int           // events per chunk
		tick  time.Duration // drain tick (flushes)
		room  int           // bytes after the header
	}{
		{"full while writing a chunk", 64, time.Hour, 20000},
		{"full while flushing on a tick", 1 << 20, time.Millisecond, 200000},
		{"full at the first chunk", 64, time.Hour, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := &fullDisk{room: 1 << 30}
			w, err := format.NewWriter(disk, &format.Header{WriterVersion: "test"}, &format.WriterOptions{ChunkEvents: tt.chunk, FlushInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			disk.room = disk.buf.Len() + tt.room
			d := &drainer{
				ring: &randomRing{tb: t, rng: rand.New(rand.NewPCG(1, 2))},
				dec:  newDecoder(w, nil),
				opts: drainOptions{Tick: tt.tick},
			}
			type result struct {
				st  Stats
				err error
			}
			done := make(chan result, 1)
			go func() {
				st, err := d.run(context.Background())
				done <- result{st, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the drain kept going on a full disk")
			}
			if !errors.Is(r.err, syscall.ENOSPC) {
				t.Fatalf("drain returned %v, want an error that is ENOSPC", r.err)
			}
			if cerr := w.Close(); !errors.Is(cerr, syscall.ENOSPC) {
				t.Errorf("Close after the full disk returned %v, want the ENOSPC again", cerr)
			}
			if disk.buf.Len() != disk.room {
				t.Errorf("%d bytes written, want the %d that fit", disk.buf.Len(), disk.room)
			}

			f, err := format.NewFile(bytes.NewReader(disk.buf.Bytes()), int64(disk.buf.Len()), nil)
			if err != nil {
				t.Fatalf("open the capture left on the full disk: %v", err)
			}
			s := f.Summary()
			if s.Complete || !s.Truncated {
				t.Errorf("complete %v truncated %v, want truncated", s.Complete, s.Truncated)
			}
			it := f.Events(nil)
			var e format.Event
			n := uint64(0)
			for it.Next(&e) {
				n++
			}
			if err := it.Err(); err != nil && !errors.Is(err, format.ErrTruncated) {
				t.Fatalf("read events: %v", err)
			}
			if n != s.Events || n > r.st.Events {
				t.Errorf("read %d events; the summary says %d, the drain handed %d to the writer", n, s.Events, r.st.Events)
			}
			if n == 0 && tt.room > 1000 {
				t.Errorf("no complete chunk in %d bytes of room", tt.room)
			}
		})
	}
}
