package format

// Fields is a set of [Event] fields, for column projection
// ([IterOptions].Fields): an iterator decodes only the columns of the
// fields asked for, which makes a pass that needs a few fields (counting
// events per function, say) much cheaper than one that fills whole events.
//
// Time, SKB and ProbeID are always filled: they cost nothing extra, since
// the decoder needs them to walk a chunk. The zero value means every field;
// bits outside [AllFields] are ignored (a Fields of only such bits asks
// for Time, SKB and ProbeID alone).
type Fields uint32

// Event fields that can be projected. Each names the [Event] field of the
// same name (FieldStack: StackID, FieldPayload: PayloadID, FieldBlobs: all
// of Blobs).
const (
	FieldTrackID Fields = 1 << iota
	FieldCaller
	FieldCPU
	FieldPID
	FieldComm
	FieldNetns
	FieldMark
	FieldIfindex
	FieldLen
	FieldMTU
	FieldProtocol
	FieldPktType
	FieldFlags
	FieldDropReason
	FieldRetval
	FieldTuple
	FieldStack
	FieldPayload
	FieldBlobs

	// AllFields selects every field (what the zero value means too).
	AllFields Fields = 1<<iota - 1
)

// fieldMask maps each Field bit (by position) to the mask bit of the
// column that carries it.
var fieldMask = [...]uint64{
	mTrack, mCaller, mCPU, mPID, mComm, mNetns, mMark, mIfindex, mLen, mMTU,
	mProtocol, mPktType, mFlags, mDrop, mRetval, mTuple, mStack, mPayload, mBlobs,
}

// maskBits returns the chunk mask bits (m*) of the columns that carry fs;
// mProbe is always included. The zero Fields is every field.
func (fs Fields) maskBits() uint64 {
	if fs == 0 {
		fs = AllFields
	}
	bits := mProbe
	for i, m := range fieldMask {
		if fs&(1<<i) != 0 {
			bits |= m
		}
	}
	return bits
}
