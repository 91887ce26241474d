package format

import (
	"container/heap"
	"unsafe"
)

// MaxIterMemory bounds the memory an [EventIter] holds for the chunks it
// has open at once: their stored and decompressed payloads, decoded
// columns and skb states. Chunks whose time ranges overlap must be open
// together to merge their events in time order; a file whose
// overlapping chunks need more fails with [ErrLimit] (or, with
// ReaderOptions.SkipCorrupt, the chunk that does not fit is skipped).
// SPEC.md "Reader bounds" lists every bound.
const MaxIterMemory = 128 << 20

// maxRetained bounds the buffers a finished cursor keeps for reuse, and
// maxFreeCursors the finished cursors an iterator keeps.
const (
	maxRetained    = 8 << 20
	maxFreeCursors = 4
)

// cursorFixed is the memory of a cursor besides its buffers: the struct,
// with the caller prediction table.
const cursorFixed = int64(unsafe.Sizeof(cursor{}))

// IterOptions select the events an [EventIter] returns. The zero value
// selects all.
type IterOptions struct {
	// Since and Until bound event times (inclusive); Until 0 means no bound.
	Since, Until uint64
	// Fields projects the events: only these fields (plus Time, SKB and
	// ProbeID) are decoded and filled, the others are zero; the columns
	// of the others are not decoded, so their corruption goes unnoticed.
	// The zero value means every field.
	Fields Fields
}

// EventIter walks events in time order, decoding chunks lazily: only the
// chunks whose time ranges overlap the current position are in memory.
// It is not safe for concurrent use.
type EventIter struct {
	f      *File
	chunks []SectionInfo
	next   int // next chunk to open
	since  uint64
	until  uint64
	active cursorHeap
	free   []*cursor
	err    error
	skip   int
	skip1  error // the first skipped chunk's error
	seq    int
	want   uint64 // mask bits of the projected fields
	mem    int64  // memory of the active cursors (cursor.mem)
	// nextFirst is chunks[next].First, or the largest time when every
	// chunk was opened (next == len(chunks)), kept
	// here because it is compared for every event.
	nextFirst uint64
}

// cursor is one open chunk; dec.time is the time of its next event,
// whose other fields are decoded only when it is returned.
type cursor struct {
	dec    chunkDecoder
	seq    int
	info   SectionInfo
	stored []byte
	raw    []byte
	mem    int64 // counted in EventIter.mem while active
}

// retained is the memory of the cursor's buffers.
func (c *cursor) retained() int64 {
	// The probe prediction table grows (doubling) up to the chunk's
	// largest probe ID.
	succ := max(cap(c.dec.succ), 2*c.dec.maxProbe+64)
	n := int64(cap(c.stored)) + int64(cap(c.raw)) + int64(cap(c.dec.refs))*eventSize + 4*int64(succ)
	for i := range c.dec.vals {
		n += 8 * int64(cap(c.dec.vals[i].v))
	}
	return n
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if h[i].dec.time != h[j].dec.time {
		return h[i].dec.time < h[j].dec.time
	}
	return h[i].seq < h[j].seq
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// Events returns an iterator over the events in time order. Events of
// equal time keep file order. An iterator that reaches its end hands its
// decoding buffers to f, for the next iterator to reuse.
func (f *File) Events(opts *IterOptions) *EventIter {
	it := &EventIter{f: f, until: ^uint64(0), want: Fields(0).maskBits()}
	if opts != nil {
		it.since = opts.Since
		if opts.Until != 0 {
			it.until = opts.Until
		}
		it.want = opts.Fields.maskBits()
	}
	for _, c := range f.chunks {
		if c.Last >= it.since && c.First <= it.until {
			it.chunks = append(it.chunks, c)
		}
	}
	it.nextFirst = ^uint64(0)
	if len(it.chunks) > 0 {
		it.nextFirst = it.chunks[0].First
	}
	return it
}

// Skipped returns the number of corrupt chunks skipped so far
// (ReaderOptions.SkipCorrupt).
func (it *EventIter) Skipped() int { return it.skip }

// SkipErr returns the error of the first chunk skipped (nil when none
// was): a *SectionError naming it.
func (it *EventIter) SkipErr() error { return it.skip1 }

// Err returns the error that stopped the iteration, if any.
func (it *EventIter) Err() error { return it.err }

// Next fills e with the next event and reports whether there was one.
// Strings in e are shared between events: do not modify them.
func (it *EventIter) Next(e *Event) bool {
	p := it.step()
	if p == nil {
		return false
	}
	*e = *p
	return true
}

// NextShared returns the next event, or nil at the end (then check Err).
// It is [EventIter.Next] without the copy: the event lives in the
// iterator's memory and is valid only until the next call of Next or
// NextShared. Do not modify it or keep it; copy what must outlive the
// call.
func (it *EventIter) NextShared() *Event {
	return it.step()
}

// step returns the decoder's copy of the next event, or nil.
func (it *EventIter) step() *Event {
	// Fast path: one chunk open, the next one starts after its next
	// event, which is not its last and is within the time bounds.
	if len(it.active) == 1 && it.err == nil {
		c := it.active[0]
		if it.nextFirst > c.dec.time && c.dec.left > 0 && c.dec.time >= it.since && c.dec.time <= it.until {
			if e := c.dec.next(); e != nil {
				c.dec.advance()
				return e
			}
			return it.stepFailed(c)
		}
	}
	for {
		if it.err != nil {
			return nil
		}
		// Open every chunk that may hold an event before the current head.
		for it.next < len(it.chunks) && (len(it.active) == 0 || it.nextFirst <= it.active[0].dec.time) {
			it.open(it.chunks[it.next])
			it.next++
			it.nextFirst = ^uint64(0)
			if it.next < len(it.chunks) {
				it.nextFirst = it.chunks[it.next].First
			}
			if it.err != nil {
				return nil
			}
		}
		if len(it.active) == 0 {
			it.release()
			return nil
		}
		c := it.active[0]
		e := c.dec.next()
		if e == nil {
			if !it.dropHead(c) {
				return nil
			}
			continue
		}
		if c.dec.advance() {
			if len(it.active) > 1 {
				heap.Fix(&it.active, 0)
			}
		} else {
			heap.Pop(&it.active)
			it.retire(c)
			if c.dec.err != nil && !it.fail(c.info, c.dec.err) {
				return nil
			}
		}
		if e.Time < it.since {
			continue
		}
		if e.Time > it.until {
			for _, c := range it.active {
				it.retire(c)
			}
			it.active = it.active[:0]
			it.next, it.nextFirst = len(it.chunks), ^uint64(0)
			it.release()
			return nil
		}
		return e
	}
}

// dropHead removes the head cursor c, whose chunk failed to decode; it
// returns true when the iteration goes on (SkipCorrupt).
func (it *EventIter) dropHead(c *cursor) bool {
	heap.Pop(&it.active)
	it.retire(c)
	return it.fail(c.info, c.dec.err)
}

// retire takes c out of the memory count and keeps it for reuse unless
// its buffers are large or enough cursors are kept already.
func (it *EventIter) retire(c *cursor) {
	it.mem -= c.mem
	c.mem = 0
	if len(it.free) >= maxFreeCursors || c.retained() > maxRetained {
		return // let the garbage collector have it
	}
	it.free = append(it.free, c)
}

// stepFailed is step after the fast path's chunk failed to decode.
func (it *EventIter) stepFailed(c *cursor) *Event {
	if !it.dropHead(c) {
		return nil
	}
	return it.step()
}

// release hands the cursors of a finished iteration to the file, for the
// next iterator to reuse their buffers.
func (it *EventIter) release() {
	if len(it.free) == 0 {
		return
	}
	it.f.cursorMu.Lock()
	for _, c := range it.free {
		if len(it.f.cursors) < maxPooledCursors {
			it.f.cursors = append(it.f.cursors, c)
		}
	}
	it.f.cursorMu.Unlock()
	clear(it.free)
	it.free = it.free[:0]
}

// maxPooledCursors bounds the cursors a File keeps for reuse.
const maxPooledCursors = 4

// fail records a chunk error; it returns true when the iteration goes on.
func (it *EventIter) fail(s SectionInfo, err error) bool {
	if _, ok := err.(*SectionError); !ok {
		err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
	}
	if it.f.opts.SkipCorrupt {
		if it.skip == 0 {
			it.skip1 = err
		}
		it.skip++
		return true
	}
	it.err = err
	return false
}

// open decodes the header of chunk s and pushes its first event.
func (it *EventIter) open(s SectionInfo) {
	var c *cursor
	if n := len(it.free); n > 0 {
		c = it.free[n-1]
		it.free = it.free[:n-1]
	} else {
		it.f.cursorMu.Lock()
		if n := len(it.f.cursors); n > 0 {
			c = it.f.cursors[n-1]
			it.f.cursors[n-1] = nil
			it.f.cursors = it.f.cursors[:n-1]
		}
		it.f.cursorMu.Unlock()
		if c == nil {
			c = &cursor{}
		}
	}
	// The payloads are checked against the bound before they are read,
	// the decoded columns in init before they are allocated.
	left := MaxIterMemory - it.mem - cursorFixed - s.Size - s.RawSize
	if left < 0 {
		it.retire(c)
		it.fail(s, &SectionError{Type: s.Type, Offset: s.Offset, Err: limitf(
			"%d events chunks overlapping in time hold %d MiB; this one needs %d MiB more (bound %d MiB)",
			len(it.active), it.mem>>20, (cursorFixed+s.Size+s.RawSize)>>20, MaxIterMemory>>20)})
		return
	}
	if cap(c.stored) < int(s.Size) && s.Size <= maxSectionStored+sectionHeaderSize {
		c.stored = make([]byte, 0, s.Size)
	}
	h, p, err := it.f.readSection(s, c.stored, c.raw)
	if err == nil && cap(p) > cap(c.raw) && h.Flags&sectionZstd != 0 {
		c.raw = p[:0]
	}
	if err == nil {
		c.dec.want = it.want
		err = c.dec.init(p, int(h.Count), h.A, h.B, it.f.internLocked, left)
	}
	if err != nil {
		it.retire(c)
		it.fail(s, err)
		return
	}
	c.mem = cursorFixed + c.retained()
	it.mem += c.mem
	c.info = s
	c.seq = it.seq
	it.seq++
	if !c.dec.advance() {
		it.retire(c)
		if c.dec.err != nil {
			it.fail(s, c.dec.err)
		}
		return
	}
	heap.Push(&it.active, c)
}
