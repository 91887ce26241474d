package format

import (
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Defaults of [WriterOptions].
const (
	DefaultChunkEvents   = 32768
	DefaultFlushInterval = time.Second
	// flushBufBytes is the size at which buffered stacks, blobs or packets
	// are written out even before the next events chunk.
	flushBufBytes = 1 << 20
	// timeCheckEvery is how many events WriteEvent buffers between two
	// looks at the wall clock.
	timeCheckEvery = 256
	maxPacketData  = 1 << 24
)

// WriterOptions tune a [Writer]. The zero value (or nil) selects the
// documented defaults.
type WriterOptions struct {
	// ChunkEvents is the number of events buffered before an events
	// section is written (default DefaultChunkEvents, at most 1<<20).
	ChunkEvents int
	// FlushInterval is the longest time events stay buffered while
	// WriteEvent is being called (default DefaultFlushInterval): WriteEvent
	// writes the chunk when the wall clock (looked at every 256 events) or
	// the events' own kernel times show that the interval passed. A
	// negative value disables time-based flushing, which makes the output
	// depend only on the calls made (golden files).
	FlushInterval time.Duration
	// Level is the zstd level: 1 fastest, 2 default, 3 better, 4 best.
	Level int
}

// WriterStats counts what a [Writer] wrote so far.
type WriterStats struct {
	Events, Chunks, Stacks, Blobs, Packets uint64
	Bytes                                  int64 // bytes written to the underlying writer
}

// Writer writes a capture to an io.Writer without ever seeking. It is not
// safe for concurrent use: one goroutine owns it.
type Writer struct {
	w     io.Writer
	opts  WriterOptions
	hdr   Header
	enc   *zstd.Encoder
	err   error
	done  bool
	off   int64
	index []SectionInfo
	raw   []byte
	comp  []byte
	out   []byte
	stats WriterStats

	events    []Event
	perm      []int32  // order in which events are encoded
	keys      []uint64 // their times, parallel to perm while sorting
	chunk     *chunkEncoder
	lastFlush time.Time
	sinceTime int

	seed maphash.Seed

	stackIDs   map[string]uint32
	stackBuf   []byte
	stackFirst uint32
	stackN     int

	blobIDs   map[uint64]uint32
	blobBuf   []byte
	blobFirst uint32
	blobN     int

	pktIDs    map[uint64]uint32
	pktBuf    []byte
	pktFirst  uint32
	pktN      int
	shbDone   bool
	ifaceIDs  map[ifaceKey]uint32
	secIfaces map[ifaceKey]uint32
	ifNames   map[[2]uint32]string

	btfSeen map[string]bool
	losses  Losses
	lossDue bool
}

var errClosed = errors.New("writer is closed")

// NewWriter writes the file preamble and the header section to w and
// returns a Writer for the rest. h is copied.
func NewWriter(w io.Writer, h *Header, opts *WriterOptions) (*Writer, error) {
	if h == nil {
		return nil, errors.New("create writer: nil header")
	}
	var o WriterOptions
	if opts != nil {
		o = *opts
	}
	if o.ChunkEvents == 0 {
		o.ChunkEvents = DefaultChunkEvents
	}
	if o.ChunkEvents < 1 || o.ChunkEvents > maxChunkEvents {
		return nil, fmt.Errorf("create writer: chunk size %d out of range 1..%d", o.ChunkEvents, maxChunkEvents)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	level := zstd.SpeedDefault
	switch o.Level {
	case 0, 2:
	case 1:
		level = zstd.SpeedFastest
	case 3:
		level = zstd.SpeedBetterCompression
	case 4:
		level = zstd.SpeedBestCompression
	default:
		return nil, fmt.Errorf("create writer: zstd level %d out of range 1..4", o.Level)
	}
	// A 1 MiB window: the encoder's history buffer is twice the window
	// and lives as long as the writer, and a larger window gains nothing
	// on kernel BTF (the biggest section) or on event chunks.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("create zstd encoder: %w", err)
	}
	wr := &Writer{
		w:          w,
		opts:       o,
		hdr:        *h,
		enc:        enc,
		chunk:      newChunkEncoder(),
		lastFlush:  time.Now(),
		seed:       maphash.MakeSeed(),
		stackIDs:   make(map[string]uint32),
		blobIDs:    make(map[uint64]uint32),
		pktIDs:     make(map[uint64]uint32),
		ifaceIDs:   make(map[ifaceKey]uint32),
		secIfaces:  make(map[ifaceKey]uint32),
		ifNames:    make(map[[2]uint32]string),
		btfSeen:    make(map[string]bool),
		stackFirst: 1,
		blobFirst:  1,
		pktFirst:   1,
	}
	if err := wr.write(appendPreamble(nil, h.minorVersion())); err != nil {
		return nil, fmt.Errorf("write preamble: %w", err)
	}
	if err := wr.section(SectionHeader, 0, 0, 0, appendHeader(nil, h)); err != nil {
		return nil, err
	}
	return wr, nil
}

func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.off += int64(n)
	w.stats.Bytes = w.off
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// section compresses raw and writes it as one section with one Write call.
func (w *Writer) section(t SectionType, a, b uint64, count int, raw []byte) error {
	if w.err != nil {
		return w.err
	}
	if int64(len(raw)) > maxRaw(t) {
		return fmt.Errorf("write %s section: %d bytes exceed the section limit of %d MiB", t, len(raw), maxRaw(t)>>20)
	}
	h := sectionHeader{Type: t, Raw: uint32(len(raw)), A: a, B: b, Count: uint32(count)}
	payload := raw
	if len(raw) >= 64 {
		w.comp = w.enc.EncodeAll(raw, w.comp[:0])
		if len(w.comp) < len(raw) {
			payload = w.comp
			h.Flags = sectionZstd
		}
	}
	h.Stored = uint32(len(payload))
	h.CRC = crc32.Checksum(payload, castagnoli)
	w.out = h.marshal(w.out[:0])
	w.out = append(w.out, payload...)
	info := SectionInfo{Type: t, Offset: w.off, Size: int64(len(w.out)), RawSize: int64(len(raw)), First: a, Last: b, Count: count}
	if err := w.write(w.out); err != nil {
		w.err = fmt.Errorf("write %s section: %w", t, err)
		return w.err
	}
	if t != SectionTrailer {
		w.index = append(w.index, info)
	}
	if len(raw) > 4*flushBufBytes {
		// Not kept for the rest of the recording: only the kernel BTF
		// section is this big.
		w.comp, w.out = nil, nil
	}
	return nil
}

func (w *Writer) check(op string) error {
	if w.done {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	if w.err != nil {
		return fmt.Errorf("%s: %w", op, w.err)
	}
	return nil
}

// WriteEvent buffers e (copied) for the current chunk. A chunk is written
// when it is full or when FlushInterval passed since the last flush.
func (w *Writer) WriteEvent(e *Event) error {
	if w.done || w.err != nil {
		return w.check("write event")
	}
	if e == nil {
		return errors.New("write event: nil event")
	}
	if w.events == nil {
		w.events = make([]Event, 0, min(w.opts.ChunkEvents, DefaultChunkEvents))
	}
	w.events = append(w.events, *e)
	w.stats.Events++
	if len(w.events) >= w.opts.ChunkEvents {
		return w.flushEvents()
	}
	if w.opts.FlushInterval > 0 {
		// Events carry kernel time: a chunk spanning the interval is due
		// even when events trickle in too slowly to reach the clock check.
		if first := w.events[0].Time; e.Time > first && e.Time-first >= uint64(w.opts.FlushInterval) {
			return w.Flush()
		}
		w.sinceTime++
		if w.sinceTime >= timeCheckEvery {
			w.sinceTime = 0
			if time.Since(w.lastFlush) >= w.opts.FlushInterval {
				return w.Flush()
			}
		}
	}
	return nil
}

// SetLosses records the loss counters (copied); they are stored on the
// next Flush and at Close. The last stored copy wins.
func (w *Writer) SetLosses(l *Losses) error {
	if err := w.check("set losses"); err != nil {
		return err
	}
	if l == nil {
		return errors.New("set losses: nil losses")
	}
	w.losses = Losses{
		RingbufLost:  slices.Clone(l.RingbufLost),
		ProbesFailed: l.ProbesFailed,
		Other:        maps.Clone(l.Other),
	}
	w.lossDue = true
	return nil
}

// Flush writes everything buffered: events, stacks, blobs, packets and
// changed losses. Call it at least once a second while no events arrive.
func (w *Writer) Flush() error {
	if err := w.check("flush"); err != nil {
		return err
	}
	if err := w.flushEvents(); err != nil {
		return err
	}
	if w.lossDue {
		w.lossDue = false
		return w.section(SectionLosses, 0, 0, 0, appendLosses(w.raw[:0], &w.losses))
	}
	return nil
}

// Close flushes, stores the losses, the trailer index and the footer. It
// does not close the underlying writer. Calling Close twice is an error.
func (w *Writer) Close() error {
	if err := w.check("close writer"); err != nil {
		return err
	}
	w.lossDue = true
	if err := w.Flush(); err != nil {
		return err
	}
	w.done = true
	defer w.enc.Close()
	trailerOff := w.off
	if err := w.section(SectionTrailer, 0, 0, len(w.index), appendTrailer(w.raw[:0], &trailer{sections: w.index})); err != nil {
		return err
	}
	foot := appendU64(nil, uint64(trailerOff))
	foot = append(foot, footerMagic[:]...)
	if err := w.write(foot); err != nil {
		return fmt.Errorf("write footer: %w", err)
	}
	return nil
}

// Stats returns counts of what was written so far.
func (w *Writer) Stats() WriterStats { return w.stats }
