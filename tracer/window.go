package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// window keeps the most recent ring buffer records of a flight recorder
// in memory: records are appended to an open chunk; a full open chunk is
// zstd-compressed and sealed. Sealed chunks are dropped oldest first when
// the compressed bytes exceed maxBytes or when their newest record is
// older than maxAge before the newest record. Dropped records are counted.
// It is not safe for concurrent use.
type window struct {
	maxBytes  int64  // bound on the compressed bytes (0 = none)
	maxAge    uint64 // bound on the time span, kernel ns (0 = none)
	chunkSize int    // raw bytes of the open chunk before it is sealed

	open                []byte // length-prefixed records
	openN               int
	openFirst, openLast uint64
	sealed              []sealedChunk
	bytes               int64 // compressed bytes of sealed
	last                uint64

	dropped uint64 // records evicted
	enc     *zstd.Encoder
	dec     *zstd.Decoder
}

// sealedChunk is a compressed run of records and its time range.
type sealedChunk struct {
	data        []byte
	n           int
	first, last uint64
}

// defaultWindowChunk is the raw size of a window chunk: big enough to
// compress well, small enough that eviction is fine-grained.
const defaultWindowChunk = 256 << 10

func newWindow(maxBytes int64, maxAge uint64, chunkSize int) (*window, error) {
	if maxBytes <= 0 && maxAge == 0 {
		return nil, errors.New("create flight recorder window: no bound")
	}
	if chunkSize <= 0 {
		chunkSize = defaultWindowChunk
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("create flight recorder window: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("create flight recorder window: %w", err)
	}
	return &window{maxBytes: maxBytes, maxAge: maxAge, chunkSize: chunkSize, enc: enc, dec: dec}, nil
}

// add appends a record (copied) with its kernel time.
func (w *window) add(t uint64, rec []byte) {
	if w.openN == 0 {
		w.openFirst = t
	}
	w.openLast = max(w.openLast, t)
	w.last = max(w.last, t)
	w.open = binary.AppendUvarint(w.open, uint64(len(rec)))
	w.open = binary.LittleEndian.AppendUint64(w.open, t)
	w.open = append(w.open, rec...)
	w.openN++
	if len(w.open) >= w.chunkSize {
		w.seal()
	}
	w.evict()
}

// seal compresses the open chunk.
func (w *window) seal() {
	if w.openN == 0 {
		return
	}
	c := sealedChunk{data: w.enc.EncodeAll(w.open, nil), n: w.openN, first: w.openFirst, last: w.openLast}
	w.sealed = append(w.sealed, c)
	w.bytes += int64(len(c.data))
	w.open, w.openN, w.openLast = w.open[:0], 0, 0
}

// evict drops the oldest sealed chunks beyond the bounds.
func (w *window) evict() {
	drop := 0
	for drop < len(w.sealed) {
		c := w.sealed[drop]
		tooBig := w.maxBytes > 0 && w.bytes > w.maxBytes
		tooOld := w.maxAge > 0 && w.last > c.last && w.last-c.last > w.maxAge
		if !tooBig && !tooOld {
			break
		}
		w.bytes -= int64(len(c.data))
		w.dropped += uint64(c.n)
		drop++
	}
	if drop > 0 {
		w.sealed = append(w.sealed[:0], w.sealed[drop:]...)
	}
}

// records returns how many records the window holds and its compressed
// bytes (the open chunk counted raw).
func (w *window) size() (records int, bytes int64) {
	for _, c := range w.sealed {
		records += c.n
	}
	return records + w.openN, w.bytes + int64(len(w.open))
}

// drain hands every record of the window to fn, oldest first, and
// empties the window. Records older than since (kernel time) are not
// handed on but counted as dropped: eviction works by whole chunks, so a
// chunk may hold records older than the window's age. The slice passed
// to fn is only valid during the call.
func (w *window) drain(since uint64, fn func(rec []byte) error) error {
	w.seal()
	var buf []byte
	defer func() {
		w.sealed = w.sealed[:0]
		w.bytes = 0
	}()
	for _, c := range w.sealed {
		var err error
		if buf, err = w.dec.DecodeAll(c.data, buf[:0]); err != nil {
			return fmt.Errorf("read flight recorder window: %w", err)
		}
		for p := buf; len(p) > 0; {
			n, k := binary.Uvarint(p)
			if k <= 0 || uint64(len(p)-k) < n+8 {
				return errors.New("read flight recorder window: corrupt chunk")
			}
			t := binary.LittleEndian.Uint64(p[k:])
			rec := p[k+8 : k+8+int(n)]
			p = p[k+8+int(n):]
			if t < since {
				w.dropped++
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}
