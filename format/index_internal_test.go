package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"testing"
)

// rewriteIndex returns the real capture path with its trailer index
// changed by edit and rewritten with valid checksums.
func rewriteIndex(t *testing.T, path string, edit func([]SectionInfo)) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(binary.LittleEndian.Uint64(b[len(b)-footerSize:]))
	f, err := NewFile(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	secs := f.Sections()
	f.Close()
	edit(secs)
	p := appendTrailer(nil, &trailer{sections: secs})
	out := append([]byte(nil), b[:off]...)
	out = append(out, rawSection(SectionTrailer, 0, uint32(len(p)), uint32(len(secs)), p)...)
	out = binary.LittleEndian.AppendUint64(out, uint64(off))
	return append(out, footerMagic[:]...)
}

// events returns the number of events f's iterator reads.
func countEvents(t *testing.T, f *File) (n uint64, first, last uint64) {
	t.Helper()
	it := f.Events(nil)
	for e := it.NextShared(); e != nil; e = it.NextShared() {
		if n == 0 {
			first = e.Time
		}
		last = e.Time
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n, first, last
}

// TestIndexCrossChecked: counts and times shown from the trailer index
// are those of the sections. An index that disagrees with a section
// header (valid checksum, lying count or time) is set aside for the
// headers, with a problem saying so; it used to show 4294967295 events
// while 196 were read, and a negative duration.
func TestIndexCrossChecked(t *testing.T) {
	const path = "../testdata/vm/drop-6.1.pwru"
	tests := []struct {
		name string
		edit func(s *SectionInfo)
	}{
		{"count", func(s *SectionInfo) { s.Count = 0xffffffff }},
		{"first-time", func(s *SectionInfo) { s.First = s.Last + 194e9 }},
		{"last-time", func(s *SectionInfo) { s.Last = s.First - 1 }},
		{"raw-size", func(s *SectionInfo) { s.RawSize++ }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rewriteIndex(t, path, func(secs []SectionInfo) {
				for i := range secs {
					if secs[i].Type == SectionEvents {
						tt.edit(&secs[i])
					}
				}
			})
			f, err := NewFile(bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum := f.Summary()
			n, first, last := countEvents(t, f)
			if sum.Events != n || sum.Events != 196 || sum.FirstTime != first || sum.LastTime != last {
				t.Errorf("summary %d events %d..%d, read %d events %d..%d", sum.Events, sum.FirstTime, sum.LastTime, n, first, last)
			}
			if p := f.Problems(); len(p) != 1 || !errors.Is(p[0], ErrCorrupt) {
				t.Errorf("problems %v, want one about the index", p)
			}
		})
	}
}

// TestHeaderTimesChecked: an events section header (valid checksum)
// whose times are reversed, or that do not match its events, is corrupt.
func TestHeaderTimesChecked(t *testing.T) {
	ev := []Event{{Time: 100, SKB: 1, ProbeID: 1}, {Time: 150, SKB: 1, ProbeID: 2}}
	raw := newChunkEncoder().encode(ev, []int32{0, 1}, 100)
	hp := appendHeader(nil, &Header{})
	header := rawSection(SectionHeader, 0, uint32(len(hp)), 0, hp)
	tests := []struct {
		name        string
		first, last uint64
	}{
		{"reversed", 150, 100},
		{"short", 100, 149},
		{"long", 100, 151},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sectionHeader{Type: SectionEvents, Stored: uint32(len(raw)), Raw: uint32(len(raw)), A: tt.first, B: tt.last,
				Count: 2, CRC: crc32.Checksum(raw, castagnoli)}
			file := slicesConcat(appendPreamble(nil, 0), header, append(h.marshal(nil), raw...))
			err := readAll(file)
			var se *SectionError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &se) || se.Type != SectionEvents {
				t.Errorf("got %v, want ErrCorrupt in the events section", err)
			}
		})
	}
}
