package format

import (
	"cmp"
	"fmt"
	"io"
	"slices"
)

// This file looks stacks, blobs and packets up by ID and exports the
// embedded pcapng stream.

// findID returns the section of secs (sorted by first ID) holding id.
func findID(secs []SectionInfo, id uint32) (SectionInfo, bool) {
	i, _ := slices.BinarySearchFunc(secs, uint64(id)+1, func(s SectionInfo, t uint64) int { return cmp.Compare(s.First, t) })
	if i == 0 {
		return SectionInfo{}, false
	}
	s := secs[i-1]
	if uint64(id) >= s.First+uint64(s.Count) {
		return SectionInfo{}, false
	}
	return s, true
}

// Stack returns the addresses of stack id. The slice is shared: do not
// modify it.
func (f *File) Stack(id uint32) ([]uint64, error) {
	s, ok := findID(f.stacks, id)
	if !ok {
		return nil, fmt.Errorf("read stack %d: %w", id, ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stackMemo.ok || f.stackMemo.off != s.Offset {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var st [][]uint64
			if st, err = decodeStacks(p, s.Count); err == nil {
				f.stackMemo = memo[[][]uint64]{off: s.Offset, val: st, ok: true}
			} else {
				err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("read stack %d: %w", id, err)
		}
	}
	return f.stackMemo.val[id-uint32(s.First)], nil
}

// Blob returns the kind and bytes of blob id. The bytes are shared: do
// not modify them.
func (f *File) Blob(id uint32) (kind int, data []byte, err error) {
	s, ok := findID(f.blobs, id)
	if !ok {
		return 0, nil, fmt.Errorf("read blob %d: %w", id, ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.blobMemo.ok || f.blobMemo.off != s.Offset {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var bl []blob
			if bl, err = decodeBlobs(p, s.Count); err == nil {
				f.blobMemo = memo[[]blob]{off: s.Offset, val: bl, ok: true}
			} else {
				err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
			}
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read blob %d: %w", id, err)
		}
	}
	b := f.blobMemo.val[id-uint32(s.First)]
	return b.kind, b.data, nil
}

// Packet returns payload id. The result is shared: do not modify it.
func (f *File) Packet(id uint32) (*Packet, error) {
	s, ok := findID(f.packets, id)
	if !ok {
		return nil, fmt.Errorf("read packet %d: %w", id, ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pktMemo.ok || f.pktMemo.off != s.Offset {
		pk, _, err := f.decodePackets(s)
		if err != nil {
			return nil, fmt.Errorf("read packet %d: %w", id, err)
		}
		f.pktMemo = memo[[]Packet]{off: s.Offset, val: pk, ok: true}
	}
	return &f.pktMemo.val[id-uint32(s.First)], nil
}

// decodePackets decodes a packets section into packets and returns the
// raw pcapng bytes too.
func (f *File) decodePackets(s SectionInfo) ([]Packet, []byte, error) {
	_, p, err := f.readSection(s, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) ([]Packet, []byte, error) {
		return nil, nil, &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
	}
	d := decoder{b: p}
	n := d.count(4)
	ifs := make(map[uint32]ifaceKey, n)
	for range n {
		id := d.u32v()
		k := ifaceKey{Netns: d.u32v(), Ifindex: d.u32v(), L3: d.uvarint() != 0}
		ifs[id] = k
	}
	if d.err != nil {
		return fail(asCorrupt(d.err))
	}
	ng := d.b[d.off:]
	blocks, _, err := parsePcapng(ng, nil)
	if err != nil {
		return fail(err)
	}
	if len(blocks) != s.Count {
		return fail(corruptf("%d packets, header says %d", len(blocks), s.Count))
	}
	out := make([]Packet, len(blocks))
	for i, b := range blocks {
		k, ok := ifs[b.iface]
		if !ok {
			return fail(corruptf("packet %d: unknown interface %d", i, b.iface))
		}
		out[i] = Packet{
			Time: b.ts - uint64(f.header.MonoOffset), Netns: k.Netns, Ifindex: k.Ifindex,
			OrigLen: b.origLen, L3: k.L3, Data: b.data,
		}
	}
	return out, ng, nil
}

// WritePcapng writes the stored payloads as a standalone pcapng file.
func (f *File) WritePcapng(w io.Writer) error {
	if len(f.packets) == 0 {
		if _, err := w.Write(appendSHB(nil, &f.header)); err != nil {
			return fmt.Errorf("write pcapng: %w", err)
		}
		return nil
	}
	for _, s := range f.packets {
		_, ng, err := f.decodePackets(s)
		if err != nil {
			return fmt.Errorf("write pcapng: %w", err)
		}
		if _, err := w.Write(ng); err != nil {
			return fmt.Errorf("write pcapng: %w", err)
		}
	}
	return nil
}
