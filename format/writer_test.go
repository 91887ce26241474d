package format_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// TestPipe writes through an io.Pipe (no Seek, no ReadAt) and checks the
// bytes equal those written to a buffer.
func TestPipe(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 3, SKBs: 30})
	want := writeStream(t, s, &format.WriterOptions{FlushInterval: -1})
	pr, pw := io.Pipe()
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		done <- b
	}()
	w, err := format.NewWriter(pw, &s.Header, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := fakecapture.WriteStream(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := <-done; !bytes.Equal(got, want) {
		t.Errorf("pipe output (%d bytes) differs from buffer output (%d bytes)", len(got), len(want))
	}
}

// TestFlush: after Flush, everything written so far is readable from the
// bytes already out, before Close.
func TestFlush(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 4, SKBs: 10})
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := fakecapture.WriteStream(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, bytes.Clone(buf.Bytes()), nil)
	got, err := walk(f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffEvents(s.SortedEvents(), got); diff != "" {
		t.Errorf("events after Flush (-want +got):\n%s", diff)
	}
	if sum := f.Summary(); !sum.Truncated || sum.Complete {
		t.Errorf("summary %+v: want truncated (no trailer yet)", sum)
	}
	if diff := cmp.Diff(s.Losses, f.Losses(), cmpOpts...); diff != "" {
		t.Errorf("losses after Flush (-want +got):\n%s", diff)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := w.WriteEvent(&format.Event{}); err == nil {
		t.Error("WriteEvent after Close succeeded")
	}
}

// TestFlushInterval: WriteEvent writes a chunk once the interval passed.
func TestFlushInterval(t *testing.T) {
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{}, &format.WriterOptions{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := format.Event{SKB: 1, ProbeID: 1}
	for i := range 2000 {
		e.Time = uint64(i)
		if err := w.WriteEvent(&e); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	if st := w.Stats(); st.Chunks == 0 || st.Events != 2000 {
		t.Errorf("stats %+v: want a chunk written by the interval", st)
	}
}

// TestFlushByEventTime: a slow trickle of events is written once their
// kernel times span the interval, long before 256 events arrive.
func TestFlushByEventTime(t *testing.T) {
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{}, &format.WriterOptions{FlushInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		e := format.Event{Time: uint64(i) * uint64(300*time.Millisecond), SKB: 1, ProbeID: 1}
		if err := w.WriteEvent(&e); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.Stats(); st.Chunks < 2 {
		t.Errorf("stats %+v: 10 events over 2.7 s should have made at least 2 chunks", st)
	}
}

// TestMergeOverlapping writes chunks whose time ranges overlap heavily
// and checks the reader merges them into one time order, also with
// Since/Until bounds.
func TestMergeOverlapping(t *testing.T) {
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{}, &format.WriterOptions{ChunkEvents: 10, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var all []format.Event
	for i := range 500 {
		// Four interleaved "CPUs" delivering batches out of order.
		tm := uint64((i%4)*1000 + i/4*7 + 1)
		e := format.Event{Time: tm, SKB: uint64(i % 7), ProbeID: uint32(i % 13), CPU: uint32(i % 4)}
		all = append(all, e)
		if err := w.WriteEvent(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, buf.Bytes(), nil)
	tests := []struct {
		name         string
		since, until uint64
	}{
		{"all", 0, 0},
		{"since", 1500, 0},
		{"until", 0, 2222},
		{"window", 1100, 1200},
		{"empty", 5000, 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []format.Event
			for _, e := range sortByTime(all) {
				if e.Time >= tt.since && (tt.until == 0 || e.Time <= tt.until) {
					want = append(want, e)
				}
			}
			got := readEvents(t, f, &format.IterOptions{Since: tt.since, Until: tt.until})
			if diff := diffEvents(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDedup(t *testing.T) {
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(id uint32, err error) uint32 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	s1 := must(w.AddStack([]uint64{1, 2, 3}))
	s2 := must(w.AddStack([]uint64{1, 2, 4}))
	if s3 := must(w.AddStack([]uint64{1, 2, 3})); s1 != 1 || s2 != 2 || s3 != 1 {
		t.Errorf("stack ids %d %d %d, want 1 2 1", s1, s2, s3)
	}
	if id := must(w.AddStack(nil)); id != 0 {
		t.Errorf("empty stack id %d, want 0", id)
	}
	b1 := must(w.AddBlob(format.BlobCB, []byte("abc")))
	b2 := must(w.AddBlob(format.BlobSKB, []byte("abc")))
	if b3 := must(w.AddBlob(format.BlobCB, []byte("abc"))); b1 != 1 || b2 != 2 || b3 != 1 {
		t.Errorf("blob ids %d %d %d, want 1 2 1", b1, b2, b3)
	}
	p := &format.Packet{Time: 5, Netns: 1, Ifindex: 2, OrigLen: 100, Data: []byte{1, 2, 3, 4}}
	p1 := must(w.AddPacket(p))
	p2 := must(w.AddPacket(&format.Packet{Time: 9, Netns: 1, Ifindex: 3, OrigLen: 100, Data: []byte{1, 2, 3, 4}}))
	p3 := must(w.AddPacket(&format.Packet{Time: 9, Netns: 1, Ifindex: 3, OrigLen: 4, Data: []byte{1, 2, 3, 4}, L3: true}))
	if p1 != 1 || p2 != 1 || p3 != 2 {
		t.Errorf("packet ids %d %d %d, want 1 1 2", p1, p2, p3)
	}
	if _, err := w.AddBlob(99, nil); err == nil {
		t.Error("AddBlob accepted an unknown kind")
	}
	if _, err := w.AddPacket(&format.Packet{OrigLen: 1, Data: []byte{1, 2}}); err == nil {
		t.Error("AddPacket accepted OrigLen < len(Data)")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, buf.Bytes(), nil)
	if sum := f.Summary(); sum.Stacks != 2 || sum.Blobs != 2 || sum.Packets != 2 {
		t.Errorf("summary %+v: want 2 stacks, 2 blobs, 2 packets", sum)
	}
	got, err := f.Packet(1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("packet 1 (-want +got):\n%s", diff)
	}
	for _, id := range []uint32{0, 3, 1 << 31} {
		if _, err := f.Stack(id); !errors.Is(err, format.ErrNotFound) {
			t.Errorf("Stack(%d): %v, want ErrNotFound", id, err)
		}
		if _, err := f.Packet(id); !errors.Is(err, format.ErrNotFound) {
			t.Errorf("Packet(%d): %v, want ErrNotFound", id, err)
		}
	}
}

// splitBTF builds module BTF with one int type "mod_int", split on base.
func splitBTF(t *testing.T, base []byte) []byte {
	t.Helper()
	baseStrLen := binary.LittleEndian.Uint32(base[20:])
	strs := []byte("\x00mod_int\x00")
	var types []byte
	types = binary.LittleEndian.AppendUint32(types, baseStrLen+1) // name_off
	types = binary.LittleEndian.AppendUint32(types, 1<<24)        // kind INT
	types = binary.LittleEndian.AppendUint32(types, 4)            // size
	types = binary.LittleEndian.AppendUint32(types, 32)           // 32 bits
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, 0xeb9f)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint32(b, 24)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(types)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(types)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(strs)))
	b = append(b, types...)
	return append(b, strs...)
}

func TestBTF(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 1, SKBs: 2})
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	mod := splitBTF(t, s.BTF)
	for _, step := range []struct {
		module string
		raw    []byte
	}{{"", s.BTF}, {"br_netfilter", mod}, {"", []byte("ignored: vmlinux is stored once")}} {
		if err := w.AddBTF(step.module, step.raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, buf.Bytes(), nil)
	if diff := cmp.Diff([]string{"", "br_netfilter"}, f.BTFModules()); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	spec, err := f.BTF()
	if err != nil {
		t.Fatal(err)
	}
	var reason *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &reason); err != nil {
		t.Fatalf("vmlinux btf: %v", err)
	}
	ms, err := f.ModuleBTF("br_netfilter")
	if err != nil {
		t.Fatal(err)
	}
	var mi *btf.Int
	if err := ms.TypeByName("mod_int", &mi); err != nil {
		t.Errorf("module btf: %v", err)
	}
	if _, err := f.ModuleBTF("nope"); !errors.Is(err, format.ErrNotFound) {
		t.Errorf("ModuleBTF(nope): %v, want ErrNotFound", err)
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := format.NewWriter(io.Discard, nil, nil); err == nil {
		t.Error("NewWriter accepted a nil header")
	}
	if _, err := format.NewWriter(io.Discard, &format.Header{}, &format.WriterOptions{Level: 9}); err == nil {
		t.Error("NewWriter accepted level 9")
	}
	nw, err := format.NewWriter(io.Discard, &format.Header{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := nw.WriteEvent(nil); err == nil {
		t.Error("WriteEvent accepted nil")
	}
	if err := nw.SetLosses(nil); err == nil {
		t.Error("SetLosses accepted nil")
	}
	if _, err := nw.AddPacket(nil); err == nil {
		t.Error("AddPacket accepted nil")
	}
	w, err := format.NewWriter(&failWriter{n: 1000}, &format.Header{}, &format.WriterOptions{ChunkEvents: 1})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		werr = w.WriteEvent(&format.Event{Time: uint64(i), SKB: uint64(i)})
	}
	if werr == nil || !strings.Contains(werr.Error(), "disk full") {
		t.Errorf("WriteEvent on a failing writer: %v, want the write error", werr)
	}
}

// failWriter fails once n bytes were written.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}
