package tracer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
)

// fakeRing hands out recs (repeated loops times), then reports a deadline
// until Flush is called, then ErrFlushed.
type fakeRing struct {
	recs    [][]byte
	loops   int
	i       int
	flushed atomic.Bool
	// loopsDone, when set, is called once every record was handed out.
	loopsDone func()
}

func (r *fakeRing) ReadInto(rec *ringbuf.Record) error {
	if r.i >= len(r.recs) && r.loops > 1 {
		r.loops--
		r.i = 0
	}
	if r.i < len(r.recs) {
		rec.RawSample = append(rec.RawSample[:0], r.recs[r.i]...)
		r.i++
		return nil
	}
	if r.flushed.Load() {
		return ringbuf.ErrFlushed
	}
	if r.loopsDone != nil {
		r.loopsDone()
	}
	return os.ErrDeadlineExceeded
}

func (r *fakeRing) SetDeadline(time.Time) {}
func (r *fakeRing) Flush() error          { r.flushed.Store(true); return nil }

type fakeLosses struct{ perCPU []uint64 }

func (l fakeLosses) Losses(bool) ([]uint64, map[string]uint64, error) {
	return l.perCPU, map[string]uint64{"stack_lost": 0}, nil
}

// encodeRecord lays out a record as the kernel program does: the core
// followed by the variable parts, without a stack.
func encodeRecord(tb testing.TB, ev bpf.PwruEvent, payload []byte, blobs ...[]byte) []byte {
	tb.Helper()
	return encodeStackRecord(tb, ev, nil, payload, blobs...)
}

// encodeStackRecord is encodeRecord with stack as the last variable part.
func encodeStackRecord(tb testing.TB, ev bpf.PwruEvent, stack []uint64, payload []byte, blobs ...[]byte) []byte {
	tb.Helper()
	ev.PayloadLen = uint16(len(payload))
	ev.StackLen = uint16(8 * len(stack))
	lens := []*uint16{&ev.SkbLen, &ev.ShinfoLen, &ev.CbLen, &ev.MetaLen, &ev.XdpMetaLen, &ev.BpfmapLen}
	for i, b := range blobs {
		*lens[i] = uint16(len(b))
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &ev); err != nil {
		tb.Fatal(err)
	}
	if buf.Len() != recordCoreSize {
		tb.Fatalf("encoded core is %d bytes, want %d", buf.Len(), recordCoreSize)
	}
	buf.Write(payload)
	for _, b := range blobs {
		buf.Write(b)
	}
	for _, ip := range stack {
		buf.Write(binary.LittleEndian.AppendUint64(nil, ip))
	}
	return buf.Bytes()
}

func htons(v uint16) uint16 { return v>>8 | v<<8 }

func testEvent(skb uint64, probe uint32) bpf.PwruEvent {
	ev := bpf.PwruEvent{
		Time: 1000 + skb, Skb: skb, ProbeId: probe, Cpu: 1, Pid: 42, Netns: 4026531840,
		Mark: 7, Ifindex: 2, Len: 84, Mtu: 1500, StackId: -1, Protocol: htons(0x0800),
		Sport: htons(1234), Dport: htons(80), L4Proto: 6, IpVersion: 4,
	}
	copy(ev.Saddr[:], []byte{10, 0, 0, 1})
	copy(ev.Daddr[:], []byte{10, 0, 0, 2})
	for i, c := range "ping" {
		ev.Comm[i] = int8(c)
	}
	return ev
}

func newTestWriter(tb testing.TB, buf *bytes.Buffer) *format.Writer {
	tb.Helper()
	w, err := format.NewWriter(buf, &format.Header{WriterVersion: "test"}, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestDrainDecodes(t *testing.T) {
	pkt := bytes.Repeat([]byte{0xab}, 60)
	stackA := []uint64{0xffffffff81000010, 0xffffffff81000020}
	stackB := []uint64{0xffffffff81000010, 0xffffffff81000030, 0xffffffff81000040}
	withStack := testEvent(0x1000, 1)
	withStack.StackId = 5 // in-kernel only: the stack bytes count
	withPayload := testEvent(0x1000, 2)
	withPayload.OrigLen = 98
	withPayload.PayloadFlags = payloadL3
	later := testEvent(0x1000, 3)
	later.Flags = uint16(format.FlagDropReason)
	later.DropReason = 2
	freed := testEvent(0x1000, 4)
	after := testEvent(0x1000, 5)
	mapOp := bytes.Repeat([]byte{0x5a}, 52) // an --output-bpfmap record, opaque to the decoder
	garbled := encodeRecord(t, testEvent(0x2000, 1), nil)
	garbled[offStackLen] = 12 // 12 bytes follow nowhere
	recs := [][]byte{
		encodeStackRecord(t, withStack, stackA, nil),
		encodeStackRecord(t, withPayload, stackA, pkt, []byte{1, 2, 3}, nil, bytes.Repeat([]byte{9}, 48)),
		garbled,
		encodeStackRecord(t, later, stackB, nil, nil, nil, nil, nil, nil, mapOp),
		encodeRecord(t, freed, nil),
		encodeRecord(t, after, nil),
	}
	const good = 5
	var buf bytes.Buffer
	w := newTestWriter(t, &buf)
	d := &drainer{
		ring:   &fakeRing{recs: recs, loops: 1},
		dec:    newDecoder(w, map[uint32]bool{4: true}),
		losses: fakeLosses{perCPU: []uint64{0, 3}},
		opts:   drainOptions{Tick: time.Millisecond, ProbesFailed: 2},
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.opts.Status = func(st Stats) {
		if st.Events == good {
			cancel()
		}
	}
	st, err := d.run(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != good || st.Lost != 3 || st.StopReason != StopInterrupted {
		t.Errorf("stats = %+v, want %d events, 3 lost, interrupted", st, good)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []format.Event
	it := f.Events(nil)
	var e format.Event
	for it.Next(&e) {
		got = append(got, e)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	base := format.Event{
		SKB: 0x1000, CPU: 1, PID: 42, Comm: "ping", Netns: 4026531840, Mark: 7, Ifindex: 2,
		Len: 84, MTU: 1500, Protocol: 0x0800,
		Tuple: format.Tuple{
			Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
			Sport: 1234, Dport: 80, Proto: 6,
		},
	}
	want := make([]format.Event, 5)
	for i := range want {
		want[i] = base
		want[i].ProbeID = uint32(i + 1)
		want[i].Time = 0x1000 + 1000
	}
	want[0].StackID = 1
	want[1].StackID = 1 // same stack bytes, same stack
	want[2].StackID = 2
	want[1].PayloadID = 1
	want[1].Blobs[format.BlobSKB] = 1
	want[1].Blobs[format.BlobCB] = 2
	want[2].PayloadID = 1
	want[2].Flags = format.FlagDropReason
	want[2].DropReason = 2
	want[2].Blobs[format.BlobBPFMap] = 3
	want[3].PayloadID = 1
	// after kfree (probe 4) the skb address no longer refers to the payload
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if kind, data, err := f.Blob(3); err != nil || kind != format.BlobBPFMap || !bytes.Equal(data, mapOp) {
		t.Errorf("Blob(3) = %d, %x, %v; want the bpfmap bytes %x", kind, data, err, mapOp)
	}
	for id, want := range map[uint32][]uint64{1: stackA, 2: stackB} {
		got, err := f.Stack(id)
		if err != nil {
			t.Fatalf("Stack(%d): %v", id, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Stack(%d) (-want +got):\n%s", id, diff)
		}
	}
	if n := f.Summary().Stacks; n != 2 {
		t.Errorf("capture holds %d stacks, want 2", n)
	}
	p, err := f.Packet(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Data, pkt) || p.OrigLen != 98 || !p.L3 {
		t.Errorf("packet = %+v", p)
	}
	l := f.Losses()
	if l.TotalLost() != 3 || l.ProbesFailed != 2 || l.Other["bad_record"] != 1 {
		t.Errorf("losses = %+v, want 3 lost, 2 probes failed, 1 bad_record", l)
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	good := encodeRecord(t, testEvent(1, 1), []byte{1, 2, 3, 4})
	stacked := encodeStackRecord(t, testEvent(1, 1), []uint64{0xffffffff81000010, 0xffffffff81000020}, []byte{1, 2, 3, 4})
	// A stack part that is not whole addresses: 12 bytes announced and present.
	partial := encodeRecord(t, testEvent(1, 1), nil)
	binary.LittleEndian.PutUint16(partial[offStackLen:], 12)
	partial = append(partial, make([]byte, 12)...)
	// A huge stack length the record does not have.
	huge := bytes.Clone(stacked)
	binary.LittleEndian.PutUint16(huge[offStackLen:], 0xfff8)
	tests := []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"short core", good[:recordCoreSize-1]},
		{"part beyond end", good[:len(good)-1]},
		{"stack beyond end", stacked[:len(stacked)-1]},
		{"stack cut at an address", stacked[:len(stacked)-8]},
		{"stack not whole addresses", partial},
		{"stack length beyond record", huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := newDecoder(newTestWriter(t, &buf), nil)
			if err := d.decode(tt.rec); !errors.Is(err, ErrBadRecord) {
				t.Errorf("decode = %v, want ErrBadRecord", err)
			}
		})
	}
}

// decodeAll decodes recs into a fresh writer and returns the capture read
// back.
func decodeAll(tb testing.TB, recs [][]byte) *format.File {
	tb.Helper()
	var buf bytes.Buffer
	w := newTestWriter(tb, &buf)
	d := newDecoder(w, nil)
	for i, rec := range recs {
		if err := d.decode(rec); err != nil {
			tb.Fatalf("decode record %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestDecodeStacks(t *testing.T) {
	a := []uint64{0xffffffff81000010, 0xffffffff81000020, 0xffffffff81000030}
	b := []uint64{0xffffffff81000010, 0xffffffff81000020, 0xffffffff81000040}
	deep := make([]uint64, 50)
	for i := range deep {
		deep[i] = 0xffffffff81000000 + uint64(i)*0x40
	}
	tests := []struct {
		name   string
		stacks [][]uint64 // one record each
		want   []uint32   // StackID of each event
	}{
		{"identical stacks share an ID", [][]uint64{a, a, a}, []uint32{1, 1, 1}},
		{"different stacks", [][]uint64{a, b, a, b}, []uint32{1, 2, 1, 2}},
		{"a prefix is another stack", [][]uint64{a, a[:2], a[:1], a}, []uint32{1, 2, 3, 1}},
		{"no stack", [][]uint64{nil, a, nil}, []uint32{0, 1, 0}},
		{"50 frames", [][]uint64{deep, a, deep}, []uint32{1, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs [][]byte
			for i, st := range tt.stacks {
				recs = append(recs, encodeStackRecord(t, testEvent(uint64(i+1), 1), st, nil))
			}
			f := decodeAll(t, recs)
			var got []uint32
			var e format.Event
			it := f.Events(nil)
			for it.Next(&e) {
				got = append(got, e.StackID)
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stack IDs (-want +got):\n%s", diff)
			}
			for i, id := range got {
				if id == 0 {
					continue
				}
				ips, err := f.Stack(id)
				if err != nil {
					t.Fatalf("Stack(%d): %v", id, err)
				}
				if diff := cmp.Diff(tt.stacks[i], ips); diff != "" {
					t.Errorf("event %d: stack %d (-want +got):\n%s", i, id, diff)
				}
			}
		})
	}
}

// TestDecodeStackCacheFull: after the decoder's stack cache was cleared, a
// stack seen before keeps its ID (the writer deduplicates).
func TestDecodeStackCacheFull(t *testing.T) {
	var recs [][]byte
	for i := range maxStackKeys + 1 {
		recs = append(recs, encodeStackRecord(t, testEvent(1, 1), []uint64{0xffffffff81000000 + uint64(i)}, nil))
	}
	recs = append(recs, recs[0], recs[maxStackKeys])
	f := decodeAll(t, recs)
	if n := f.Summary().Stacks; n != maxStackKeys+1 {
		t.Errorf("capture holds %d stacks, want %d", n, maxStackKeys+1)
	}
	var ids []uint32
	var e format.Event
	it := f.Events(nil)
	for it.Next(&e) {
		ids = append(ids, e.StackID)
	}
	if n := len(ids); n != len(recs) || ids[n-2] != 1 || ids[n-1] != maxStackKeys+1 {
		t.Errorf("%d events, last stack IDs %v, want %d events ending in [1 %d]", n, ids[max(0, n-2):], len(recs), maxStackKeys+1)
	}
}

// TestDecodeStackNoAllocs: a record whose stack was seen before costs no
// allocation.
func TestDecodeStackNoAllocs(t *testing.T) {
	stack := make([]uint64, 30)
	for i := range stack {
		stack[i] = 0xffffffff81000000 + uint64(i)*0x40
	}
	rec := encodeStackRecord(t, testEvent(1, 1), stack, nil)
	var buf bytes.Buffer
	d := newDecoder(newTestWriter(t, &buf), nil)
	if err := d.decode(rec); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := d.decode(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decode of a known stack: %v allocations per record, want 0", allocs)
	}
}

func TestDrainLimits(t *testing.T) {
	recs := [][]byte{encodeRecord(t, testEvent(1, 1), nil), encodeRecord(t, testEvent(2, 1), nil)}
	tests := []struct {
		name       string
		opts       drainOptions
		wantEvents uint64
		wantReason string
	}{
		{"max events", drainOptions{MaxEvents: 5}, 5, StopMaxEvents},
		{"duration", drainOptions{Duration: time.Nanosecond}, 20, StopDuration},
		{"max size", drainOptions{MaxSize: 1}, 20, StopMaxSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := &drainer{
				ring: &fakeRing{recs: recs, loops: 10},
				dec:  newDecoder(newTestWriter(t, &buf), nil),
				opts: tt.opts,
			}
			st, err := d.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Events != tt.wantEvents || st.StopReason != tt.wantReason {
				t.Errorf("got %d events, reason %q; want %d, %q", st.Events, st.StopReason, tt.wantEvents, tt.wantReason)
			}
		})
	}
}

// BenchmarkDrain feeds ring buffer records shaped like a pwru-record
// --output-stack run (4 skbs through 64 functions, a payload per skb, a
// 30-frame stack per function) through the decoder and the capture writer.
func BenchmarkDrain(b *testing.B) {
	var recs [][]byte
	for i := range 256 {
		skb := uint64(0xffff888000000000) + uint64(i%4)*0x100
		ev := testEvent(skb, uint32(i%64+1))
		ev.Time = uint64(i) * 1000
		stack := make([]uint64, 30)
		for f := range stack {
			stack[f] = 0xffffffff81000000 + uint64(f)*0x1000 + uint64(i%64)
		}
		var payload []byte
		if i < 4 {
			payload = bytes.Repeat([]byte{byte(i)}, 98)
		}
		recs = append(recs, encodeStackRecord(b, ev, stack, payload))
	}
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{WriterVersion: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := newDecoder(w, nil)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := d.decode(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		if buf.Len() > 64<<20 {
			buf.Reset()
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
