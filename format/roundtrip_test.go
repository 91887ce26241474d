package format_test

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// writeStream writes s to a buffer and returns the bytes.
func writeStream(tb testing.TB, s *fakecapture.Stream, opts *format.WriterOptions) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := fakecapture.WriteStream(w, s); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func mustOpen(tb testing.TB, b []byte, opts *format.ReaderOptions) *format.File {
	tb.Helper()
	f, err := format.NewFile(bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func readEvents(tb testing.TB, f *format.File, opts *format.IterOptions) []format.Event {
	tb.Helper()
	var out []format.Event
	it := f.Events(opts)
	var e format.Event
	for it.Next(&e) {
		out = append(out, e)
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

var cmpOpts = []cmp.Option{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  fakecapture.Config
		opts *format.WriterOptions
	}{
		{"small", fakecapture.Config{Seed: 1, SKBs: 20}, nil},
		{"chunked", fakecapture.Config{Seed: 2, SKBs: 300}, &format.WriterOptions{ChunkEvents: 500}},
		{"tiny-chunks", fakecapture.Config{Seed: 3, SKBs: 50, Concurrent: 40}, &format.WriterOptions{ChunkEvents: 7, Level: 1}},
		{"default", fakecapture.Config{Seed: 4}, &format.WriterOptions{Level: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakecapture.Generate(tt.cfg)
			f := mustOpen(t, writeStream(t, s, tt.opts), nil)
			if diff := diffEvents(s.SortedEvents(), readEvents(t, f, nil)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&s.Header, f.Header(), cmpOpts...); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(s.Probes, f.Probes(), cmpOpts...); diff != "" {
				t.Errorf("probes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(s.Interfaces, f.Interfaces(), cmpOpts...); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(s.Netns, f.Netns(), cmpOpts...); diff != "" {
				t.Errorf("netns (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(s.Losses, f.Losses(), cmpOpts...); diff != "" {
				t.Errorf("losses (-want +got):\n%s", diff)
			}
			for i, st := range s.Stacks {
				got, err := f.Stack(uint32(i + 1))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(st, got); diff != "" {
					t.Errorf("stack %d (-want +got):\n%s", i+1, diff)
				}
			}
			for i := range s.Packets {
				got, err := f.Packet(uint32(i + 1))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(&s.Packets[i], got, cmpOpts...); diff != "" {
					t.Errorf("packet %d (-want +got):\n%s", i+1, diff)
				}
			}
			for i, b := range s.Blobs {
				kind, data, err := f.Blob(uint32(i + 1))
				if err != nil {
					t.Fatal(err)
				}
				if kind != b.Kind || !bytes.Equal(data, b.Data) {
					t.Errorf("blob %d: got kind %d %x, want kind %d %x", i+1, kind, data, b.Kind, b.Data)
				}
			}
			sum := f.Summary()
			if !sum.Complete || sum.Truncated || sum.Events != uint64(len(s.Events)) ||
				sum.Packets != uint64(len(s.Packets)) || sum.Stacks != uint64(len(s.Stacks)) {
				t.Errorf("summary %+v: want complete with %d events, %d packets, %d stacks", sum, len(s.Events), len(s.Packets), len(s.Stacks))
			}
			if _, err := f.BTF(); err != nil {
				t.Errorf("btf: %v", err)
			}
		})
	}
}

// diffEvents compares with == first (fast) and renders a go-cmp diff only
// on mismatch.
func diffEvents(want, got []format.Event) string {
	if slices.Equal(want, got) {
		return ""
	}
	return cmp.Diff(want, got, cmpOpts...)
}

// TestDecodeAllocs checks that iterating allocates per chunk, not per
// event (strings are interned, buffers reused).
func TestDecodeAllocs(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 8, SKBs: 2000, PayloadPercent: -1})
	f := mustOpen(t, writeStream(t, s, &format.WriterOptions{ChunkEvents: 4096, FlushInterval: -1}), nil)
	var n int
	allocs := testing.AllocsPerRun(3, func() {
		n = 0
		it := f.Events(nil)
		var e format.Event
		for it.Next(&e) {
			n++
		}
	})
	if n != len(s.Events) {
		t.Fatalf("read %d events, want %d", n, len(s.Events))
	}
	if perEvent := allocs / float64(n); perEvent > 0.01 {
		t.Errorf("%.0f allocations for %d events (%.3f per event), want well below one per event", allocs, n, perEvent)
	}
}

// TestConcurrentReaders iterates and looks things up from several
// goroutines on one File (run with -race).
func TestConcurrentReaders(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 12, SKBs: 200, PayloadPercent: 40, StackPercent: 40})
	f := mustOpen(t, writeStream(t, s, &format.WriterOptions{ChunkEvents: 300, FlushInterval: -1}), nil)
	want := s.SortedEvents()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := walk(f)
			if err == nil && !slices.Equal(got, want) {
				err = errors.New("events differ")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
