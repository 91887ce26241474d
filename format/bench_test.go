package format_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// benchStream is the realistic stream the benchmarks share: 5000 skbs of
// 20-60 functions each, no payloads (the bytes/event target excludes them).
func benchStream(tb testing.TB) *fakecapture.Stream {
	tb.Helper()
	return fakecapture.Generate(fakecapture.Config{Seed: 42, SKBs: 5000, PayloadPercent: -1})
}

// countWriter counts bytes and discards them.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// reportRate reports events per wall-clock second ("events/s") and per
// second of process CPU time ("cpu-events/s", which includes GC work on
// other threads and stays meaningful when other jobs share the machine).
// cpu0 is cpuTime() at the start of the measured loop.
func reportRate(b *testing.B, events int, cpu0 time.Duration) {
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(total/cpu.Seconds(), "cpu-events/s")
	}
}

func BenchmarkEncode(b *testing.B) {
	s := benchStream(b)
	var cw countWriter
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		cw.n = 0
		w, err := format.NewWriter(&cw, &s.Header, &format.WriterOptions{FlushInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		for i := range s.Events {
			if err := w.WriteEvent(&s.Events[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, len(s.Events), cpu0)
	b.ReportMetric(float64(cw.n)/float64(len(s.Events)), "B/event")
}

func BenchmarkDecode(b *testing.B) {
	s := benchStream(b)
	data := writeStream(b, s, &format.WriterOptions{FlushInterval: -1})
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		f, err := format.NewFile(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			b.Fatal(err)
		}
		it := f.Events(nil)
		var e format.Event
		n := 0
		for it.Next(&e) {
			n++
		}
		if it.Err() != nil || n != len(s.Events) {
			b.Fatalf("read %d of %d events: %v", n, len(s.Events), it.Err())
		}
		f.Close()
	}
	reportRate(b, len(s.Events), cpu0)
	b.ReportMetric(float64(len(data))/float64(len(s.Events)), "B/event")
}

// jsonEvent is the shape of pwru's --output-json lines.
type jsonEvent struct {
	Skb        string     `json:"skb"`
	CPU        uint32     `json:"cpu"`
	Process    string     `json:"process"`
	Func       string     `json:"func"`
	CallerFunc string     `json:"caller_func,omitempty"`
	Time       uint64     `json:"time"`
	Netns      uint32     `json:"netns"`
	Mark       string     `json:"mark"`
	Iface      string     `json:"iface"`
	Proto      string     `json:"proto"`
	Mtu        uint32     `json:"mtu"`
	Len        uint32     `json:"len"`
	Tuple      *jsonTuple `json:"tuple,omitempty"`
	Reason     string     `json:"drop_reason,omitempty"`
	Stack      string     `json:"stack,omitempty"`
}

type jsonTuple struct {
	Saddr string `json:"saddr"`
	Daddr string `json:"daddr"`
	Sport uint16 `json:"sport"`
	Dport uint16 `json:"dport"`
	Proto uint8  `json:"proto"`
}

func jsonLines(tb testing.TB, s *fakecapture.Stream) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	syms := format.NewSymbols(s.Symbols)
	for _, e := range s.SortedEvents() {
		j := jsonEvent{
			Skb: fmt.Sprintf("0x%x", e.SKB), CPU: e.CPU, Process: fmt.Sprintf("[%d:%s]", e.PID, e.Comm),
			Func: s.Probes[e.ProbeID-1].Name, Time: e.Time, Netns: e.Netns, Mark: fmt.Sprintf("0x%x", e.Mark),
			Iface: fmt.Sprintf("%d", e.Ifindex), Proto: fmt.Sprintf("0x%04x", e.Protocol), Mtu: e.MTU, Len: e.Len,
		}
		if e.Caller != 0 {
			j.CallerFunc = syms.Format(e.Caller)
		}
		if e.Tuple.Src.IsValid() {
			j.Tuple = &jsonTuple{e.Tuple.Src.String(), e.Tuple.Dst.String(), e.Tuple.Sport, e.Tuple.Dport, e.Tuple.Proto}
		}
		if e.Flags&format.FlagDropReason != 0 {
			j.Reason = fmt.Sprint(e.DropReason)
		}
		if err := enc.Encode(&j); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// BenchmarkEncodeJSON encodes the same events as pwru-style JSON lines,
// raw and zstd-compressed, for comparison with BenchmarkEncode.
func BenchmarkEncodeJSON(b *testing.B) {
	s := benchStream(b)
	raw := jsonLines(b, s)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	var comp []byte
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		comp = enc.EncodeAll(jsonLines(b, s), comp[:0])
	}
	reportRate(b, len(s.Events), cpu0)
	b.ReportMetric(float64(len(raw))/float64(len(s.Events)), "B/event")
	b.ReportMetric(float64(len(comp))/float64(len(s.Events)), "zstd-B/event")
}

// BenchmarkDecodeJSON decodes the zstd-compressed JSON lines.
func BenchmarkDecodeJSON(b *testing.B) {
	s := benchStream(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	comp := enc.EncodeAll(jsonLines(b, s), nil)
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		zr, err := zstd.NewReader(bytes.NewReader(comp))
		if err != nil {
			b.Fatal(err)
		}
		dec := json.NewDecoder(zr)
		n := 0
		for {
			var j jsonEvent
			if err := dec.Decode(&j); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
		zr.Close()
		if n != len(s.Events) {
			b.Fatalf("decoded %d of %d", n, len(s.Events))
		}
	}
	reportRate(b, len(s.Events), cpu0)
	b.ReportMetric(float64(len(comp))/float64(len(s.Events)), "B/event")
}

// BenchmarkEncodePcapngCustom measures the alternative design the issue
// suggests: every event as a pcapng Custom Block (type 0x00000BAD with a
// Private Enterprise Number) holding its fixed fields, in a stream
// compressed as independent 1 MiB zstd frames. SPEC.md cites the result.
func BenchmarkEncodePcapngCustom(b *testing.B) {
	s := benchStream(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	var raw, comp []byte
	total := 0
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		raw, comp, total = raw[:0], comp[:0], 0
		for i := range s.Events {
			raw = appendCustomBlock(raw, &s.Events[i])
			if len(raw) >= 1<<20 {
				comp = enc.EncodeAll(raw, comp[:0])
				total += len(comp)
				raw = raw[:0]
			}
		}
		comp = enc.EncodeAll(raw, comp[:0])
		total += len(comp)
	}
	reportRate(b, len(s.Events), cpu0)
	b.ReportMetric(float64(total)/float64(len(s.Events)), "B/event")
}

// appendCustomBlock appends e as a pcapng custom block: type, length,
// PEN, then the event's fields in fixed little-endian layout.
func appendCustomBlock(b []byte, e *format.Event) []byte {
	le := binary.LittleEndian
	start := len(b)
	b = le.AppendUint32(b, 0x00000BAD)
	b = le.AppendUint32(b, 0) // length, patched below
	b = le.AppendUint32(b, 32473)
	for _, v := range []uint64{e.Time, e.SKB, e.TrackID, e.Caller, uint64(e.Retval)} {
		b = le.AppendUint64(b, v)
	}
	for _, v := range []uint32{e.ProbeID, e.CPU, e.PID, e.Netns, e.Mark, e.Ifindex, e.Len, e.MTU,
		uint32(e.Protocol)<<16 | uint32(e.PktType)<<8, uint32(e.Flags), e.DropReason, e.StackID, e.PayloadID} {
		b = le.AppendUint32(b, v)
	}
	var comm [16]byte
	copy(comm[:], e.Comm)
	b = append(b, comm[:]...)
	src, dst := e.Tuple.Src.As16(), e.Tuple.Dst.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = le.AppendUint16(b, e.Tuple.Sport)
	b = le.AppendUint16(b, e.Tuple.Dport)
	b = append(b, e.Tuple.Proto, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = le.AppendUint32(b, uint32(len(b)-start+4))
	le.PutUint32(b[start+4:], uint32(len(b)-start))
	return b
}

// BenchmarkDecodeSummary opens a capture of about a million events and
// reads its summary: with the trailer ("complete") the index is read from
// the end of the file; without it ("truncated") the section headers are
// scanned, still without decompressing events.
func BenchmarkDecodeSummary(b *testing.B) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 43, SKBs: 25000, PayloadPercent: -1})
	data := writeStream(b, s, &format.WriterOptions{FlushInterval: -1})
	cut := data[:len(data)-100]
	for _, tc := range []struct {
		name string
		data []byte
	}{{"complete", data}, {"truncated", cut}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				f, err := format.NewFile(bytes.NewReader(tc.data), int64(len(tc.data)), nil)
				if err != nil {
					b.Fatal(err)
				}
				if sum := f.Summary(); sum.Events < uint64(len(s.Events))/2 {
					b.Fatalf("summary counts %d events", sum.Events)
				}
				f.Close()
			}
			b.ReportMetric(float64(len(s.Events)), "events")
		})
	}
}
