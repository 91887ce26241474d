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
	return os.ErrDeadlineExceeded
}

func (r *fakeRing) SetDeadline(time.Time) {}
func (r *fakeRing) Flush() error          { r.flushed.Store(true); return nil }

type fakeStacks map[uint32][]uint64

func (s fakeStacks) Stack(id uint32) ([]uint64, error) {
	ips, ok := s[id]
	if !ok {
		return nil, errors.New("no such stack")
	}
	return ips, nil
}

type fakeLosses struct{ perCPU []uint64 }

func (l fakeLosses) Losses() ([]uint64, map[string]uint64, error) {
	return l.perCPU, map[string]uint64{"stack_lost": 0}, nil
}

// encodeRecord lays out a record as the kernel program does: the core
// followed by the variable parts.
func encodeRecord(tb testing.TB, ev bpf.PwruEvent, payload []byte, blobs ...[]byte) []byte {
	tb.Helper()
	ev.PayloadLen = uint16(len(payload))
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
	withStack := testEvent(0x1000, 1)
	withStack.StackId = 5
	withPayload := testEvent(0x1000, 2)
	withPayload.OrigLen = 98
	withPayload.PayloadFlags = payloadL3
	later := testEvent(0x1000, 3)
	later.Flags = uint16(format.FlagDropReason)
	later.DropReason = 2
	freed := testEvent(0x1000, 4)
	after := testEvent(0x1000, 5)
	mapOp := bytes.Repeat([]byte{0x5a}, 52) // an --output-bpfmap record, opaque to the decoder
	recs := [][]byte{
		encodeRecord(t, withStack, nil),
		encodeRecord(t, withPayload, pkt, []byte{1, 2, 3}, nil, bytes.Repeat([]byte{9}, 48)),
		encodeRecord(t, later, nil, nil, nil, nil, nil, nil, mapOp),
		encodeRecord(t, freed, nil),
		encodeRecord(t, after, nil),
	}
	var buf bytes.Buffer
	w := newTestWriter(t, &buf)
	d := &drainer{
		ring:   &fakeRing{recs: recs, loops: 1},
		dec:    newDecoder(w, fakeStacks{5: {0xffffffff81000010, 0xffffffff81000020}}, map[uint32]bool{4: true}),
		losses: fakeLosses{perCPU: []uint64{0, 3}},
		opts:   drainOptions{Tick: time.Millisecond, ProbesFailed: 2},
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.opts.Status = func(st Stats) {
		if st.Events == uint64(len(recs)) {
			cancel()
		}
	}
	st, err := d.run(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != uint64(len(recs)) || st.Lost != 3 || st.StopReason != StopInterrupted {
		t.Errorf("stats = %+v, want %d events, 3 lost, interrupted", st, len(recs))
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
	stack, err := f.Stack(1)
	if err != nil || len(stack) != 2 {
		t.Errorf("Stack(1) = %x, %v", stack, err)
	}
	p, err := f.Packet(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Data, pkt) || p.OrigLen != 98 || !p.L3 {
		t.Errorf("packet = %+v", p)
	}
	l := f.Losses()
	if l.TotalLost() != 3 || l.ProbesFailed != 2 {
		t.Errorf("losses = %+v", l)
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	good := encodeRecord(t, testEvent(1, 1), []byte{1, 2, 3, 4})
	tests := []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"short core", good[:recordCoreSize-1]},
		{"part beyond end", good[:len(good)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := newDecoder(newTestWriter(t, &buf), nil, nil)
			if err := d.decode(tt.rec); !errors.Is(err, ErrBadRecord) {
				t.Errorf("decode = %v, want ErrBadRecord", err)
			}
		})
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
				dec:  newDecoder(newTestWriter(t, &buf), nil, nil),
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

// BenchmarkDrain feeds ring buffer records shaped like a pwru-record run
// (4 skbs through 64 functions, a payload per skb, stacks on) through the
// decoder and the capture writer.
func BenchmarkDrain(b *testing.B) {
	var recs [][]byte
	stacks := fakeStacks{}
	for i := range 256 {
		skb := uint64(0xffff888000000000) + uint64(i%4)*0x100
		ev := testEvent(skb, uint32(i%64+1))
		ev.Time = uint64(i) * 1000
		ev.StackId = int32(i % 64)
		stacks[uint32(i%64)] = []uint64{0xffffffff81000000 + uint64(i%64), 0xffffffff81100000}
		var payload []byte
		if i < 4 {
			payload = bytes.Repeat([]byte{byte(i)}, 98)
		}
		recs = append(recs, encodeRecord(b, ev, payload))
	}
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{WriterVersion: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := newDecoder(w, stacks, nil)
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
