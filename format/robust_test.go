package format_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// walk reads everything f holds and returns the events and the first error
// met anywhere (iteration, stacks, packets, blobs, symbols, BTF, pcapng).
func walk(f *format.File) ([]format.Event, error) {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	var events []format.Event
	it := f.Events(nil)
	var e format.Event
	for it.Next(&e) {
		events = append(events, e)
		if e.StackID != 0 {
			_, err := f.Stack(e.StackID)
			keep(err)
		}
		if e.PayloadID != 0 {
			_, err := f.Packet(e.PayloadID)
			keep(err)
		}
		for _, id := range e.Blobs {
			if id != 0 {
				_, _, err := f.Blob(id)
				keep(err)
			}
		}
		_ = f.Probe(e.ProbeID)
		_ = f.Interface(e.Netns, e.Ifindex)
	}
	keep(it.Err())
	if syms, err := f.Symbols(); err == nil {
		_ = syms.Format(0xffffffff81000123)
	} else {
		keep(err)
	}
	if _, err := f.RawBTF(""); err != nil && !errors.Is(err, format.ErrNotFound) {
		keep(err)
	}
	for _, m := range f.BTFModules() {
		_, err := f.RawBTF(m)
		keep(err)
	}
	keep(f.WritePcapng(io.Discard))
	_ = f.Summary()
	_ = f.Sections()
	_ = f.Losses()
	return events, first
}

func smallStream() *fakecapture.Stream {
	return fakecapture.Generate(fakecapture.Config{Seed: 11, SKBs: 40, PayloadPercent: 30, StackPercent: 30})
}

// TestTruncation cuts a capture at many offsets: every cut must open (or
// fail with ErrTruncated when even the header is cut), report truncation,
// and return exactly the events of the complete chunks, which are a prefix
// of the events in writing order.
func TestTruncation(t *testing.T) {
	const chunk = 97
	s := smallStream()
	data := writeStream(t, s, &format.WriterOptions{ChunkEvents: chunk, FlushInterval: -1})
	step := max(1, len(data)/700)
	for cut := 0; cut < len(data); cut += step {
		f, err := format.NewFile(bytes.NewReader(data[:cut]), int64(cut), nil)
		if err != nil {
			if !errors.Is(err, format.ErrTruncated) && !errors.Is(err, format.ErrNotCapture) {
				t.Fatalf("cut at %d: open: %v, want ErrTruncated", cut, err)
			}
			continue
		}
		sum := f.Summary()
		if !sum.Truncated || sum.Complete || sum.TruncatedAt > int64(cut) {
			t.Fatalf("cut at %d: summary %+v, want truncated at or before the cut", cut, sum)
		}
		got, err := walk(f)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if (len(got)%chunk != 0 && len(got) != len(s.Events)) || uint64(len(got)) != sum.Events {
			t.Fatalf("cut at %d: %d events, summary says %d, want a multiple of %d", cut, len(got), sum.Events, chunk)
		}
		want := sortByTime(s.Events[:len(got)])
		if diff := diffEvents(want, got); diff != "" {
			t.Fatalf("cut at %d: events (-want +got):\n%s", cut, diff)
		}
		f.Close()
	}
}

func sortByTime(ev []format.Event) []format.Event {
	out := slices.Clone(ev)
	slices.SortStableFunc(out, func(a, b format.Event) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	return out
}

// TestFlippedBytes flips bytes all over a capture. Reading must never
// panic; in strict mode a flip either produces an error somewhere or
// leaves the events intact (the flip hit a byte without meaning, e.g. the
// footer, which makes the reader scan instead).
func TestFlippedBytes(t *testing.T) {
	s := smallStream()
	data := writeStream(t, s, &format.WriterOptions{ChunkEvents: 128, FlushInterval: -1})
	want := s.SortedEvents()
	step := max(1, len(data)/500)
	for pos := 0; pos < len(data); pos += step {
		for _, skip := range []bool{false, true} {
			bad := slices.Clone(data)
			bad[pos] ^= 0x5a
			f, err := format.NewFile(bytes.NewReader(bad), int64(len(bad)), &format.ReaderOptions{SkipCorrupt: skip})
			if err != nil {
				if !errors.Is(err, format.ErrCorrupt) && !errors.Is(err, format.ErrNotCapture) &&
					!errors.Is(err, format.ErrUnsupportedVersion) && !errors.Is(err, format.ErrTruncated) {
					t.Fatalf("flip at %d: open error %v matches no sentinel", pos, err)
				}
				continue
			}
			got, err := walk(f)
			f.Close()
			if skip || err != nil {
				continue
			}
			if diff := diffEvents(want, got); diff != "" {
				t.Fatalf("flip at %d: no error but events differ (-want +got):\n%s", pos, diff)
			}
		}
	}
}

// TestSkipCorrupt damages one events chunk: strict reading fails naming
// the section and offset; SkipCorrupt returns all the other events.
func TestSkipCorrupt(t *testing.T) {
	const chunk = 100
	s := smallStream()
	data := writeStream(t, s, &format.WriterOptions{ChunkEvents: chunk, FlushInterval: -1})
	f := mustOpen(t, data, nil)
	var target format.SectionInfo
	n := 0
	for _, sec := range f.Sections() {
		if sec.Type == format.SectionEvents {
			if n == 2 {
				target = sec
			}
			n++
		}
	}
	bad := slices.Clone(data)
	bad[target.Offset+target.Size-3] ^= 0xff

	strict := mustOpen(t, bad, nil)
	_, err := walk(strict)
	var se *format.SectionError
	if !errors.As(err, &se) || se.Type != format.SectionEvents || se.Offset != target.Offset || !errors.Is(err, format.ErrCorrupt) {
		t.Fatalf("strict read: got %v, want a corrupt events section at offset %d", err, target.Offset)
	}

	lax := mustOpen(t, bad, &format.ReaderOptions{SkipCorrupt: true})
	got, err := walk(lax)
	if err != nil {
		t.Fatalf("skip-corrupt read: %v", err)
	}
	want := sortByTime(slices.Concat(s.Events[:2*chunk], s.Events[3*chunk:]))
	if diff := diffEvents(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCorruptHeaderResync damages a section header in a file without a
// trailer: strict opening fails, SkipCorrupt resynchronizes on the next
// section.
func TestCorruptHeaderResync(t *testing.T) {
	s := smallStream()
	data := writeStream(t, s, &format.WriterOptions{ChunkEvents: 100, FlushInterval: -1})
	f := mustOpen(t, data, nil)
	secs := f.Sections()
	last := secs[len(secs)-1]
	cut := data[:last.Offset+last.Size] // drop the trailer: force a scan
	var target format.SectionInfo
	for _, sec := range secs {
		if sec.Type == format.SectionEvents {
			target = sec
			break
		}
	}
	bad := slices.Clone(cut)
	bad[target.Offset+5] ^= 0xff // section flags: header checksum fails
	_, err := format.NewFile(bytes.NewReader(bad), int64(len(bad)), nil)
	if !errors.Is(err, format.ErrCorrupt) {
		t.Fatalf("strict open: got %v, want ErrCorrupt", err)
	}
	lax := mustOpen(t, bad, &format.ReaderOptions{SkipCorrupt: true})
	got, err := walk(lax)
	if err != nil {
		t.Fatal(err)
	}
	if sum := lax.Summary(); sum.Skipped != 1 || len(got) != len(s.Events)-target.Count {
		t.Errorf("got %d events, summary %+v; want %d events and 1 skipped section", len(got), sum, len(s.Events)-target.Count)
	}
}

// TestZeroTail: a crash can leave zero bytes after the last write; they
// read as truncation, not corruption.
func TestZeroTail(t *testing.T) {
	s := smallStream()
	data := writeStream(t, s, &format.WriterOptions{ChunkEvents: 100, FlushInterval: -1})
	f := mustOpen(t, data, nil)
	secs := f.Sections()
	end := secs[len(secs)-2].Offset + secs[len(secs)-2].Size
	padded := append(slices.Clone(data[:end]), make([]byte, 4096)...)
	g := mustOpen(t, padded, nil)
	if sum := g.Summary(); !sum.Truncated || sum.TruncatedAt != end {
		t.Errorf("summary %+v, want truncated at %d", sum, end)
	}
	if _, err := walk(g); err != nil {
		t.Error(err)
	}
}

func TestOpenErrors(t *testing.T) {
	good := writeStream(t, smallStream(), nil)
	newer := slices.Clone(good)
	newer[8] = 2 // major version
	minor := slices.Clone(good)
	minor[10] = 9 // minor version: still readable
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, format.ErrNotCapture},
		{"text", []byte("hello, this is not a capture file at all"), format.ErrNotCapture},
		{"magic-prefix", good[:5], format.ErrTruncated},
		{"preamble-only", good[:16], format.ErrTruncated},
		{"newer-major", newer, format.ErrUnsupportedVersion},
		{"newer-minor", minor, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := format.NewFile(bytes.NewReader(tt.data), int64(len(tt.data)), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil {
				f.Close()
			}
		})
	}
}
