package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// BPFMapOp is the operation of a [BPFMapAccess].
type BPFMapOp uint8

// BPF map operations (the op byte of a BlobBPFMap blob).
const (
	BPFMapLookup BPFMapOp = iota + 1
	BPFMapUpdate
	BPFMapDelete
)

// String returns "lookup", "update", "delete" or "op(N)".
func (o BPFMapOp) String() string {
	switch o {
	case BPFMapLookup:
		return "lookup"
	case BPFMapUpdate:
		return "update"
	case BPFMapDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// BPFMapFlags are the flag bits of a [BPFMapAccess].
type BPFMapFlags uint8

// BPF map access flags.
const (
	// BPFMapNotFound: the lookup found no element (no value).
	BPFMapNotFound BPFMapFlags = 1 << iota
	// BPFMapKeyError: the key could not be read (no key bytes).
	BPFMapKeyError
	// BPFMapValueError: the value could not be read (no value bytes).
	BPFMapValueError
	// BPFMapValuePerCPU: the lookup returned a per-CPU element the
	// recorder does not follow (no value bytes).
	BPFMapValuePerCPU
)

// BPFMapHeaderSize is the size of the fixed part of a BlobBPFMap blob.
const BPFMapHeaderSize = 48

// BPFMapAccess is one BPF map operation of a traced tc/XDP program, the
// content of a [BlobBPFMap] blob (SPEC.md 4.7.1). Key and Value may be
// shorter than KeySize and ValueSize: the recorder copies a bounded number
// of bytes.
type BPFMapAccess struct {
	ID          uint32 // map id
	Type        uint32 // enum bpf_map_type (1 hash, 2 array, ...)
	KeySize     uint32 // the map's key size
	ValueSize   uint32 // the map's value size
	Name        string // map name (up to 15 bytes)
	Op          BPFMapOp
	Flags       BPFMapFlags
	UpdateFlags uint64 // update: BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2, BPF_F_LOCK 4
	Key         []byte // recorded key bytes (aliases the blob)
	Value       []byte // recorded value bytes: the value updated or found (aliases the blob)
}

// KeyTruncated says whether fewer key bytes were recorded than the key has.
func (a *BPFMapAccess) KeyTruncated() bool {
	return a.Flags&BPFMapKeyError == 0 && uint32(len(a.Key)) < a.KeySize
}

// ValueTruncated says whether fewer value bytes were recorded than the
// operation's value has.
func (a *BPFMapAccess) ValueTruncated() bool {
	hasValue := a.Op == BPFMapUpdate || a.Op == BPFMapLookup && a.Flags&(BPFMapNotFound|BPFMapValuePerCPU) == 0
	return hasValue && a.Flags&BPFMapValueError == 0 && uint32(len(a.Value)) < a.ValueSize
}

// ParseBPFMapAccess decodes a [BlobBPFMap] blob. Key and Value alias data.
// Bytes after the value are ignored (later minor versions may add fields
// there). A blob too short for its header or its key and value lengths is
// an error matching [ErrCorrupt].
func ParseBPFMapAccess(data []byte) (*BPFMapAccess, error) {
	if len(data) < BPFMapHeaderSize {
		return nil, corruptf("bpf map blob of %d bytes, header needs %d", len(data), BPFMapHeaderSize)
	}
	le := binary.LittleEndian
	name := data[16:32]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	a := &BPFMapAccess{
		ID:          le.Uint32(data[0:]),
		Type:        le.Uint32(data[4:]),
		KeySize:     le.Uint32(data[8:]),
		ValueSize:   le.Uint32(data[12:]),
		Name:        string(name),
		Op:          BPFMapOp(data[32]),
		Flags:       BPFMapFlags(data[33]),
		UpdateFlags: le.Uint64(data[40:]),
	}
	kl, vl := int(le.Uint16(data[34:])), int(le.Uint16(data[36:]))
	rest := data[BPFMapHeaderSize:]
	if kl+vl > len(rest) {
		return nil, corruptf("bpf map blob: key of %d and value of %d bytes, %d bytes left", kl, vl, len(rest))
	}
	a.Key = rest[:kl:kl]
	a.Value = rest[kl : kl+vl : kl+vl]
	return a, nil
}

// AppendBPFMapAccess appends a's blob encoding to b (what the recorder's
// kernel program writes; for tests and synthetic captures). Name is cut to
// 15 bytes; Key and Value to 65535 bytes.
func AppendBPFMapAccess(b []byte, a *BPFMapAccess) []byte {
	le := binary.LittleEndian
	key, value := a.Key[:min(len(a.Key), 0xffff)], a.Value[:min(len(a.Value), 0xffff)]
	var h [BPFMapHeaderSize]byte
	le.PutUint32(h[0:], a.ID)
	le.PutUint32(h[4:], a.Type)
	le.PutUint32(h[8:], a.KeySize)
	le.PutUint32(h[12:], a.ValueSize)
	copy(h[16:31], a.Name)
	h[32] = byte(a.Op)
	h[33] = byte(a.Flags)
	le.PutUint16(h[34:], uint16(len(key)))
	le.PutUint16(h[36:], uint16(len(value)))
	le.PutUint64(h[40:], a.UpdateFlags)
	b = append(b, h[:]...)
	b = append(b, key...)
	return append(b, value...)
}
