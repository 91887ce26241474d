package fakecapture

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/pwru-record/pwru-record/format"
)

// This file holds a generated stream and how it is written.

// Stream is a generated capture: everything a recorder would hand to a
// [format.Writer]. Events are in arrival order (slightly out of time order
// across CPUs, as a ring buffer delivers them); every event time is
// distinct. IDs in events are the ones a fresh Writer assigns when the
// stream is written with [WriteStream].
type Stream struct {
	Header     format.Header
	BTF        []byte // raw vmlinux BTF with enum skb_drop_reason and struct sk_buff
	Symbols    []format.Symbol
	Probes     []format.Probe
	Interfaces []format.Interface
	Netns      []format.Netns
	Events     []format.Event
	Stacks     [][]uint64      // Stacks[i] has ID i+1
	Packets    []format.Packet // Packets[i] has ID i+1
	Blobs      []Blob          // Blobs[i] has ID i+1
	Losses     format.Losses
	// attach[i] lists what must be added just before Events[i].
	attach [][]ref
}

// Blob is raw bytes of a format.Blob* kind.
type Blob struct {
	Kind int
	Data []byte
}

type refKind uint8

const (
	refStack refKind = iota
	refPacket
	refBlob
)

type ref struct {
	kind refKind
	idx  int
}

// renumber assigns stack, packet and blob IDs in the order of first
// reference in arrival order (the order a Writer assigns them) and sets
// packet times to their first event.
func (s *Stream) renumber() {
	var stackMap, pktMap, blobMap = map[int]int{}, map[int]int{}, map[int]int{}
	var stacks [][]uint64
	var pkts []format.Packet
	var blobs []Blob
	for i := range s.Events {
		for j, r := range s.attach[i] {
			switch r.kind {
			case refStack:
				if _, ok := stackMap[r.idx]; !ok {
					stackMap[r.idx] = len(stacks)
					stacks = append(stacks, s.Stacks[r.idx])
				}
				s.attach[i][j].idx = stackMap[r.idx]
			case refPacket:
				if _, ok := pktMap[r.idx]; !ok {
					pktMap[r.idx] = len(pkts)
					p := s.Packets[r.idx]
					p.Time = s.Events[i].Time
					pkts = append(pkts, p)
				}
				s.attach[i][j].idx = pktMap[r.idx]
			case refBlob:
				if _, ok := blobMap[r.idx]; !ok {
					blobMap[r.idx] = len(blobs)
					blobs = append(blobs, s.Blobs[r.idx])
				}
				s.attach[i][j].idx = blobMap[r.idx]
			}
		}
	}
	remap := func(id uint32, m map[int]int) uint32 {
		if id == 0 {
			return 0
		}
		return uint32(m[int(id-1)] + 1)
	}
	for i := range s.Events {
		e := &s.Events[i]
		e.StackID = remap(e.StackID, stackMap)
		e.PayloadID = remap(e.PayloadID, pktMap)
		for k := range e.Blobs {
			e.Blobs[k] = remap(e.Blobs[k], blobMap)
		}
	}
	s.Stacks, s.Packets, s.Blobs = stacks, pkts, blobs
}

// WriteStream writes the whole stream to w (metadata first, then events with the
// stacks, packets and blobs each first needs) and sets the losses. It
// does not close w. It fails if w assigns an ID the stream did not expect.
func WriteStream(w *format.Writer, s *Stream) error {
	if err := w.AddBTF("", s.BTF); err != nil {
		return err
	}
	if err := w.AddKallsyms(s.Symbols); err != nil {
		return err
	}
	if err := w.AddProbes(s.Probes); err != nil {
		return err
	}
	if err := w.AddInterfaces(s.Interfaces, s.Netns); err != nil {
		return err
	}
	for i := range s.Events {
		for _, r := range s.attach[i] {
			var id uint32
			var err error
			switch r.kind {
			case refStack:
				id, err = w.AddStack(s.Stacks[r.idx])
			case refPacket:
				id, err = w.AddPacket(&s.Packets[r.idx])
			case refBlob:
				id, err = w.AddBlob(s.Blobs[r.idx].Kind, s.Blobs[r.idx].Data)
			}
			if err != nil {
				return err
			}
			if id != uint32(r.idx+1) {
				return fmt.Errorf("write synthetic stream: writer assigned id %d, want %d", id, r.idx+1)
			}
		}
		if err := w.WriteEvent(&s.Events[i]); err != nil {
			return err
		}
	}
	return w.SetLosses(&s.Losses)
}

// WriteFile writes s as a complete capture file at path (created or
// truncated; opts as for [format.NewWriter]).
func WriteFile(path string, s *Stream, opts *format.WriterOptions) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write synthetic capture: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w, err := format.NewWriter(f, &s.Header, opts)
	if err != nil {
		return fmt.Errorf("write synthetic capture %s: %w", path, err)
	}
	if err := WriteStream(w, s); err != nil {
		return fmt.Errorf("write synthetic capture %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write synthetic capture %s: %w", path, err)
	}
	return nil
}

// SortedEvents returns a copy of the events in time order, the order a
// reader returns them in.
func (s *Stream) SortedEvents() []format.Event {
	ev := slices.Clone(s.Events)
	slices.SortStableFunc(ev, func(a, b format.Event) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	return ev
}
