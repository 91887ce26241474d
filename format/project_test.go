package format_test

import (
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// project returns e with only the fields fs (plus Time, SKB, ProbeID).
func project(e format.Event, fs format.Fields) format.Event {
	p := format.Event{Time: e.Time, SKB: e.SKB, ProbeID: e.ProbeID}
	set := func(f format.Fields, apply func()) {
		if fs&f != 0 {
			apply()
		}
	}
	set(format.FieldTrackID, func() { p.TrackID = e.TrackID })
	set(format.FieldCaller, func() { p.Caller = e.Caller })
	set(format.FieldCPU, func() { p.CPU = e.CPU })
	set(format.FieldPID, func() { p.PID = e.PID })
	set(format.FieldComm, func() { p.Comm = e.Comm })
	set(format.FieldNetns, func() { p.Netns = e.Netns })
	set(format.FieldMark, func() { p.Mark = e.Mark })
	set(format.FieldIfindex, func() { p.Ifindex = e.Ifindex })
	set(format.FieldLen, func() { p.Len = e.Len })
	set(format.FieldMTU, func() { p.MTU = e.MTU })
	set(format.FieldProtocol, func() { p.Protocol = e.Protocol })
	set(format.FieldPktType, func() { p.PktType = e.PktType })
	set(format.FieldFlags, func() { p.Flags = e.Flags })
	set(format.FieldDropReason, func() { p.DropReason = e.DropReason })
	set(format.FieldRetval, func() { p.Retval = e.Retval })
	set(format.FieldTuple, func() { p.Tuple = e.Tuple })
	set(format.FieldStack, func() { p.StackID = e.StackID })
	set(format.FieldPayload, func() { p.PayloadID = e.PayloadID })
	set(format.FieldBlobs, func() { p.Blobs = e.Blobs })
	return p
}

// readShared collects the events of a NextShared walk (copied).
func readShared(tb testing.TB, f *format.File, opts *format.IterOptions) []format.Event {
	tb.Helper()
	var out []format.Event
	it := f.Events(opts)
	for e := it.NextShared(); e != nil; e = it.NextShared() {
		out = append(out, *e)
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestProjection checks that a projected iteration returns exactly the
// full events with the other fields zeroed, through Next and NextShared,
// with overlapping chunks (merge) and time bounds.
func TestProjection(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 21, SKBs: 120, PayloadPercent: 30, StackPercent: 30, BlobPercent: 30})
	f := mustOpen(t, writeStream(t, s, &format.WriterOptions{ChunkEvents: 500, FlushInterval: -1}), nil)
	all := s.SortedEvents()
	sum := f.Summary()
	mid := sum.FirstTime + (sum.LastTime-sum.FirstTime)/2
	tests := []struct {
		name   string
		fields format.Fields
	}{
		{"zero is all", 0},
		{"all", format.AllFields},
		{"no known field", 1 << 31},
		{"stats", format.FieldTrackID | format.FieldFlags | format.FieldDropReason | format.FieldTuple | format.FieldNetns | format.FieldIfindex},
		{"caller", format.FieldCaller},
		{"len and comm", format.FieldLen | format.FieldComm},
		{"tuple and blobs", format.FieldTuple | format.FieldBlobs},
		{"all but caller", format.AllFields &^ format.FieldCaller},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tt.fields
			if fs == 0 {
				fs = format.AllFields
			}
			var want, wantMid []format.Event
			for _, e := range all {
				p := project(e, fs&format.AllFields)
				want = append(want, p)
				if e.Time >= mid {
					wantMid = append(wantMid, p)
				}
			}
			for _, shared := range []bool{false, true} {
				read := readEvents
				if shared {
					read = readShared
				}
				if diff := diffEvents(want, read(t, f, &format.IterOptions{Fields: tt.fields})); diff != "" {
					t.Errorf("shared=%v (-want +got):\n%s", shared, diff)
				}
				if diff := diffEvents(wantMid, read(t, f, &format.IterOptions{Since: mid, Fields: tt.fields})); diff != "" {
					t.Errorf("shared=%v since=mid (-want +got):\n%s", shared, diff)
				}
			}
		})
	}
}

// TestIteratorReuse interleaves iterators of one File, finished and not,
// so that pooled decoding buffers are handed from one to the next, and
// checks every one reads the capture intact.
func TestIteratorReuse(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 22, SKBs: 200, PayloadPercent: 20})
	f := mustOpen(t, writeStream(t, s, &format.WriterOptions{ChunkEvents: 256, FlushInterval: -1}), nil)
	want := s.SortedEvents()
	sum := f.Summary()
	// An iterator stopped by Until releases its buffers early.
	cut := readEvents(t, f, &format.IterOptions{Until: sum.FirstTime + (sum.LastTime-sum.FirstTime)/3})
	if len(cut) == 0 || len(cut) >= len(want) {
		t.Fatalf("until cut read %d of %d events", len(cut), len(want))
	}
	a, b := f.Events(nil), f.Events(&format.IterOptions{Fields: format.FieldCaller})
	var ea, eb format.Event
	var gotA, gotB []format.Event
	for {
		okA, okB := a.Next(&ea), b.Next(&eb)
		if okA {
			gotA = append(gotA, ea)
		}
		if okB {
			gotB = append(gotB, eb)
		}
		if !okA && !okB {
			break
		}
	}
	if a.Err() != nil || b.Err() != nil {
		t.Fatal(a.Err(), b.Err())
	}
	if diff := diffEvents(want, gotA); diff != "" {
		t.Errorf("full iterator (-want +got):\n%s", diff)
	}
	var wantB []format.Event
	for _, e := range want {
		wantB = append(wantB, project(e, format.FieldCaller))
	}
	if diff := diffEvents(wantB, gotB); diff != "" {
		t.Errorf("projected iterator (-want +got):\n%s", diff)
	}
	for i := range 3 {
		if diff := diffEvents(want, readShared(t, f, nil)); diff != "" {
			t.Errorf("pass %d after reuse (-want +got):\n%s", i, diff)
		}
	}
}

// checkProjection (for the fuzzer) walks f fully and projected: when the
// full walk succeeds, the projected one must return the same events with
// the other fields zeroed and succeed too (it decodes less, so it may
// succeed where the full one fails or skips a chunk, never the reverse).
func checkProjection(t *testing.T, f *format.File) {
	const fs = format.FieldTrackID | format.FieldFlags | format.FieldTuple | format.FieldBlobs
	var full []format.Event
	it := f.Events(nil)
	var e format.Event
	for it.Next(&e) {
		full = append(full, project(e, fs))
	}
	if it.Err() != nil || it.Skipped() > 0 {
		return
	}
	var got []format.Event
	pit := f.Events(&format.IterOptions{Fields: fs})
	for p := pit.NextShared(); p != nil; p = pit.NextShared() {
		got = append(got, *p)
	}
	if err := pit.Err(); err != nil {
		t.Fatalf("projected walk failed where the full one did not: %v", err)
	}
	if diff := diffEvents(full, got); diff != "" {
		t.Fatalf("projected walk differs (-full +projected):\n%s", diff)
	}
}
