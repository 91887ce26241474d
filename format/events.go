package format

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
