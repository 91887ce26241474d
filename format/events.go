package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"unsafe"
)

// This file encodes and decodes the payload of an events section (a
// "chunk"). SPEC.md "Events section" is the normative description; in
// short: events are sorted by time; each event names its skb through a
// move-to-front code and is stored as the set of fields that differ from
// the previous event of the same skb, one column per field.

// Columns of an events chunk, in payload order.
const (
	colTime = iota
	colRef
	colMask
	colSKB
	colTrack
	colProbe
	colCaller
	colCPU
	colPID
	colComm
	colNetns
	colMark
	colIfindex
	colLen
	colMTU
	colProtocol
	colPktType
	colFlags
	colDrop
	colRetval
	colTuple
	colStack
	colPayload
	colBlobs
	numCols
)

// Mask bits: which fields of an event differ from its base.
const (
	mProbe uint64 = 1 << iota
	mCaller
	mCPU
	mPID
	mComm
	mNetns
	mMark
	mIfindex
	mLen
	mMTU
	mProtocol
	mPktType
	mFlags
	mDrop
	mRetval
	mTuple
	mStack
	mPayload
	mBlobs
	mTrack
)

const (
	mtfSize = 64 // entries of the move-to-front list of recent skbs
	// maxPredictProbe: probe IDs at or above it are never predicted, which
	// bounds the prediction tables.
	maxPredictProbe = 1 << 16
	// maxChunkEvents bounds the events of one chunk.
	maxChunkEvents = 1 << 20
	// minEventBytes is the least number of payload bytes an event takes
	// (time, ref and mask columns).
	minEventBytes = 3
)

// predictor holds the state shared by the chunk encoder and decoder:
// recent skbs and the per-probe predictions. Both sides update it
// identically, so it is never stored.
type predictor struct {
	refs   []Event // last event of each skb of the chunk, by ref
	mtf    [mtfSize]int32
	nmtf   int
	last   int32 // ref of the previous event, -1 at chunk start
	succ   []uint32
	caller [callerSlots]uint64
}

// callerSlots is the size of the caller prediction table, indexed by a
// hash of the (previous probe, probe) pair.
const callerSlots = 1 << 12

func callerSlot(prev, probe uint32) uint32 {
	return (prev*0x9E3779B1 + probe*0x85EBCA77) >> 20
}

func (p *predictor) reset() {
	p.refs = p.refs[:0]
	p.nmtf = 0
	p.last = -1
	clear(p.succ)
	p.caller = [callerSlots]uint64{}
}

// touch moves ref to the front of the move-to-front list. from is its
// position there, or -1 when it is not in the list.
func (p *predictor) touch(ref int32, from int) {
	if from < 0 {
		if p.nmtf < mtfSize {
			p.nmtf++
		}
		from = p.nmtf - 1
	}
	// copy (memmove) beats a loop: positions average about ten, and a
	// new skb shifts the whole list.
	copy(p.mtf[1:from+1], p.mtf[:from])
	p.mtf[0] = ref
}

// predictProbe returns the probe expected after prev.
func (p *predictor) predictProbe(prev uint32) uint32 {
	if int(prev) < len(p.succ) {
		return p.succ[prev]
	}
	return 0
}

// predictCaller returns the caller last seen for probe after prev.
func (p *predictor) predictCaller(prev, probe uint32) uint64 {
	return p.caller[callerSlot(prev, probe)]
}

// learn records that probe followed prev and was called from caller.
func (p *predictor) learn(prev, probe uint32, caller uint64) {
	p.learnProbe(prev, probe)
	p.caller[callerSlot(prev, probe)] = caller
}

// learnProbe records that probe followed prev (learn without the caller).
func (p *predictor) learnProbe(prev, probe uint32) {
	if prev < maxPredictProbe {
		if int(prev) >= len(p.succ) {
			p.succ = growU32(p.succ, int(prev)+1)
		}
		p.succ[prev] = probe
	}
}

func growU32(s []uint32, n int) []uint32 {
	if n <= cap(s) {
		return s[:n]
	}
	t := make([]uint32, n, max(n, 2*cap(s), 64))
	copy(t, s)
	return t
}

// newBase returns the base of a new skb: the previous event with the new
// skb address and no probe.
func (p *predictor) newBase(skb uint64) Event {
	var b Event
	if p.last >= 0 {
		b = p.refs[p.last]
	}
	b.SKB = skb
	b.ProbeID = 0
	return b
}

// chunkEncoder turns sorted events into a chunk payload. It is reused
// across chunks to avoid allocations.
type chunkEncoder struct {
	predictor
	cols    [numCols][]byte
	mtfSKB  [mtfSize]uint64 // skb address of each mtf entry
	skbRef  map[uint64]int32
	comms   map[string]uint32
	commTab []string
	prevSKB uint64
	prevCal uint64
	out     []byte
}

func newChunkEncoder() *chunkEncoder {
	return &chunkEncoder{
		skbRef: make(map[uint64]int32),
		comms:  make(map[string]uint32),
	}
}

// encode appends the payload for events (in the order of perm, which must
// be sorted by time) and returns it. base is the time of the first event.
func (c *chunkEncoder) encode(events []Event, perm []int32, base uint64) []byte {
	c.reset()
	for i := range c.cols {
		c.cols[i] = c.cols[i][:0]
	}
	clear(c.skbRef)
	clear(c.comms)
	c.commTab = c.commTab[:0]
	c.prevSKB, c.prevCal = 0, 0
	t := base
	for _, i := range perm {
		e := &events[i]
		c.cols[colTime] = appendUvarint(c.cols[colTime], e.Time-t)
		t = e.Time
		c.encodeOne(e)
	}

	out := c.out[:0]
	out = appendUvarint(out, uint64(len(c.commTab)))
	for _, s := range c.commTab {
		out = appendString(out, s)
	}
	out = appendUvarint(out, numCols)
	for i := range c.cols {
		out = appendUvarint(out, uint64(len(c.cols[i])))
	}
	for i := range c.cols {
		out = append(out, c.cols[i]...)
	}
	c.out = out
	return out
}

func (c *chunkEncoder) encodeOne(e *Event) {
	// Recent skbs are found by address in the move-to-front list itself;
	// the map is only consulted for the others.
	pos := -1
	for j := 0; j < c.nmtf; j++ {
		if c.mtfSKB[j] == e.SKB {
			pos = j
			break
		}
	}
	var ref int32
	switch {
	case pos >= 0:
		ref = c.mtf[pos]
		c.cols[colRef] = appendUvarint(c.cols[colRef], uint64(pos+1))
	default:
		var known bool
		if ref, known = c.skbRef[e.SKB]; known {
			c.cols[colRef] = appendUvarint(c.cols[colRef], uint64(ref)+mtfSize+1)
		} else {
			ref = int32(len(c.refs))
			c.skbRef[e.SKB] = ref
			c.cols[colRef] = append(c.cols[colRef], 0)
			c.cols[colSKB] = appendVarint(c.cols[colSKB], int64(e.SKB-c.prevSKB))
			c.prevSKB = e.SKB
			c.refs = append(c.refs, c.newBase(e.SKB))
		}
	}
	if pos != 0 {
		from := pos
		if from < 0 {
			if c.nmtf < mtfSize {
				c.nmtf++
			}
			from = c.nmtf - 1
		}
		for j := from; j > 0; j-- {
			c.mtf[j] = c.mtf[j-1]
			c.mtfSKB[j] = c.mtfSKB[j-1]
		}
		c.mtf[0], c.mtfSKB[0] = ref, e.SKB
	}
	base := &c.refs[ref]

	var mask uint64
	pred := c.predictProbe(base.ProbeID)
	if e.ProbeID != pred {
		mask |= mProbe
		c.cols[colProbe] = appendUvarint(c.cols[colProbe], uint64(e.ProbeID))
	}
	if e.Caller != c.predictCaller(base.ProbeID, e.ProbeID) {
		mask |= mCaller
		c.cols[colCaller] = appendVarint(c.cols[colCaller], int64(e.Caller-c.prevCal))
		c.prevCal = e.Caller
	}
	c.learn(base.ProbeID, e.ProbeID, e.Caller)
	if e.TrackID != base.TrackID {
		mask |= mTrack
		c.cols[colTrack] = appendVarint(c.cols[colTrack], int64(e.TrackID-base.TrackID))
	}
	mask |= c.u32(mCPU, colCPU, e.CPU, base.CPU)
	mask |= c.u32(mPID, colPID, e.PID, base.PID)
	if e.Comm != base.Comm {
		mask |= mComm
		id, ok := c.comms[e.Comm]
		if !ok {
			id = uint32(len(c.commTab))
			c.comms[e.Comm] = id
			c.commTab = append(c.commTab, e.Comm)
		}
		c.cols[colComm] = appendUvarint(c.cols[colComm], uint64(id))
	}
	mask |= c.u32(mNetns, colNetns, e.Netns, base.Netns)
	mask |= c.u32(mMark, colMark, e.Mark, base.Mark)
	mask |= c.u32(mIfindex, colIfindex, e.Ifindex, base.Ifindex)
	if e.Len != base.Len {
		mask |= mLen
		c.cols[colLen] = appendVarint(c.cols[colLen], int64(e.Len)-int64(base.Len))
	}
	mask |= c.u32(mMTU, colMTU, e.MTU, base.MTU)
	mask |= c.u32(mProtocol, colProtocol, uint32(e.Protocol), uint32(base.Protocol))
	mask |= c.u32(mPktType, colPktType, uint32(e.PktType), uint32(base.PktType))
	mask |= c.u32(mFlags, colFlags, uint32(e.Flags), uint32(base.Flags))
	mask |= c.u32(mDrop, colDrop, e.DropReason, base.DropReason)
	if e.Retval != base.Retval {
		mask |= mRetval
		c.cols[colRetval] = appendVarint(c.cols[colRetval], e.Retval)
	}
	if e.Tuple != base.Tuple {
		mask |= mTuple
		c.cols[colTuple] = appendTuple(c.cols[colTuple], &e.Tuple)
	}
	mask |= c.u32(mStack, colStack, e.StackID, base.StackID)
	mask |= c.u32(mPayload, colPayload, e.PayloadID, base.PayloadID)
	if blobsDiffer(&e.Blobs, &base.Blobs) {
		mask |= mBlobs
		var sub uint64
		for k := range e.Blobs {
			if e.Blobs[k] != base.Blobs[k] {
				sub |= 1 << k
			}
		}
		b := appendUvarint(c.cols[colBlobs], sub)
		for k := range e.Blobs {
			if sub&(1<<k) != 0 {
				b = appendUvarint(b, uint64(e.Blobs[k]))
			}
		}
		c.cols[colBlobs] = b
	}
	c.cols[colMask] = appendUvarint(c.cols[colMask], mask)
	*base = *e
	c.last = ref
}

// blobsDiffer compares blob IDs without a call to memequal.
func blobsDiffer(a, b *[NumBlobKinds]uint32) bool {
	var d uint32
	for k := range a {
		d |= a[k] ^ b[k]
	}
	return d != 0
}

func (c *chunkEncoder) u32(bit uint64, col int, v, base uint32) uint64 {
	if v == base {
		return 0
	}
	c.cols[col] = appendUvarint(c.cols[col], uint64(v))
	return bit
}

// Address families in the tuple column.
const (
	famNone = 0
	famV4   = 1
	famV6   = 2
)

func addrFamily(a netip.Addr) byte {
	switch {
	case a.Is4():
		return famV4
	case a.IsValid():
		return famV6
	}
	return famNone
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		v := a.As4()
		return append(b, v[:]...)
	case a.IsValid():
		v := a.As16()
		return append(b, v[:]...)
	}
	return b
}

func appendTuple(b []byte, t *Tuple) []byte {
	b = append(b, addrFamily(t.Src)|addrFamily(t.Dst)<<2, t.Proto)
	b = appendAddr(b, t.Src)
	b = appendAddr(b, t.Dst)
	b = appendUvarint(b, uint64(t.Sport))
	return appendUvarint(b, uint64(t.Dport))
}

// chunkDecoder reads the events of one chunk payload in order. When a
// chunk is opened every numeric column is decoded in bulk (the masks say
// how many values each holds), so that decoding an event only indexes
// arrays.
type chunkDecoder struct {
	predictor
	cols    [numCols][]byte // tuple and blobs are read from here
	vals    [numCols]column // every other column, decoded
	short   bool            // an event asked a column for more values than it holds
	comms   []string
	time    uint64
	left    int
	i       int // index of the next event
	prevSKB uint64
	prevCal uint64
	err     error
	// want holds the mask bits of the fields to decode (column
	// projection, [Fields]); the others are left zero. 0 means all.
	want uint64
	// maxProbe bounds the probe IDs of the chunk's events (the size of
	// the probe prediction table).
	maxProbe int
}

// maskCol maps each mask bit to its column.
var maskCol = [...]int{
	colProbe, colCaller, colCPU, colPID, colComm, colNetns, colMark, colIfindex, colLen, colMTU,
	colProtocol, colPktType, colFlags, colDrop, colRetval, colTuple, colStack, colPayload, colBlobs, colTrack,
}

const knownMask = 1<<len(maskCol) - 1

// colBit maps each column to its mask bit (0 for the time, ref, mask and
// skb columns, which every event uses).
var colBit = func() (m [numCols]uint64) {
	for bit, col := range maskCol {
		m[col] = 1 << bit
	}
	return m
}()

// colU32 says which columns hold u32v values.
var colU32 = [numCols]bool{
	colProbe: true, colCPU: true, colPID: true, colNetns: true, colMark: true, colIfindex: true,
	colMTU: true, colProtocol: true, colPktType: true, colFlags: true, colDrop: true,
	colStack: true, colPayload: true,
}

// init prepares the decoder for a chunk payload of count events whose
// first event is at time base and last at time last. intern maps decoded
// strings to shared copies. limit bounds the bytes that the decoded
// columns and skb states may take (see [chunkDecoder.footprint]): a chunk
// that needs more fails with ErrLimit before anything of that size is
// allocated.
func (c *chunkDecoder) init(p []byte, count int, base, last uint64, intern func([]byte) string, limit int64) error {
	c.reset()
	c.comms = c.comms[:0]
	c.time, c.left, c.i, c.prevSKB, c.prevCal, c.err = base, 0, 0, 0, 0, nil
	c.short = false
	if count > maxChunkEvents || count > len(p)/minEventBytes+1 {
		return corruptf("event count %d does not fit a %d-byte chunk", count, len(p))
	}
	d := decoder{b: p}
	n := d.count(1)
	for i := 0; i < n && d.err == nil; i++ {
		c.comms = append(c.comms, intern(d.lenBytes()))
	}
	ncols := d.count(1)
	var lens [numCols]uint64
	for i := 0; i < ncols; i++ {
		v := d.uvarint()
		if i < numCols {
			lens[i] = v
		}
	}
	if d.err != nil {
		return asCorrupt(fmt.Errorf("read chunk columns: %w", d.err))
	}
	for i := range c.cols {
		if lens[i] > uint64(d.remaining()) {
			return corruptf("column %d length %d exceeds the %d bytes left", i, lens[i], d.remaining())
		}
		c.cols[i] = d.bytes(int(lens[i]))
	}
	// Columns of newer minor versions follow; they are ignored.

	if c.want == 0 {
		c.want = knownMask
	}
	// Every numeric column holds at most one value per event (time, ref
	// and mask exactly one): a column claiming more is corrupt, and is
	// refused before its values are allocated, as is a chunk whose
	// decoded values and skb states would exceed limit.
	var nvals [numCols]int
	total := 0
	for col := range c.vals {
		c.vals[col].i = 0
		c.vals[col].v = c.vals[col].v[:0]
		if col == colTuple || col == colBlobs {
			continue
		}
		if b := colBit[col]; b != 0 && c.want&b == 0 {
			continue // projected out: never read, so not decoded (nor checked)
		}
		n := countValues(c.cols[col])
		if n > count || (n != count && (col == colTime || col == colRef || col == colMask)) {
			return corruptf("column %d holds %d values for %d events", col, n, count)
		}
		nvals[col] = n
		total += n
	}
	// New skbs (ref code 0) are at most the events; each keeps an Event.
	if need := int64(total)*8 + int64(count)*eventSize; need > limit {
		return limitf("events chunk of %d events needs %d MiB decoded, over the %d MiB left of the reader's bound", count, need>>20, max(limit, 0)>>20)
	}
	var err error
	for col := range c.vals {
		if nvals[col] == 0 {
			continue
		}
		if c.vals[col].v, err = decodeColumn(c.vals[col].v[:0], c.cols[col], colU32[col]); err != nil {
			return corruptf("column %d: %v", col, err)
		}
	}
	// The skb states are allocated once (append would overshoot).
	if fresh := bytes.Count(c.cols[colRef], []byte{0}); cap(c.refs) < fresh {
		c.refs = make([]Event, 0, fresh)
	}
	c.maxProbe = 0
	for _, p := range c.vals[colProbe].v {
		c.maxProbe = max(c.maxProbe, int(min(p, maxPredictProbe)))
	}
	// The time deltas add up to the last event's time, which the section
	// header states: a chunk cannot claim a time range it does not hold.
	span, t := last-base, uint64(0)
	if last < base {
		return corruptf("last event time %d before the first %d", last, base)
	}
	for _, d := range c.vals[colTime].v {
		if d > span-t {
			return corruptf("event times run past the chunk's last time %d", last)
		}
		t += d
	}
	if t != span {
		return corruptf("event times end at %d, the header says %d", base+t, last)
	}
	c.left = count
	return nil
}

// eventSize is the memory of one skb state of a chunkDecoder.
const eventSize = int64(unsafe.Sizeof(Event{}))

// countValues returns the number of uvarints in src: one ends at each
// byte without the high bit.
func countValues(src []byte) int {
	values := 0
	i := 0
	for ; i+8 <= len(src); i += 8 {
		values += 8 - bits.OnesCount64(binary.LittleEndian.Uint64(src[i:i+8:i+8])&0x8080808080808080)
	}
	for _, b := range src[i:] {
		if b < 0x80 {
			values++
		}
	}
	return values
}

// columnVarint decodes the varint at the start of b, found at byte off of
// its column; with u32 the value must fit 32 bits.
func columnVarint(b []byte, off int, u32 bool) (v uint64, k int, err error) {
	v, k = binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, fmt.Errorf("bad or truncated varint at byte %d", off)
	}
	if u32 && v > math.MaxUint32 {
		return 0, 0, fmt.Errorf("value %d overflows 32 bits", v)
	}
	return v, k, nil
}

// decodeColumn decodes every uvarint of src into dst (reused when large
// enough); with u32 every value must fit in 32 bits.
func decodeColumn(dst []uint64, src []byte, u32 bool) ([]uint64, error) {
	// A value ends at each byte without the high bit: that many at most.
	values := countValues(src)
	if cap(dst) < values {
		dst = make([]uint64, values)
	}
	dst = dst[:values]
	n, off := 0, 0
	// Eight bytes at a time when they are eight one-byte values (most
	// columns) or four two-byte ones, else one value of up to three
	// bytes from them.
	for off+8 <= len(src) {
		x := binary.LittleEndian.Uint64(src[off : off+8 : off+8])
		switch {
		case x&0x8080808080808080 == 0:
			d := dst[n : n+8 : n+8]
			d[0], d[1], d[2], d[3] = x&0xff, x>>8&0xff, x>>16&0xff, x>>24&0xff
			d[4], d[5], d[6], d[7] = x>>32&0xff, x>>40&0xff, x>>48&0xff, x>>56
			n += 8
			off += 8
			continue
		case x&0x8080808080808080 == 0x0080008000800080:
			// Four two-byte values (time deltas, often).
			d := dst[n : n+4 : n+4]
			d[0], d[1] = x&0x7f|x>>1&0x3f80, x>>16&0x7f|x>>17&0x3f80
			d[2], d[3] = x>>32&0x7f|x>>33&0x3f80, x>>48&0x7f|x>>49&0x3f80
			n += 4
			off += 8
			continue
		case x&0x80 == 0:
			dst[n] = x & 0x7f
			n++
			off++
			continue
		case x&0x8000 == 0:
			dst[n] = x&0x7f | x>>1&0x3f80
			n++
			off += 2
			continue
		case x&0x800000 == 0:
			dst[n] = x&0x7f | x>>1&0x3f80 | x>>2&0x1fc000
			n++
			off += 3
			continue
		}
		// A value of four bytes or more.
		v, k, err := columnVarint(src[off:], off, u32)
		if err != nil {
			return dst[:n], err
		}
		dst[n] = v
		n++
		off += k
	}
	for off < len(src) {
		b0 := src[off]
		if b0 < 0x80 {
			dst[n] = uint64(b0)
			n++
			off++
			continue
		}
		v, k, err := columnVarint(src[off:], off, u32)
		if err != nil {
			return dst[:n], err
		}
		dst[n] = v
		n++
		off += k
	}
	return dst[:n], nil
}

// column is a bulk-decoded column and the index of its next value.
type column struct {
	v []uint64
	i int
}

// take returns the next value of column k, or 0 and sets c.short when
// k has no more values.
func (c *chunkDecoder) take(k *column) uint64 {
	if k.i < len(k.v) {
		x := k.v[k.i]
		k.i++
		return x
	}
	c.short = true
	return 0
}

// advance reads the time of the next event into c.time. It returns false
// at the end of the chunk or on error (c.err).
func (c *chunkDecoder) advance() bool {
	if c.left <= 0 || c.err != nil {
		return false
	}
	c.left--
	c.time += c.vals[colTime].v[c.i]
	return true
}

// next decodes the rest of the event whose time advance read and returns
// the decoder's copy of it (its skb's state), valid until the next call;
// nil on error (c.err). Fields outside c.want stay zero.
func (c *chunkDecoder) next() *Event {
	if c.i >= len(c.vals[colRef].v) {
		c.err = corruptf("decode past the end of the chunk")
		return nil
	}
	code, mask := c.vals[colRef].v[c.i], c.vals[colMask].v[c.i]
	c.i++
	if mask&^knownMask != 0 {
		c.err = corruptf("mask 0x%x has unknown bits", mask)
		return nil
	}
	var ref int32
	switch {
	case code == 0:
		c.prevSKB += uint64(unzigzag(c.take(&c.vals[colSKB])))
		ref = int32(len(c.refs))
		c.refs = append(c.refs, c.newBase(c.prevSKB))
		c.touch(ref, -1)
	case code <= mtfSize:
		pos := int(code - 1)
		if pos >= c.nmtf {
			c.err = corruptf("skb code %d beyond %d recent skbs", code, c.nmtf)
			return nil
		}
		ref = c.mtf[pos]
		if pos > 0 {
			c.touch(ref, pos)
		}
	default:
		r := code - mtfSize - 1
		if r >= uint64(len(c.refs)) {
			c.err = corruptf("skb reference %d beyond %d skbs", r, len(c.refs))
			return nil
		}
		ref = int32(r)
		c.touch(ref, -1)
	}
	st := &c.refs[ref]
	st.Time = c.time
	prev := st.ProbeID
	// The probe column's next value when mask has mProbe, else the
	// prediction; without a branch, which would be mispredicted often.
	pc := &c.vals[colProbe]
	has := mask & mProbe
	var v uint64
	if pc.i < len(pc.v) {
		v = pc.v[pc.i]
	} else if has != 0 {
		c.short = true
	}
	pc.i += int(has)
	sel := -has
	st.ProbeID = uint32(v&sel | uint64(c.predictProbe(prev))&^sel)
	switch {
	case c.want&mCaller == 0:
		// Callers projected out: only the probe prediction is kept.
		// Learning a probe that was predicted changes nothing, so the
		// table is written without looking at the mask.
		if int(prev) < len(c.succ) {
			c.succ[prev] = st.ProbeID
		} else if has != 0 {
			c.learnProbe(prev, st.ProbeID)
		}
	case mask&mCaller != 0:
		c.prevCal += uint64(unzigzag(c.take(&c.vals[colCaller])))
		st.Caller = c.prevCal
		c.learn(prev, st.ProbeID, st.Caller)
	default:
		st.Caller = c.predictCaller(prev, st.ProbeID)
		if mask&mProbe != 0 {
			// When both predictions held, learning would change nothing.
			c.learn(prev, st.ProbeID, st.Caller)
		}
	}
	if m := mask & c.want &^ (mProbe | mCaller); m != 0 {
		c.apply(st, m)
	}
	if c.short && c.err == nil {
		c.err = corruptf("a column holds fewer values than its events use")
	}
	if c.err != nil {
		return nil
	}
	c.last = ref
	return st
}

// apply sets the changed fields named by mask in st.
func (c *chunkDecoder) apply(st *Event, mask uint64) {
	if mask&mTrack != 0 {
		st.TrackID += uint64(unzigzag(c.take(&c.vals[colTrack])))
	}
	if mask&mCPU != 0 {
		st.CPU = uint32(c.take(&c.vals[colCPU]))
	}
	if mask&mPID != 0 {
		st.PID = uint32(c.take(&c.vals[colPID]))
	}
	if mask&mComm != 0 {
		i := c.take(&c.vals[colComm])
		if i >= uint64(len(c.comms)) {
			c.err = corruptf("comm index %d beyond %d comms", i, len(c.comms))
			return
		}
		st.Comm = c.comms[i]
	}
	if mask&mNetns != 0 {
		st.Netns = uint32(c.take(&c.vals[colNetns]))
	}
	if mask&mMark != 0 {
		st.Mark = uint32(c.take(&c.vals[colMark]))
	}
	if mask&mIfindex != 0 {
		st.Ifindex = uint32(c.take(&c.vals[colIfindex]))
	}
	if mask&mLen != 0 {
		st.Len = uint32(int64(st.Len) + unzigzag(c.take(&c.vals[colLen])))
	}
	if mask&mMTU != 0 {
		st.MTU = uint32(c.take(&c.vals[colMTU]))
	}
	if mask&mProtocol != 0 {
		st.Protocol = uint16(c.take(&c.vals[colProtocol]))
	}
	if mask&mPktType != 0 {
		st.PktType = uint8(c.take(&c.vals[colPktType]))
	}
	if mask&mFlags != 0 {
		st.Flags = EventFlags(c.take(&c.vals[colFlags]))
	}
	if mask&mDrop != 0 {
		st.DropReason = uint32(c.take(&c.vals[colDrop]))
	}
	if mask&mRetval != 0 {
		st.Retval = unzigzag(c.take(&c.vals[colRetval]))
	}
	if mask&mTuple != 0 {
		c.tuple(&st.Tuple)
	}
	if mask&mStack != 0 {
		st.StackID = uint32(c.take(&c.vals[colStack]))
	}
	if mask&mPayload != 0 {
		st.PayloadID = uint32(c.take(&c.vals[colPayload]))
	}
	if mask&mBlobs != 0 {
		d := decoder{b: c.cols[colBlobs]}
		sub := d.uvarint()
		for k := range st.Blobs {
			if sub&(1<<k) != 0 {
				st.Blobs[k] = d.u32v()
			}
		}
		if d.err == nil && sub>>NumBlobKinds != 0 {
			d.err = fmt.Errorf("unknown blob kinds 0x%x", sub)
		}
		if d.err != nil && c.err == nil {
			c.err = corruptf("blobs column: %v", d.err)
		}
		c.cols[colBlobs] = d.b[d.off:]
	}
}

func (c *chunkDecoder) tuple(t *Tuple) {
	d := decoder{b: c.cols[colTuple]}
	fam := d.u8()
	t.Proto = d.u8()
	t.Src = readAddr(&d, fam&3)
	t.Dst = readAddr(&d, fam>>2&3)
	t.Sport = uint16(d.u32v())
	t.Dport = uint16(d.u32v())
	if d.err == nil && (fam&3 > famV6 || fam>>2 > famV6) {
		d.err = fmt.Errorf("bad address family byte 0x%02x", fam)
	}
	if d.err != nil && c.err == nil {
		c.err = corruptf("tuple column: %v", d.err)
	}
	c.cols[colTuple] = d.b[d.off:]
}

func readAddr(d *decoder, fam byte) netip.Addr {
	switch fam {
	case famV4:
		if p := d.bytes(4); p != nil {
			return netip.AddrFrom4([4]byte(p))
		}
	case famV6:
		if p := d.bytes(16); p != nil {
			return netip.AddrFrom16([16]byte(p))
		}
	}
	return netip.Addr{}
}
