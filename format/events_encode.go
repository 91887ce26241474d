package format

import (
	"net/netip"
)

// This file encodes a chunk of events into an events payload.

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
