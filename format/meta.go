package format

import (
	"fmt"
	"maps"
	"slices"
)

// This file encodes the small sections: header, probes, interfaces,
// losses, BTF, stacks, blobs and the trailer. Records inside lists are
// length-prefixed so that a newer minor version can append fields that
// older readers skip.

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func appendProbes(b []byte, ps []Probe) []byte {
	b = appendUvarint(b, uint64(len(ps)))
	var r []byte
	for i := range ps {
		p := &ps[i]
		r = appendUvarint(r[:0], uint64(p.ID))
		r = appendString(r, p.Name)
		r = appendString(r, p.Module)
		r = appendUvarint(r, p.Addr)
		r = append(r, byte(p.Kind), p.SKBArg)
		r = appendUvarint(r, uint64(p.ProgID))
		r = appendString(r, p.Error)
		b = appendBytes(b, r)
	}
	return b
}

func decodeProbes(p []byte, intern func([]byte) string) ([]Probe, error) {
	d := decoder{b: p}
	n := d.count(1)
	ps := make([]Probe, 0, n)
	for range n {
		r := decoder{b: d.lenBytes()}
		ps = append(ps, Probe{
			ID:     r.u32v(),
			Name:   intern(r.lenBytes()),
			Module: intern(r.lenBytes()),
			Addr:   r.uvarint(),
			Kind:   ProbeKind(r.u8()),
			SKBArg: r.u8(),
			ProgID: r.u32v(),
			Error:  r.str(),
		})
		if r.err != nil {
			return nil, corruptf("probe record %d: %v", len(ps)-1, r.err)
		}
	}
	if d.err != nil {
		return nil, asCorrupt(d.err)
	}
	return ps, nil
}

func appendInterfaces(b []byte, ifs []Interface, ns []Netns) []byte {
	var r []byte
	b = appendUvarint(b, uint64(len(ns)))
	for _, n := range ns {
		r = appendUvarint(r[:0], uint64(n.Inode))
		r = appendString(r, n.Name)
		b = appendBytes(b, r)
	}
	b = appendUvarint(b, uint64(len(ifs)))
	for i := range ifs {
		f := &ifs[i]
		r = appendUvarint(r[:0], uint64(f.Netns))
		r = appendUvarint(r, uint64(f.Ifindex))
		r = appendString(r, f.Name)
		r = appendBytes(r, f.MAC)
		r = appendUvarint(r, uint64(f.MTU))
		r = appendString(r, f.Kind)
		r = appendUvarint(r, f.Seen)
		b = appendBytes(b, r)
	}
	return b
}

func decodeInterfaces(p []byte) ([]Interface, []Netns, error) {
	d := decoder{b: p}
	nn := d.count(1)
	ns := make([]Netns, 0, nn)
	for range nn {
		r := decoder{b: d.lenBytes()}
		ns = append(ns, Netns{Inode: r.u32v(), Name: r.str()})
		if r.err != nil {
			return nil, nil, corruptf("netns record %d: %v", len(ns)-1, r.err)
		}
	}
	ni := d.count(1)
	ifs := make([]Interface, 0, ni)
	for range ni {
		r := decoder{b: d.lenBytes()}
		f := Interface{Netns: r.u32v(), Ifindex: r.u32v(), Name: r.str()}
		if mac := r.lenBytes(); len(mac) > 0 {
			f.MAC = slices.Clone(mac)
		}
		f.MTU = r.u32v()
		f.Kind = r.str()
		f.Seen = r.uvarint()
		if r.err != nil {
			return nil, nil, corruptf("interface record %d: %v", len(ifs), r.err)
		}
		ifs = append(ifs, f)
	}
	if d.err != nil {
		return nil, nil, asCorrupt(d.err)
	}
	return ifs, ns, nil
}

func appendLosses(b []byte, l *Losses) []byte {
	b = appendUvarint(b, uint64(len(l.RingbufLost)))
	for _, v := range l.RingbufLost {
		b = appendUvarint(b, v)
	}
	b = appendUvarint(b, uint64(l.ProbesFailed))
	b = appendUvarint(b, uint64(len(l.Other)))
	for _, k := range sortedKeys(l.Other) {
		b = appendString(b, k)
		b = appendUvarint(b, l.Other[k])
	}
	return b
}

func decodeLosses(p []byte) (Losses, error) {
	d := decoder{b: p}
	var l Losses
	if n := d.count(1); n > 0 {
		l.RingbufLost = make([]uint64, n)
		for i := range l.RingbufLost {
			l.RingbufLost[i] = d.uvarint()
		}
	}
	l.ProbesFailed = d.u32v()
	if n := d.count(2); n > 0 {
		l.Other = make(map[string]uint64, n)
		for range n {
			k := d.str()
			l.Other[k] = d.uvarint()
		}
	}
	if d.err != nil {
		return Losses{}, asCorrupt(d.err)
	}
	return l, nil
}

func appendBTF(b []byte, module string, raw []byte) []byte {
	b = appendString(b, module)
	return append(b, raw...)
}

func decodeBTF(p []byte) (module string, raw []byte, err error) {
	d := decoder{b: p}
	module = d.str()
	if d.err != nil {
		return "", nil, asCorrupt(d.err)
	}
	return module, d.b[d.off:], nil
}

// appendStack encodes one stack: count, then each address as the zigzag
// delta from the previous one (the first from 0).
func appendStack(b []byte, ips []uint64) []byte {
	b = appendUvarint(b, uint64(len(ips)))
	var prev uint64
	for _, ip := range ips {
		b = appendVarint(b, int64(ip-prev))
		prev = ip
	}
	return b
}

// decodeStacks splits a stacks payload into count stacks.
func decodeStacks(p []byte, count int) ([][]uint64, error) {
	d := decoder{b: p}
	if count > len(p) {
		return nil, corruptf("stack count %d exceeds payload of %d bytes", count, len(p))
	}
	out := make([][]uint64, 0, count)
	for range count {
		n := d.count(1)
		ips := make([]uint64, n)
		var prev uint64
		for i := range ips {
			prev += uint64(d.varint())
			ips[i] = prev
		}
		if d.err != nil {
			return nil, corruptf("stack %d: %v", len(out), d.err)
		}
		out = append(out, ips)
	}
	return out, nil
}

type blob struct {
	kind int
	data []byte
}

func appendBlob(b []byte, kind int, data []byte) []byte {
	b = appendUvarint(b, uint64(kind))
	return appendBytes(b, data)
}

func decodeBlobs(p []byte, count int) ([]blob, error) {
	d := decoder{b: p}
	if count > len(p) {
		return nil, corruptf("blob count %d exceeds payload of %d bytes", count, len(p))
	}
	out := make([]blob, 0, count)
	for range count {
		k := d.uvarint()
		data := d.lenBytes()
		if d.err != nil {
			return nil, corruptf("blob %d: %v", len(out), d.err)
		}
		if k >= NumBlobKinds {
			return nil, corruptf("blob %d: unknown kind %d", len(out), k)
		}
		out = append(out, blob{kind: int(k), data: data})
	}
	return out, nil
}

// trailer is the index written at the end of a complete file.
type trailer struct {
	sections []SectionInfo
	offset   int64 // of the trailer section (when read)
}

func appendTrailer(b []byte, t *trailer) []byte {
	b = appendUvarint(b, uint64(len(t.sections)))
	var prev int64
	for i := range t.sections {
		s := &t.sections[i]
		b = append(b, byte(s.Type))
		b = appendUvarint(b, uint64(s.Offset-prev))
		prev = s.Offset
		b = appendUvarint(b, uint64(s.Size))
		b = appendUvarint(b, uint64(s.RawSize))
		b = appendUvarint(b, s.First)
		b = appendUvarint(b, s.Last)
		b = appendUvarint(b, uint64(s.Count))
	}
	return b
}

func decodeTrailer(p []byte, fileSize int64) (*trailer, error) {
	d := decoder{b: p}
	n := d.count(7)
	t := &trailer{sections: make([]SectionInfo, 0, n)}
	var prev int64
	for range n {
		s := SectionInfo{Type: SectionType(d.u8())}
		off := d.uvarint()
		s.Size = int64(d.uvarint())
		s.RawSize = int64(d.uvarint())
		s.First = d.uvarint()
		s.Last = d.uvarint()
		s.Count = int(d.u32v())
		if d.err != nil {
			return nil, asCorrupt(d.err)
		}
		if off > uint64(fileSize) || s.Size < sectionHeaderSize || s.Size > fileSize || s.RawSize > maxSectionRaw {
			return nil, corruptf("index entry %d out of range", len(t.sections))
		}
		s.Offset = prev + int64(off)
		if s.Offset < preambleSize || s.Offset+s.Size > fileSize {
			return nil, corruptf("index entry %d at offset %d beyond end of file", len(t.sections), s.Offset)
		}
		if len(t.sections) > 0 && s.Offset < prev+t.sections[len(t.sections)-1].Size {
			return nil, corruptf("index entry %d overlaps the previous one", len(t.sections))
		}
		prev = s.Offset
		t.sections = append(t.sections, s)
	}
	if d.err != nil {
		return nil, asCorrupt(d.err)
	}
	return t, nil
}

// SectionInfo describes one section of a capture, as listed by
// [File.Sections].
type SectionInfo struct {
	Type    SectionType
	Offset  int64 // file offset of the section header
	Size    int64 // bytes in the file, header included
	RawSize int64 // payload bytes after decompression
	// First and Last are the time range of an events section, the first
	// ID of a stacks, blobs or packets section (Last unused), 0 otherwise.
	First, Last uint64
	// Count is the number of events, stacks, blobs, packets, probes or
	// interfaces in the section.
	Count int
}

// String renders the section for listings.
func (s SectionInfo) String() string {
	return fmt.Sprintf("%-10s offset %d size %d raw %d count %d", s.Type, s.Offset, s.Size, s.RawSize, s.Count)
}
