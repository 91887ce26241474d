package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// This file indexes a capture's sections: from the trailer, or by
// scanning section headers when it is missing (a killed recorder), with
// resynchronisation past damage and the zero tail.

// readTrailer uses the footer and trailer of a complete file. It returns
// false when they are missing or invalid, and the file must be scanned.
func (f *File) readTrailer() bool {
	t, ok := f.trailerEndingAt(f.size)
	if !ok {
		return false
	}
	// The index is checked against every section header it lists (44
	// bytes each: time proportional to the sections, not the bytes), so
	// that the counts and times shown from it are those of the sections.
	// A header that does not even parse is left for when its section is
	// read (which then fails, or is skipped, on its own).
	var hb [sectionHeaderSize]byte
	for i, s := range t.sections {
		var h sectionHeader
		if _, err := f.r.ReadAt(hb[:], s.Offset); err != nil || h.unmarshal(hb[:]) != nil {
			continue
		}
		var err error
		if err = h.check(); err == nil && (h.Type != s.Type || int64(h.Stored)+sectionHeaderSize != s.Size || int64(h.Raw) != s.RawSize ||
			h.A != s.First || h.B != s.Last || int(h.Count) != s.Count) {
			err = corruptf("index entry %d (%s at offset %d) disagrees with the section header", i, s.Type, s.Offset)
		}
		if err != nil {
			f.problems = append(f.problems, &SectionError{Type: SectionTrailer, Offset: t.offset,
				Err: fmt.Errorf("%w; the sections were found by their headers", err)})
			return false
		}
	}
	f.sections = t.sections
	f.summary.Complete = true
	return true
}

// trailerEndingAt decodes the trailer whose footer ends at end.
func (f *File) trailerEndingAt(end int64) (*trailer, bool) {
	if end < preambleSize+sectionHeaderSize+footerSize || end > f.size {
		return nil, false
	}
	var foot [footerSize]byte
	if _, err := f.r.ReadAt(foot[:], end-footerSize); err != nil {
		return nil, false
	}
	if !bytes.Equal(foot[8:], footerMagic[:]) {
		return nil, false
	}
	off := binary.LittleEndian.Uint64(foot[:8])
	if off < preambleSize || off > uint64(end-footerSize-sectionHeaderSize) {
		return nil, false
	}
	info := SectionInfo{Type: SectionTrailer, Offset: int64(off), Size: end - footerSize - int64(off)}
	h, p, err := f.readSection(info, nil, nil)
	if err != nil || h.Type != SectionTrailer || int64(h.Stored)+sectionHeaderSize != info.Size {
		return nil, false
	}
	t, err := decodeTrailer(p, int64(off))
	if err != nil {
		return nil, false
	}
	t.offset = int64(off)
	return t, true
}

// scan walks the section headers from the start of the file.
func (f *File) scan() error {
	off := int64(preambleSize)
	var hb [sectionHeaderSize]byte
	for off < f.size {
		if f.size-off < sectionHeaderSize {
			f.truncate(off)
			return nil
		}
		if _, err := f.r.ReadAt(hb[:], off); err != nil {
			return fmt.Errorf("read section header at offset %d: %w", off, err)
		}
		var h sectionHeader
		if err := h.unmarshal(hb[:]); err != nil {
			if f.zeroTail(off) {
				f.truncate(off)
				f.summary.Trailing, f.summary.ZeroTail = f.size-off, true
				return nil
			}
			serr := &SectionError{Offset: off, Err: err}
			if !f.opts.SkipCorrupt {
				return serr
			}
			f.problems = append(f.problems, serr)
			f.summary.Skipped++
			next, ok := f.resync(off + 1)
			if !ok {
				f.truncate(off)
				return nil
			}
			off = next
			continue
		}
		end := off + sectionHeaderSize + int64(h.Stored)
		if end > f.size {
			f.truncate(off)
			return nil
		}
		if err := h.check(); err != nil {
			serr := &SectionError{Type: h.Type, Offset: off, Err: err}
			if !f.opts.SkipCorrupt {
				return serr
			}
			f.problems = append(f.problems, serr)
			f.summary.Skipped++
			off = end
			continue
		}
		if h.Type == SectionTrailer {
			// A trailer that readTrailer rejected. When its footer follows
			// it, the capture is complete and bytes were appended to it
			// (junk, or zeros from truncate -s); the sections are the ones
			// scanned, whose headers were all checked. Otherwise the file
			// was cut after it: what follows is not usable.
			if _, ok := f.trailerEndingAt(end + footerSize); ok {
				f.summary.Complete = true
				f.summary.Trailing = f.size - end - footerSize
				f.summary.ZeroTail = f.zeroTail(end + footerSize)
				return nil
			}
			f.truncate(off)
			return nil
		}
		f.sections = append(f.sections, SectionInfo{
			Type: h.Type, Offset: off, Size: end - off, RawSize: int64(h.Raw),
			First: h.A, Last: h.B, Count: int(h.Count),
		})
		off = end
	}
	f.truncate(off)
	return nil
}

// zeroTailProbe is how many zero bytes after the last section mark the
// end of a capture (SPEC.md "Reading an incomplete file").
const zeroTailProbe = 64 << 10

func (f *File) truncate(off int64) {
	f.summary.Truncated = true
	f.summary.TruncatedAt = off
}

// zeroTail reports whether the file holds zero bytes from off on (what a
// file system may leave after a crash, or truncate -s), looking at the
// first zeroTailProbe bytes only: opening costs time per section, not per
// byte, so a capture followed by gigabytes of zeros opens at once. What
// follows those zeros is not read (Summary.Trailing counts it).
func (f *File) zeroTail(off int64) bool {
	buf := make([]byte, 64<<10)
	end := min(f.size, off+zeroTailProbe)
	for off < end {
		n, err := f.r.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		if n == 0 || (err != nil && err != io.EOF) {
			return false
		}
		off += int64(n)
	}
	return true
}

// resync finds the next valid section header at or after off.
func (f *File) resync(off int64) (int64, bool) {
	var sync [4]byte
	binary.LittleEndian.PutUint32(sync[:], sectionSync)
	buf := make([]byte, 64<<10)
	for off+sectionHeaderSize <= f.size {
		n, err := f.r.ReadAt(buf, off)
		if n < sectionHeaderSize {
			return 0, false
		}
		for i := 0; i+sectionHeaderSize <= n; i++ {
			if buf[i] != sync[0] || !bytes.Equal(buf[i:i+4], sync[:]) {
				continue
			}
			var h sectionHeader
			if h.unmarshal(buf[i:i+sectionHeaderSize]) == nil {
				return off + int64(i), true
			}
		}
		if err != nil {
			return 0, false
		}
		off += int64(n - sectionHeaderSize + 1)
	}
	return 0, false
}
