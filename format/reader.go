package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
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
