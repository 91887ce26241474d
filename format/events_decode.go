package format

import (
	"bytes"
	"fmt"
	"net/netip"
)

// This file decodes an events payload back into events, one at a time.

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
