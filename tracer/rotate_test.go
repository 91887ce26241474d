package tracer

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// TestDrainRotates floods the drainer, rotating by a small size or by
// time (tcpdump -G): every file opens alone with the snapshots of the
// first, every event has its skb's payload (carried into later files),
// and the files' events and losses add up to what the drain counted.
func TestDrainRotates(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts drainOptions
	}{
		{"by size", drainOptions{RotateSize: 32 << 10}},
		{"by time", drainOptions{RotateEvery: time.Nanosecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testDrainRotates(t, tt.opts)
		})
	}
}

func testDrainRotates(t *testing.T, opts drainOptions) {
	hdr := &format.Header{WriterVersion: "test", Hostname: "h"}
	var first bytes.Buffer
	tee := &teeWriter{w: &first, tee: new(bytes.Buffer)}
	w, err := format.NewWriter(tee, hdr, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	probes := []format.Probe{{ID: 1, Name: "ip_rcv"}, {ID: 2, Name: "kfree_skbmem"}}
	syms := []format.Symbol{{Addr: 0xffffffff81000000, Name: "ip_rcv"}, {Addr: 0xffffffff81001000, Name: "kfree_skbmem"}}
	ifs := []format.Interface{{Netns: 1, Ifindex: 1, Name: "lo"}}
	for _, err := range []error{w.AddKallsyms(syms), w.AddProbes(probes), w.AddInterfaces(ifs, nil), w.Flush()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	prefix := tee.tee.Bytes()
	tee.tee = nil
	files := []*bytes.Buffer{&first}
	next, err := rotator(prefix, hdr, func() (io.Writer, error) {
		files = append(files, new(bytes.Buffer))
		return files[len(files)-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.NextFile = next
	var recs [][]byte
	x := uint64(88172645463325252) // xorshift: events that do not compress away
	for i := range 4096 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ev := testEvent(0xffff888000000000+uint64(i%8)*0x100, uint32(i%2+1))
		ev.Time = uint64(i)<<20 | x&0xfffff
		ev.Mark = uint32(x >> 32)
		ev.Len = uint32(x>>20) & 0xffff
		var payload []byte
		if i < 8 {
			payload = bytes.Repeat([]byte{byte(i)}, 98)
		}
		recs = append(recs, encodeRecord(t, ev, payload))
	}
	const loops = 40
	d := &drainer{
		ring:   &fakeRing{recs: recs, loops: loops},
		dec:    newDecoder(w, nil),
		losses: fakeLosses{perCPU: []uint64{3, 4}},
		opts:   opts,
	}
	d.dec.carry = newPayloadCarry(nil, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	d.ring.(*fakeRing).loopsDone = cancel
	st, err := d.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.dec.w.Close(); err != nil {
		t.Fatal(err)
	}

	if len(files) < 3 {
		t.Fatalf("%d files, want rotation to at least 3", len(files))
	}
	if d.files != len(files)-1 {
		t.Errorf("drainer counted %d rotations, %d files", d.files, len(files))
	}
	var events, lost uint64
	for i, b := range files {
		f, err := format.NewFile(bytes.NewReader(b.Bytes()), int64(b.Len()), nil)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if p := f.Problems(); len(p) > 0 {
			t.Errorf("file %d: problems %v", i, p)
		}
		if got := len(f.Probes()); got != len(probes) {
			t.Errorf("file %d: %d probes, want %d", i, got, len(probes))
		}
		s, err := f.Symbols()
		if err != nil || s.Len() != len(syms) {
			t.Errorf("file %d: kallsyms %v, %v", i, s.Len(), err)
		}
		if f.Interface(1, 1) == nil {
			t.Errorf("file %d: no interface lo", i)
		}
		it := f.Events(nil)
		var e format.Event
		for it.Next(&e) {
			events++
			// Every skb's payload is in every file (carried).
			if _, err := f.Packet(e.PayloadID); e.PayloadID == 0 || err != nil {
				t.Errorf("file %d: event refers to payload %d: %v", i, e.PayloadID, err)
			}
		}
		if err := it.Err(); err != nil {
			t.Errorf("file %d: %v", i, err)
		}
		l := f.Losses()
		lost += l.TotalLost()
		if f.Summary().Events == 0 {
			t.Errorf("file %d: no events", i)
		}
	}
	if want := uint64(len(recs) * loops); events != want || st.Events != want {
		t.Errorf("files hold %d events, drain counted %d, want %d", events, st.Events, want)
	}
	if d.dec.carry.missing != 0 {
		t.Errorf("payload_not_carried %d, want 0", d.dec.carry.missing)
	}
	if lost != 7 || st.Lost != 7 {
		t.Errorf("files count %d lost, drain %d, want 7 (counted once over the set)", lost, st.Lost)
	}
}
