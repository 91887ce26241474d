package analyze

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// setFile is one file of a test recording: its events as (time, skb,
// payload byte or 0, stack frame or 0) and its ring buffer losses.
type setFile struct {
	events [][4]uint64
	lost   []uint64
	bootID string
}

func mustSetFile(tb testing.TB, start time.Time, sf setFile) *format.File {
	tb.Helper()
	var buf bytes.Buffer
	hdr := &format.Header{WriterVersion: "test", Hostname: "h", BootID: sf.bootID, Start: start}
	w, err := format.NewWriter(&buf, hdr, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(w.AddKallsyms([]format.Symbol{{Addr: 0xffffffff81000000, Name: "ip_rcv"}}))
	must(w.AddProbes([]format.Probe{{ID: 1, Name: "ip_rcv"}}))
	must(w.AddInterfaces([]format.Interface{{Netns: 1, Ifindex: 1, Name: "lo"}}, []format.Netns{{Inode: 1}}))
	// A first stack and payload nobody refers to: the ids of the files
	// differ, so a merge that does not remap them is caught.
	if _, err := w.AddStack([]uint64{uint64(len(sf.events))}); err != nil {
		tb.Fatal(err)
	}
	for _, ev := range sf.events {
		e := format.Event{Time: ev[0], SKB: ev[1], ProbeID: 1}
		if ev[2] != 0 {
			id, err := w.AddPacket(&format.Packet{Data: bytes.Repeat([]byte{byte(ev[2])}, 20), OrigLen: 20})
			must(err)
			e.PayloadID = id
		}
		if ev[3] != 0 {
			id, err := w.AddStack([]uint64{ev[3]})
			must(err)
			e.StackID = id
		}
		must(w.WriteEvent(&e))
	}
	must(w.SetLosses(&format.Losses{RingbufLost: sf.lost, Other: map[string]uint64{"stack_lost": 1}}))
	must(w.Close())
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	must(err)
	return f
}

func TestMergeSet(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	// The skb 0xa lives across the boundary of files 1 and 2; files are
	// given out of order.
	f1 := mustSetFile(t, t0, setFile{bootID: "b", lost: []uint64{1, 2},
		events: [][4]uint64{{100, 0xa, 7, 0x11}, {200, 0xb, 8, 0}, {300, 0xa, 0, 0x12}}})
	f2 := mustSetFile(t, t0.Add(time.Second), setFile{bootID: "b", lost: []uint64{0, 4},
		events: [][4]uint64{{400, 0xa, 9, 0x13}, {500, 0xb, 0, 0x11}}})
	f3 := mustSetFile(t, t0.Add(2*time.Second), setFile{bootID: "b", lost: []uint64{5},
		events: [][4]uint64{{600, 0xc, 3, 0}}})
	var buf bytes.Buffer
	if _, err := MergeSet(&buf, []*format.File{f3, f1, f2}); err != nil {
		t.Fatal(err)
	}
	m, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		time, skb uint64
		payload   byte
		frame     uint64
	}
	var evs []got
	it := m.Events(nil)
	var e format.Event
	for it.Next(&e) {
		g := got{time: e.Time, skb: e.SKB}
		if e.PayloadID != 0 {
			p, err := m.Packet(e.PayloadID)
			if err != nil {
				t.Fatal(err)
			}
			g.payload = p.Data[0]
		}
		if e.StackID != 0 {
			ips, err := m.Stack(e.StackID)
			if err != nil {
				t.Fatal(err)
			}
			g.frame = ips[0]
		}
		evs = append(evs, g)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	want := []got{{100, 0xa, 7, 0x11}, {200, 0xb, 8, 0}, {300, 0xa, 0, 0x12}, {400, 0xa, 9, 0x13}, {500, 0xb, 0, 0x11}, {600, 0xc, 3, 0}}
	if !slices.Equal(evs, want) {
		t.Errorf("merged events\n got %v\nwant %v", evs, want)
	}
	l := m.Losses()
	if !slices.Equal(l.RingbufLost, []uint64{6, 6}) || l.Other["stack_lost"] != 3 {
		t.Errorf("merged losses %+v, want ring buffer [6 6], stack_lost 3", l)
	}
	if len(m.Probes()) != 1 || len(m.Interfaces()) != 1 {
		t.Errorf("merged %d probes, %d interfaces; want 1, 1", len(m.Probes()), len(m.Interfaces()))
	}
	if !m.Header().Start.Equal(t0) {
		t.Errorf("merged header start %v, want the earliest file's %v", m.Header().Start, t0)
	}
}

func TestMergeSetRefusesOtherBoot(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	f1 := mustSetFile(t, t0, setFile{bootID: "b1", events: [][4]uint64{{1, 1, 0, 0}}})
	f2 := mustSetFile(t, t0, setFile{bootID: "b2", events: [][4]uint64{{2, 1, 0, 0}}})
	var buf bytes.Buffer
	if _, err := MergeSet(&buf, []*format.File{f1, f2}); !errors.Is(err, ErrNotOneRecording) {
		t.Errorf("merge of two boots: %v, want ErrNotOneRecording", err)
	}
}

// TestInfoFlightRecorder: info shows where a flight recorder capture came
// from, and the header keys are not listed as options.
func TestInfoFlightRecorder(t *testing.T) {
	var buf bytes.Buffer
	hdr := &format.Header{WriterVersion: "test", Options: map[string]string{
		"snaplen": "96", FlightWindow: "5m0s", FlightTrigger: "drop-NETFILTER_DROP",
		FlightTriggerTime: "2026-12-02T04:00:00Z", FlightAfter: "5s"}}
	w, err := format.NewWriter(&buf, hdr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetLosses(&format.Losses{Other: map[string]uint64{"flight_window_evicted": 1234}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Info(&out, NewCapture(f), nil); err != nil {
		t.Fatal(err)
	}
	want := "window 5m0s, trigger drop-NETFILTER_DROP at 2026-12-02T04:00:00Z, then 5s; 1234 events of the window let go of before the trigger"
	if !bytes.Contains(out.Bytes(), []byte(want)) {
		t.Errorf("info does not say %q:\n%s", want, out.String())
	}
	if used, _ := UsedOptions(f.Header()); len(used) != 1 {
		t.Errorf("used options %v, want only --snaplen", used)
	}
}
