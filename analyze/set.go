package analyze

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pwru-record/pwru-record/format"
)

// ErrNotOneRecording is wrapped by [MergeSet] errors about files that do
// not come from one recording (another host, boot or kernel).
var ErrNotOneRecording = errors.New("files are not from one recording")

// MergeSet writes the captures files (the files of a rotated recording,
// in any order) to w as one capture: the header and snapshots of the
// earliest file, every file's events in time order with their payloads,
// stacks and blobs (each resolved against its own file), the interfaces
// of all of them, and their losses added up. An skb whose life crosses a
// file boundary is then one journey. The files must come from one boot of
// one host; files is not modified.
func MergeSet(w io.Writer, files []*format.File) (format.WriterStats, error) {
	if len(files) == 0 {
		return format.WriterStats{}, errors.New("merge captures: no files")
	}
	fs := slices.Clone(files)
	slices.SortStableFunc(fs, func(a, b *format.File) int {
		return cmp.Or(a.Header().Start.Compare(b.Header().Start), cmp.Compare(a.Summary().FirstTime, b.Summary().FirstTime))
	})
	h0 := fs[0].Header()
	for i, f := range fs[1:] {
		h := f.Header()
		if h.BootID != h0.BootID || h.Hostname != h0.Hostname || h.Uname.Release != h0.Uname.Release || h.MonoOffset != h0.MonoOffset {
			return format.WriterStats{}, fmt.Errorf("merge captures: file %d (host %s, boot %s) and the first (host %s, boot %s): %w", i+2, h.Hostname, h.BootID, h0.Hostname, h0.BootID, ErrNotOneRecording)
		}
	}
	out, err := format.NewWriter(w, h0, nil)
	if err != nil {
		return format.WriterStats{}, fmt.Errorf("merge captures: %w", err)
	}
	if err := copySnapshots(out, fs); err != nil {
		return out.Stats(), err
	}
	if err := mergeEvents(out, fs); err != nil {
		return out.Stats(), err
	}
	l := sumLosses(fs)
	if err := out.SetLosses(&l); err != nil {
		return out.Stats(), fmt.Errorf("merge captures: %w", err)
	}
	if err := out.Close(); err != nil {
		return out.Stats(), fmt.Errorf("merge captures: %w", err)
	}
	return out.Stats(), nil
}

// copySnapshots stores the BTF, kallsyms and probes of the first file and
// the interfaces of all.
func copySnapshots(w *format.Writer, fs []*format.File) error {
	// The first file's kallsyms and BTF as they are stored: checked, not
	// decompressed and compressed again.
	if err := w.CopySections(fs[0], format.SectionKallsyms, format.SectionBTF); err != nil {
		return fmt.Errorf("merge captures: %w", err)
	}
	seenIf := map[ifSeen]bool{}
	seenNs := map[uint32]bool{}
	for _, f := range fs {
		var ifs []format.Interface
		var nss []format.Netns
		for _, i := range f.Interfaces() {
			if k := (ifSeen{i.Netns, i.Ifindex, i.Name}); !seenIf[k] {
				seenIf[k] = true
				ifs = append(ifs, i)
			}
		}
		for _, n := range f.Netns() {
			if !seenNs[n.Inode] {
				seenNs[n.Inode] = true
				nss = append(nss, n)
			}
		}
		if len(ifs) > 0 || len(nss) > 0 {
			if err := w.AddInterfaces(ifs, nss); err != nil {
				return fmt.Errorf("merge captures: interfaces: %w", err)
			}
		}
	}
	if p := fs[0].Probes(); len(p) > 0 {
		if err := w.AddProbes(p); err != nil {
			return fmt.Errorf("merge captures: probes: %w", err)
		}
	}
	return nil
}

type ifSeen struct {
	netns, ifindex uint32
	name           string
}

// setSource is one file's event stream in the merge, with its id maps
// (file id -> merged id).
type setSource struct {
	f       *format.File
	it      *format.EventIter
	ev      format.Event
	file    int
	packets map[uint32]uint32
	stacks  map[uint32]uint32
	blobs   map[uint32]uint32
}

type sourceHeap []*setSource

func (h sourceHeap) Len() int { return len(h) }
func (h sourceHeap) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(h[i].ev.Time, h[j].ev.Time), cmp.Compare(h[i].file, h[j].file)) < 0
}
func (h sourceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)   { *h = append(*h, x.(*setSource)) }
func (h *sourceHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

// mergeEvents writes the events of every file in time order.
func mergeEvents(w *format.Writer, fs []*format.File) error {
	var h sourceHeap
	for i, f := range fs {
		s := &setSource{f: f, it: f.Events(nil), file: i + 1,
			packets: map[uint32]uint32{}, stacks: map[uint32]uint32{}, blobs: map[uint32]uint32{}}
		if s.it.Next(&s.ev) {
			h = append(h, s)
		} else if err := s.it.Err(); err != nil {
			return fmt.Errorf("merge captures: file %d: %w", i+1, err)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		s := h[0]
		e := s.ev
		if err := s.remap(w, &e); err != nil {
			return fmt.Errorf("merge captures: file %d: %w", s.file, err)
		}
		if err := w.WriteEvent(&e); err != nil {
			return fmt.Errorf("merge captures: %w", err)
		}
		if s.it.Next(&s.ev) {
			heap.Fix(&h, 0)
			continue
		}
		if err := s.it.Err(); err != nil {
			return fmt.Errorf("merge captures: file %d: %w", s.file, err)
		}
		heap.Pop(&h)
	}
	return nil
}

// remap stores e's payload, stack and blobs in w and points e at them.
func (s *setSource) remap(w *format.Writer, e *format.Event) error {
	if id := e.PayloadID; id != 0 {
		nid, ok := s.packets[id]
		if !ok {
			p, err := s.f.Packet(id)
			if err != nil {
				return err
			}
			if nid, err = w.AddPacket(p); err != nil {
				return err
			}
			s.packets[id] = nid
		}
		e.PayloadID = nid
	}
	if id := e.StackID; id != 0 {
		nid, ok := s.stacks[id]
		if !ok {
			ips, err := s.f.Stack(id)
			if err != nil {
				return err
			}
			if nid, err = w.AddStack(ips); err != nil {
				return err
			}
			s.stacks[id] = nid
		}
		e.StackID = nid
	}
	for k, id := range e.Blobs {
		if id == 0 {
			continue
		}
		nid, ok := s.blobs[id]
		if !ok {
			kind, data, err := s.f.Blob(id)
			if err != nil {
				return err
			}
			if nid, err = w.AddBlob(kind, data); err != nil {
				return err
			}
			s.blobs[id] = nid
		}
		e.Blobs[k] = nid
	}
	return nil
}

// sumLosses adds up the files' losses (each file of a rotated recording
// counts its own share).
func sumLosses(fs []*format.File) format.Losses {
	l := format.Losses{Other: map[string]uint64{}}
	for _, f := range fs {
		fl := f.Losses()
		for i, v := range fl.RingbufLost {
			if i >= len(l.RingbufLost) {
				l.RingbufLost = append(l.RingbufLost, 0)
			}
			l.RingbufLost[i] += v
		}
		l.ProbesFailed = max(l.ProbesFailed, fl.ProbesFailed)
		for k, v := range fl.Other {
			l.Other[k] += v
		}
	}
	return l
}
