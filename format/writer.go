package format

import (
	"cmp"
	"encoding/binary"
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

// AddBTF stores raw BTF of a kernel module ("" = vmlinux). A module's BTF
// is stored once: later calls for the same module are ignored.
func (w *Writer) AddBTF(module string, raw []byte) error {
	if err := w.check("add btf"); err != nil {
		return err
	}
	if len(raw) == 0 {
		return fmt.Errorf("add btf %q: empty data", module)
	}
	if w.btfSeen[module] {
		return nil
	}
	w.btfSeen[module] = true
	return w.section(SectionBTF, 0, 0, 1, appendBTF(w.raw[:0], module, raw))
}

// AddKallsyms stores a kallsyms snapshot. Several calls add up.
func (w *Writer) AddKallsyms(syms []Symbol) error {
	if err := w.check("add kallsyms"); err != nil {
		return err
	}
	w.raw = appendKallsyms(w.raw[:0], syms)
	return w.section(SectionKallsyms, 0, 0, len(syms), w.raw)
}

// AddProbes stores probe descriptions; it may be called again to append.
func (w *Writer) AddProbes(p []Probe) error {
	if err := w.check("add probes"); err != nil {
		return err
	}
	w.raw = appendProbes(w.raw[:0], p)
	return w.section(SectionProbes, 0, 0, len(p), w.raw)
}

// AddInterfaces stores interfaces and network namespaces: the snapshot
// at start, and later the devices that appeared.
func (w *Writer) AddInterfaces(ifs []Interface, ns []Netns) error {
	if err := w.check("add interfaces"); err != nil {
		return err
	}
	for _, f := range ifs {
		w.ifNames[[2]uint32{f.Netns, f.Ifindex}] = f.Name
	}
	w.raw = appendInterfaces(w.raw[:0], ifs, ns)
	return w.section(SectionInterfaces, 0, 0, len(ifs), w.raw)
}

// AddStack stores a kernel stack and returns its ID; identical stacks get
// the same ID. An empty stack returns 0 (none).
func (w *Writer) AddStack(ips []uint64) (uint32, error) {
	if err := w.check("add stack"); err != nil {
		return 0, err
	}
	if len(ips) == 0 {
		return 0, nil
	}
	if len(ips) > maxStackAddrs {
		return 0, fmt.Errorf("add stack: %d addresses exceed the limit of %d", len(ips), maxStackAddrs)
	}
	key := make([]byte, 0, 8*len(ips))
	for _, ip := range ips {
		key = binary.LittleEndian.AppendUint64(key, ip)
	}
	if id, ok := w.stackIDs[string(key)]; ok {
		return id, nil
	}
	id := w.stackFirst + uint32(w.stackN)
	w.stackIDs[string(key)] = id
	w.stackBuf = appendStack(w.stackBuf, ips)
	w.stackN++
	w.stats.Stacks++
	if len(w.stackBuf) >= flushBufBytes {
		return id, w.flushStacks()
	}
	return id, nil
}

// AddBlob stores raw bytes of kind (a Blob* constant) and returns its ID;
// identical (kind, data) pairs get the same ID.
func (w *Writer) AddBlob(kind int, data []byte) (uint32, error) {
	if err := w.check("add blob"); err != nil {
		return 0, err
	}
	if kind < 0 || kind >= NumBlobKinds {
		return 0, fmt.Errorf("add blob: unknown kind %d", kind)
	}
	if len(data) > maxBlobBytes {
		return 0, fmt.Errorf("add blob: %d bytes exceed the limit of %d", len(data), maxBlobBytes)
	}
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.WriteByte(byte(kind))
	h.Write(data)
	key := h.Sum64()
	if id, ok := w.blobIDs[key]; ok {
		return id, nil
	}
	id := w.blobFirst + uint32(w.blobN)
	w.blobIDs[key] = id
	w.blobBuf = appendBlob(w.blobBuf, kind, data)
	w.blobN++
	w.stats.Blobs++
	if len(w.blobBuf) >= flushBufBytes {
		return id, w.flushBlobs()
	}
	return id, nil
}

// AddPacket stores a payload as a pcapng enhanced packet block and returns
// its ID. A packet whose Data and L3 equal an earlier one's is not stored
// again: the earlier ID is returned (with the earlier Time and interface).
func (w *Writer) AddPacket(p *Packet) (uint32, error) {
	if err := w.check("add packet"); err != nil {
		return 0, err
	}
	if p == nil {
		return 0, errors.New("add packet: nil packet")
	}
	if len(p.Data) > maxPacketData {
		return 0, fmt.Errorf("add packet: %d bytes exceed the %d-byte limit", len(p.Data), maxPacketData)
	}
	if p.OrigLen < uint32(len(p.Data)) {
		return 0, fmt.Errorf("add packet: original length %d below captured length %d", p.OrigLen, len(p.Data))
	}
	var h maphash.Hash
	h.SetSeed(w.seed)
	if p.L3 {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
	h.Write(p.Data)
	key := h.Sum64()
	if id, ok := w.pktIDs[key]; ok {
		return id, nil
	}
	if !w.shbDone {
		w.pktBuf = appendSHB(w.pktBuf, &w.hdr)
		w.shbDone = true
	}
	k := ifaceKey{Netns: p.Netns, Ifindex: p.Ifindex, L3: p.L3}
	iface, ok := w.ifaceIDs[k]
	if !ok {
		iface = uint32(len(w.ifaceIDs))
		w.ifaceIDs[k] = iface
		w.pktBuf = appendIDB(w.pktBuf, k, w.ifNames[[2]uint32{p.Netns, p.Ifindex}])
	}
	w.secIfaces[k] = iface
	ts := p.Time + uint64(w.hdr.MonoOffset)
	w.pktBuf = appendEPB(w.pktBuf, iface, ts, p.OrigLen, p.Data)
	id := w.pktFirst + uint32(w.pktN)
	w.pktIDs[key] = id
	w.pktN++
	w.stats.Packets++
	if len(w.pktBuf) >= flushBufBytes {
		return id, w.flushPackets()
	}
	return id, nil
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

func (w *Writer) flushStacks() error {
	if w.stackN == 0 {
		return nil
	}
	err := w.section(SectionStacks, uint64(w.stackFirst), 0, w.stackN, w.stackBuf)
	w.stackFirst += uint32(w.stackN)
	w.stackN, w.stackBuf = 0, w.stackBuf[:0]
	return err
}

func (w *Writer) flushBlobs() error {
	if w.blobN == 0 {
		return nil
	}
	err := w.section(SectionBlobs, uint64(w.blobFirst), 0, w.blobN, w.blobBuf)
	w.blobFirst += uint32(w.blobN)
	w.blobN, w.blobBuf = 0, w.blobBuf[:0]
	return err
}

func (w *Writer) flushPackets() error {
	if w.pktN == 0 && len(w.pktBuf) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(w.secIfaces), func(a, b ifaceKey) int {
		return cmp.Compare(w.secIfaces[a], w.secIfaces[b])
	})
	ids := make([]uint32, len(keys))
	for i, k := range keys {
		ids[i] = w.secIfaces[k]
	}
	w.raw = appendPacketsPrefix(w.raw[:0], ids, keys)
	w.raw = append(w.raw, w.pktBuf...)
	err := w.section(SectionPackets, uint64(w.pktFirst), 0, w.pktN, w.raw)
	w.pktFirst += uint32(w.pktN)
	w.pktN, w.pktBuf = 0, w.pktBuf[:0]
	clear(w.secIfaces)
	return err
}

// flushEvents writes pending stacks, blobs and packets, then the buffered
// events as one chunk, so that a complete chunk never references data
// that comes after it.
func (w *Writer) flushEvents() error {
	w.lastFlush = time.Now()
	w.sinceTime = 0
	if err := w.flushRefs(); err != nil {
		return err
	}
	if len(w.events) == 0 {
		return nil
	}
	ev := w.events
	w.perm = w.perm[:0]
	w.keys = w.keys[:0]
	for i := range ev {
		w.perm = append(w.perm, int32(i))
		w.keys = append(w.keys, ev[i].Time)
	}
	sortByKey(w.perm, w.keys)
	err := w.writeChunk(ev, w.perm)
	w.events = w.events[:0] // strings stay referenced until overwritten: bounded by the chunk size
	return err
}

// writeChunk writes the events of ev listed by perm (sorted by time) as
// one events section, or as two halves (recursively) when a reader would
// need more than a quarter of [MaxIterMemory] for it, so that a few
// overlapping chunks always fit the reader's bound.
func (w *Writer) writeChunk(ev []Event, perm []int32) error {
	first, last := ev[perm[0]].Time, ev[perm[len(perm)-1]].Time
	raw := w.chunk.encode(ev, perm, first)
	if len(perm) > 1 && chunkMemory(len(raw), len(perm)) > MaxIterMemory/4 {
		h := len(perm) / 2
		if err := w.writeChunk(ev, perm[:h]); err != nil {
			return err
		}
		return w.writeChunk(ev, perm[h:])
	}
	err := w.section(SectionEvents, first, last, len(perm), raw)
	w.stats.Chunks++
	return err
}

// chunkMemory is the most a reader spends on an open events chunk of
// count events and raw payload bytes (see EventIter.open): the cursor,
// the stored and decompressed payloads, at most one decoded value per
// payload byte and one skb state per event.
func chunkMemory(raw, count int) int64 {
	return cursorFixed + 10*int64(raw) + int64(count)*eventSize
}

func (w *Writer) flushRefs() error {
	if err := w.flushStacks(); err != nil {
		return err
	}
	if err := w.flushBlobs(); err != nil {
		return err
	}
	return w.flushPackets()
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

// sortByKey stably sorts perm and keys together by key. Events from a ring
// buffer are nearly sorted, so it runs an insertion sort and falls back to
// a merge sort only when that has to move too much.
func sortByKey(perm []int32, keys []uint64) {
	moves, limit := 0, 8*len(keys)+64
	for i := 1; i < len(keys); i++ {
		k, p := keys[i], perm[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j], perm[j] = keys[j-1], perm[j-1]
		}
		keys[j], perm[j] = k, p
		if moves += i - j; moves > limit {
			sortByKeySlow(perm, keys)
			return
		}
	}
}

func sortByKeySlow(perm []int32, keys []uint64) {
	type pair struct {
		key uint64
		idx int32
	}
	ps := make([]pair, len(keys))
	for i := range ps {
		ps[i] = pair{keys[i], perm[i]}
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.key, b.key) })
	for i, p := range ps {
		keys[i], perm[i] = p.key, p.idx
	}
}
