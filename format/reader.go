package format

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/cilium/ebpf/btf"
	"github.com/klauspost/compress/zstd"
)

// ReaderOptions tune a [File]. The zero value (or nil) is strict.
type ReaderOptions struct {
	// SkipCorrupt makes the reader skip corrupt sections (and count them
	// in Summary.Skipped) instead of failing.
	SkipCorrupt bool
}

// Summary gives the totals of a capture.
type Summary struct {
	Events              uint64
	FirstTime, LastTime uint64 // kernel monotonic ns of the first and last event
	Packets             uint64
	Stacks              uint64
	Blobs               uint64
	Chunks              int
	// Complete: the file ends with a valid trailer (the writer was closed).
	Complete bool
	// Truncated: the file ends inside a section or without a trailer;
	// TruncatedAt is the offset of the first byte that could not be used.
	Truncated   bool
	TruncatedAt int64
	// Trailing counts the bytes after the end of the capture that were
	// not read: after the footer of a complete capture (junk appended to
	// it), or after TruncatedAt when they start with a run of zero bytes
	// (ZeroTail: what a file system may leave after a crash, or
	// truncate -s).
	Trailing int64
	ZeroTail bool
	// Skipped counts corrupt sections skipped (ReaderOptions.SkipCorrupt).
	Skipped int
	// Version is the file's format version as "major.minor".
	Version string
}

// File reads a capture. Its methods are safe for concurrent use; each
// [EventIter] belongs to one goroutine.
type File struct {
	r      io.ReaderAt
	size   int64
	closer io.Closer
	opts   ReaderOptions
	dec    *zstd.Decoder

	header   Header
	probes   []Probe
	probeIdx map[uint32]int
	ifaces   []Interface
	netns    []Netns
	losses   Losses
	sections []SectionInfo
	chunks   []SectionInfo // events sections sorted by (First, Offset)
	stacks   []SectionInfo // sorted by first ID
	blobs    []SectionInfo
	packets  []SectionInfo
	btfSecs  []SectionInfo
	lossSecs []SectionInfo
	syms     []SectionInfo
	summary  Summary
	problems []error

	mu        sync.Mutex // guards the caches below
	strMu     sync.Mutex // guards strs
	strs      map[string]string
	symbols   *Symbols
	vmlinux   *btf.Spec
	btfs      map[string]SectionInfo // module -> section, built on first use
	btfOrder  []string
	btfErr    error
	cursorMu  sync.Mutex // guards cursors
	cursors   []*cursor  // buffers of finished iterators, for reuse
	stackMemo memo[[][]uint64]
	blobMemo  memo[[]blob]
	pktMemo   memo[[]Packet]
}

// memo caches the most recently decoded section of a kind.
type memo[T any] struct {
	off int64
	val T
	ok  bool
}

// Open opens the capture at path. Close the File when done.
func Open(path string, opts *ReaderOptions) (*File, error) {
	// Looked at before opening, which would wait for a writer of a pipe.
	if st, err := os.Stat(path); err == nil {
		if kind := streamKind(st.Mode()); kind != "" {
			return nil, fmt.Errorf("%w (a %s): captures are read at offsets; save the stream to a file first (pwru-record -o - ... > x.pwru, or cat STREAM > x.pwru) and read that",
				ErrNotSeekable, kind)
		}
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("open capture: %w", err)
	}

	f, err := NewFile(fh, st.Size(), opts)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// streamKind names the file types that cannot be read at an offset ("" for
// the others).
func streamKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m.IsDir():
		return "directory"
	}
	return ""
}

// NewFile reads a capture of size bytes from r. It reads the header,
// probes, interfaces and the index; everything else is read on demand.
func NewFile(r io.ReaderAt, size int64, opts *ReaderOptions) (*File, error) {
	f := &File{r: r, size: size, probeIdx: map[uint32]int{}, strs: map[string]string{}}
	if opts != nil {
		f.opts = *opts
	}
	var err error
	f.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(64<<20),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	if err := f.open(); err != nil {
		f.dec.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) open() error {
	var pre [preambleSize]byte
	n, err := f.r.ReadAt(pre[:], 0)
	if n < len(pre) && err != nil && err != io.EOF {
		return fmt.Errorf("read preamble: %w", err)
	}
	if m := min(n, len(fileMagic)); !bytes.Equal(pre[:m], fileMagic[:m]) || n == 0 {
		return ErrNotCapture
	}
	if n < len(pre) {
		return fmt.Errorf("read preamble: %w: file is %d bytes", ErrTruncated, n)
	}
	major := binary.LittleEndian.Uint16(pre[8:])
	minor := binary.LittleEndian.Uint16(pre[10:])
	f.summary.Version = fmt.Sprintf("%d.%d", major, minor)
	switch {
	case major > VersionMajor:
		return fmt.Errorf("%w: file is format %d.%d, this reader reads %d.x; use a newer pwru-replay",
			ErrUnsupportedVersion, major, minor, VersionMajor)
	case major < VersionMajor:
		return fmt.Errorf("%w: file claims format %d.%d, which no pwru-record wrote (the first format is %d.0): the preamble is damaged",
			ErrUnsupportedVersion, major, minor, VersionMajor)
	}
	if !f.readTrailer() {
		if err := f.scan(); err != nil {
			return err
		}
	}
	return f.load()
}

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

// load reads the small sections and builds the per-type indexes.
func (f *File) load() error {
	sawHeader := false
	for _, s := range f.sections {
		var err error
		switch s.Type {
		case SectionHeader:
			if sawHeader {
				continue
			}
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var h *Header
				if h, err = decodeHeader(p); err == nil {
					f.header, sawHeader = *h, true
				}
			}
		case SectionProbes:
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var ps []Probe
				if ps, err = decodeProbes(p, f.intern); err == nil {
					for _, pr := range ps {
						if i, ok := f.probeIdx[pr.ID]; ok {
							f.probes[i] = pr
							continue
						}
						f.probeIdx[pr.ID] = len(f.probes)
						f.probes = append(f.probes, pr)
					}
				}
			}
		case SectionInterfaces:
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var ifs []Interface
				var ns []Netns
				if ifs, ns, err = decodeInterfaces(p); err == nil {
					f.ifaces = append(f.ifaces, ifs...)
					f.netns = append(f.netns, ns...)
				}
			}
		case SectionLosses:
			f.lossSecs = append(f.lossSecs, s) // only the last valid one is read
		case SectionBTF:
			f.btfSecs = append(f.btfSecs, s) // read on first use
		case SectionKallsyms:
			f.syms = append(f.syms, s)
		case SectionEvents:
			f.chunks = append(f.chunks, s)
			f.summary.Events += uint64(s.Count)
			if f.summary.Chunks == 0 || s.First < f.summary.FirstTime {
				f.summary.FirstTime = s.First
			}
			f.summary.LastTime = max(f.summary.LastTime, s.Last)
			f.summary.Chunks++
		case SectionStacks:
			f.stacks = append(f.stacks, s)
			f.summary.Stacks += uint64(s.Count)
		case SectionBlobs:
			f.blobs = append(f.blobs, s)
			f.summary.Blobs += uint64(s.Count)
		case SectionPackets:
			f.packets = append(f.packets, s)
			f.summary.Packets += uint64(s.Count)
		}
		if err != nil {
			if se := (*SectionError)(nil); !errors.As(err, &se) {
				err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
			}
			if !f.opts.SkipCorrupt {
				return err
			}
			f.problems = append(f.problems, err)
			f.summary.Skipped++
		}
	}
	if err := f.loadLosses(); err != nil {
		return err
	}
	if !sawHeader && !f.opts.SkipCorrupt {
		if f.summary.Truncated {
			return fmt.Errorf("read header: %w at offset %d", ErrTruncated, f.summary.TruncatedAt)
		}
		return fmt.Errorf("read header: %w: no header section", ErrCorrupt)
	}
	byFirst := func(a, b SectionInfo) int {
		return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Offset, b.Offset))
	}
	slices.SortStableFunc(f.chunks, byFirst)
	slices.SortStableFunc(f.stacks, byFirst)
	slices.SortStableFunc(f.blobs, byFirst)
	return nil
}

// loadLosses reads the last losses section; when it is corrupt and
// SkipCorrupt is set, the one before it, and so on.
func (f *File) loadLosses() error {
	for i := len(f.lossSecs) - 1; i >= 0; i-- {
		s := f.lossSecs[i]
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var l Losses
			if l, err = decodeLosses(p); err == nil {
				f.losses = l
				return nil
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			return err
		}
		f.problems = append(f.problems, err)
		f.summary.Skipped++
	}
	return nil
}

// btfIndex reads the module names of the BTF sections once. The caller
// holds f.mu.
func (f *File) btfIndex() error {
	if f.btfs != nil {
		return f.btfErr
	}
	f.btfs = make(map[string]SectionInfo)
	for _, s := range f.btfSecs {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var mod string
			if mod, _, err = decodeBTF(p); err == nil {
				if _, dup := f.btfs[mod]; !dup {
					f.btfs[mod] = s
					f.btfOrder = append(f.btfOrder, mod)
				}
				continue
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			f.btfErr = fmt.Errorf("read btf index: %w", err)
			return f.btfErr
		}
	}
	return nil
}

// intern returns a shared string equal to b.
func (f *File) intern(b []byte) string {
	if s, ok := f.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(f.strs) < 1<<16 {
		f.strs[s] = s
	}
	return s
}

// internLocked is intern for use after open, when iterators may run
// concurrently.
func (f *File) internLocked(b []byte) string {
	f.strMu.Lock()
	defer f.strMu.Unlock()
	return f.intern(b)
}

// readSection reads, checks and decompresses the section described by s.
// stored and raw are reusable buffers (may be nil); the returned payload
// may alias them.
func (f *File) readSection(s SectionInfo, stored, raw []byte) (sectionHeader, []byte, error) {
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
	p := stored[sectionHeaderSize:]
	if got := crc32.Checksum(p, castagnoli); got != h.CRC {
		return fail(corruptf("payload checksum 0x%08x, want 0x%08x", got, h.CRC))
	}
	if h.Flags&sectionZstd == 0 {
		return h, p, nil
	}
	out, err := f.decompress(p, raw, int(h.Raw))
	if err != nil {
		return fail(corruptf("decompress: %v", err))
	}
	if len(out) != int(h.Raw) {
		return fail(corruptf("decompressed to %d bytes, header says %d", len(out), h.Raw))
	}
	return h, out, nil
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

// Close releases the file. Iterators must not be used afterwards.
func (f *File) Close() error {
	f.dec.Close()

	if f.closer != nil {
		if err := f.closer.Close(); err != nil {
			return fmt.Errorf("close capture: %w", err)
		}
	}
	return nil
}

// Header returns the recording's header. The result is shared: do not
// modify it.
func (f *File) Header() *Header { return &f.header }

// Probes returns every probe in the order stored. Shared: do not modify.
func (f *File) Probes() []Probe { return f.probes }

// Probe returns the probe with the given ID, or nil.
func (f *File) Probe(id uint32) *Probe {
	i, ok := f.probeIdx[id]
	if !ok {
		return nil
	}
	return &f.probes[i]
}

// Interfaces returns every interface in the order stored. Shared.
func (f *File) Interfaces() []Interface { return f.ifaces }

// Netns returns every network namespace in the order stored. Shared.
func (f *File) Netns() []Netns { return f.netns }

// Interface returns the interface ifindex of namespace netns, or nil. When
// a device was stored more than once the last copy wins.
func (f *File) Interface(netns, ifindex uint32) *Interface {
	for i := len(f.ifaces) - 1; i >= 0; i-- {
		if f.ifaces[i].Netns == netns && f.ifaces[i].Ifindex == ifindex {
			return &f.ifaces[i]
		}
	}
	return nil
}

// Losses returns the last stored loss counters.
func (f *File) Losses() Losses { return f.losses }

// Summary returns the totals, computed from the index without reading
// events.
func (f *File) Summary() Summary { return f.summary }

// Sections lists the sections in file order (the trailer excluded).
func (f *File) Sections() []SectionInfo { return slices.Clone(f.sections) }

// Options returns the options the file was opened with.
func (f *File) Options() ReaderOptions { return f.opts }

// Problems returns the errors of the sections skipped with
// ReaderOptions.SkipCorrupt while opening.
func (f *File) Problems() []error { return slices.Clone(f.problems) }

// Symbols returns the kallsyms snapshot (all kallsyms sections merged).
func (f *File) Symbols() (*Symbols, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.symbols != nil {
		return f.symbols, nil
	}
	var all []Symbol
	for _, s := range f.syms {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var syms []Symbol
			if syms, err = decodeKallsyms(p); err == nil {
				all = append(all, syms...)
				continue
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			return nil, fmt.Errorf("read kallsyms: %w", err)
		}
	}
	if len(f.syms) == 1 {
		f.symbols = &Symbols{syms: all} // stored sorted
		if !slices.IsSortedFunc(all, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }) {
			f.symbols = NewSymbols(all)
		}
	} else {
		f.symbols = NewSymbols(all)
	}
	return f.symbols, nil
}

// BTFModules lists the modules whose BTF is stored ("" = vmlinux), in
// file order. It is empty when the BTF sections cannot be read (RawBTF
// says why).
func (f *File) BTFModules() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.btfIndex()
	return slices.Clone(f.btfOrder)
}

// RawBTF returns the stored BTF of module ("" = vmlinux). The caller owns
// the result.
func (f *File) RawBTF(module string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rawBTFLocked(module)
}

func (f *File) rawBTFLocked(module string) ([]byte, error) {
	if err := f.btfIndex(); err != nil {
		return nil, err
	}
	s, ok := f.btfs[module]
	if !ok {
		return nil, fmt.Errorf("read btf %q: %w", module, ErrNotFound)
	}
	_, p, err := f.readSection(s, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read btf %q: %w", module, err)
	}
	_, raw, err := decodeBTF(p)
	if err != nil {
		return nil, fmt.Errorf("read btf %q: %w", module, err)
	}
	return raw, nil
}

// BTF returns the vmlinux BTF. The spec is cached and shared.
func (f *File) BTF() (*btf.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vmlinuxLocked()
}

func (f *File) vmlinuxLocked() (*btf.Spec, error) {
	if f.vmlinux != nil {
		return f.vmlinux, nil
	}
	raw, err := f.rawBTFLocked("")
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("load vmlinux btf: %w", err)
	}
	f.vmlinux = spec
	return spec, nil
}

// ModuleBTF returns the BTF of a kernel module, split on the vmlinux BTF.
func (f *File) ModuleBTF(name string) (*btf.Spec, error) {
	if name == "" {
		return f.BTF()
	}
	f.mu.Lock()
	base, err := f.vmlinuxLocked()
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	raw, err := f.RawBTF(name)
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(raw), base)
	if err != nil {
		return nil, fmt.Errorf("load btf of module %s: %w", name, err)
	}
	return spec, nil
}

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
