package format

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
)

// This file reads one section: header check, CRCs, bounded
// decompression.

// readSection reads, checks and decompresses the section described by s.
// stored and raw are reusable buffers (may be nil); the returned payload
// may alias them.
func (f *File) readSection(s SectionInfo, stored, raw []byte) (sectionHeader, []byte, error) {
	h, stored, err := f.readStored(s, stored)
	if err != nil {
		return h, nil, err
	}
	p := stored[sectionHeaderSize:]
	if h.Flags&sectionZstd == 0 {
		return h, p, nil
	}
	out, err := f.decompress(p, raw, int(h.Raw))
	if err != nil {
		return h, nil, &SectionError{Type: h.Type, Offset: s.Offset, Err: corruptf("decompress: %v", err)}
	}
	if len(out) != int(h.Raw) {
		return h, nil, &SectionError{Type: h.Type, Offset: s.Offset, Err: corruptf("decompressed to %d bytes, header says %d", len(out), h.Raw)}
	}
	return h, out, nil
}

// readStored reads the section described by s as it is stored (its header
// and its payload, compressed or not) into stored (reused when large
// enough) and checks the header against s and the payload's checksum.
func (f *File) readStored(s SectionInfo, stored []byte) (sectionHeader, []byte, error) {
	var h sectionHeader
	fail := func(err error) (sectionHeader, []byte, error) {
		return h, nil, &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
	}
	if s.Size < sectionHeaderSize || s.Offset+s.Size > f.size {
		return fail(corruptf("section extends beyond end of file"))
	}
	if s.Type != 0 && max(s.Size-sectionHeaderSize, s.RawSize) > maxRaw(s.Type) {
		return fail(limitf("%d bytes (%d decompressed), over the %d MiB a %s section may have",
			s.Size-sectionHeaderSize, s.RawSize, maxRaw(s.Type)>>20, s.Type))
	}
	n := int(s.Size)
	if cap(stored) < n {
		stored = make([]byte, n)
	}
	stored = stored[:n]
	if _, err := f.r.ReadAt(stored, s.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF))
		}
		return fail(err)
	}
	if err := h.unmarshal(stored[:sectionHeaderSize]); err != nil {
		return fail(err)
	}
	if err := h.check(); err != nil {
		return fail(err)
	}
	if s.Type != 0 && h.Type != s.Type && s.Type != SectionTrailer {
		return fail(corruptf("section type %s, index says %s", h.Type, s.Type))
	}
	s.Type = h.Type
	if int64(h.Raw) > maxRaw(h.Type) {
		return fail(limitf("%d bytes decompressed, over the %d MiB a %s section may have", h.Raw, maxRaw(h.Type)>>20, h.Type))
	}
	if int64(h.Stored)+sectionHeaderSize != s.Size {
		return fail(corruptf("section length %d, index says %d", h.Stored, s.Size-sectionHeaderSize))
	}
	if got := crc32.Checksum(stored[sectionHeaderSize:], castagnoli); got != h.CRC {
		return fail(corruptf("payload checksum 0x%08x, want 0x%08x", got, h.CRC))
	}
	return h, stored, nil
}

// decompress decodes the zstd frames in p into raw (reused when large
// enough). It allocates for a plausible ratio first and for the declared
// size only when the block headers show that the frames can really
// produce that much, so that a few hostile bytes claiming a huge size
// cannot make it allocate that size.
func (f *File) decompress(p, raw []byte, want int) ([]byte, error) {
	first := min(want, max(256<<10, 32*len(p)))
	if cap(raw) < first {
		raw = make([]byte, 0, first)
	}
	out, err := f.dec.DecodeAll(p, raw[:0:max(first, min(cap(raw), want))])
	if !errors.Is(err, zstd.ErrDecoderSizeExceeded) || want <= first {
		return out, err
	}
	bound, err := zstdBound(p)
	if err != nil {
		return nil, err
	}
	if bound < uint64(want) {
		return nil, fmt.Errorf("frames produce at most %d bytes, header says %d", bound, want)
	}
	return f.dec.DecodeAll(p, make([]byte, 0, want))
}

// zstdBound returns an upper bound of what the zstd frames in p
// decompress to, from their block headers alone (RFC 8878 3.1.1.2): raw
// and RLE blocks state their size, a compressed block yields at most
// 128 KiB.
func zstdBound(p []byte) (uint64, error) {
	var total uint64
	for len(p) > 0 {
		var h zstd.Header
		if err := h.Decode(p); err != nil {
			return 0, fmt.Errorf("zstd frame header: %w", err)
		}
		if h.Skippable {
			return 0, errors.New("unexpected skippable zstd frame")
		}
		p = p[h.HeaderSize:]
		for last := false; !last; {
			if len(p) < 3 {
				return 0, errors.New("zstd block header cut short")
			}
			bh := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
			last = bh&1 != 0
			size := int(bh >> 3)
			p = p[3:]
			switch (bh >> 1) & 3 {
			case 0: // raw
				total += uint64(size)
			case 1: // RLE: one byte repeated size times
				total += uint64(size)
				size = 1
			case 2: // compressed
				total += 128 << 10
			default:
				return 0, errors.New("reserved zstd block type")
			}
			if size > len(p) {
				return 0, errors.New("zstd block cut short")
			}
			p = p[size:]
		}
		if h.HasCheckSum {
			if len(p) < 4 {
				return 0, errors.New("zstd checksum cut short")
			}
			p = p[4:]
		}
	}
	return total, nil
}
