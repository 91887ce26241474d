package format

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBPFMapAccessRoundTrip(t *testing.T) {
	tests := []struct {
		name           string
		a              BPFMapAccess
		keyTr, valueTr bool
	}{
		{"update", BPFMapAccess{ID: 12, Type: 1, KeySize: 4, ValueSize: 8, Name: "vmt_ports", Op: BPFMapUpdate,
			Key: []byte{0x71, 0x17, 0, 0}, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0}}, false, false},
		{"lookup miss", BPFMapAccess{ID: 1, KeySize: 4, ValueSize: 8, Name: "m", Op: BPFMapLookup, Flags: BPFMapNotFound,
			Key: []byte{1, 2, 3, 4}, Value: []byte{}}, false, false},
		{"delete", BPFMapAccess{ID: 2, KeySize: 4, ValueSize: 8, Op: BPFMapDelete, Key: []byte{1, 2, 3, 4}, Value: []byte{}}, false, false},
		{"truncated", BPFMapAccess{ID: 3, KeySize: 200, ValueSize: 1000, Name: "fifteen_bytes_n", Op: BPFMapUpdate, UpdateFlags: 2,
			Key: bytes.Repeat([]byte{7}, 128), Value: bytes.Repeat([]byte{9}, 256)}, true, true},
		{"key unreadable", BPFMapAccess{ID: 4, KeySize: 4, ValueSize: 4, Op: BPFMapLookup, Flags: BPFMapKeyError,
			Key: []byte{}, Value: []byte{5, 5, 5, 5}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := AppendBPFMapAccess(nil, &tt.a)
			if want := BPFMapHeaderSize + len(tt.a.Key) + len(tt.a.Value); len(blob) != want {
				t.Fatalf("blob of %d bytes, want %d", len(blob), want)
			}
			// Trailing bytes of a later minor version are ignored.
			got, err := ParseBPFMapAccess(append(blob, 0xee, 0xee))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.a, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.KeyTruncated() != tt.keyTr || got.ValueTruncated() != tt.valueTr {
				t.Errorf("truncated key %v value %v, want %v %v", got.KeyTruncated(), got.ValueTruncated(), tt.keyTr, tt.valueTr)
			}
		})
	}
}

func TestParseBPFMapAccessErrors(t *testing.T) {
	good := AppendBPFMapAccess(nil, &BPFMapAccess{Op: BPFMapUpdate, KeySize: 4, ValueSize: 4, Key: []byte{1, 2, 3, 4}, Value: []byte{5, 6, 7, 8}})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", good[:BPFMapHeaderSize-1]},
		{"value cut", good[:len(good)-1]},
		{"key cut", good[:BPFMapHeaderSize+2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseBPFMapAccess(tt.data)
			if !errors.Is(err, ErrCorrupt) || a != nil {
				t.Errorf("ParseBPFMapAccess = %v, %v; want nil, ErrCorrupt", a, err)
			}
		})
	}
}

func TestBPFMapOpString(t *testing.T) {
	for op, want := range map[BPFMapOp]string{BPFMapLookup: "lookup", BPFMapUpdate: "update", BPFMapDelete: "delete", 9: "op(9)"} {
		if got := op.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(op), got, want)
		}
	}
}

// FuzzParseBPFMapAccess: error xor result, and a result re-encodes to the
// bytes it was parsed from.
func FuzzParseBPFMapAccess(f *testing.F) {
	f.Add(AppendBPFMapAccess(nil, &BPFMapAccess{ID: 1, KeySize: 4, ValueSize: 8, Name: "m", Op: BPFMapUpdate,
		Key: []byte{1, 0, 0, 0}, Value: []byte{2, 0, 0, 0, 0, 0, 0, 0}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseBPFMapAccess(data)
		if (err == nil) == (a == nil) {
			t.Fatalf("ParseBPFMapAccess = %v, %v: want exactly one", a, err)
		}
		if err != nil {
			return
		}
		_ = a.Op.String()
		_, _ = a.KeyTruncated(), a.ValueTruncated()
		again, err := ParseBPFMapAccess(AppendBPFMapAccess(nil, a))
		if err != nil {
			t.Fatalf("re-encoded blob does not parse: %v", err)
		}
		if again.ID != a.ID || !bytes.Equal(again.Key, a.Key) || !bytes.Equal(again.Value, a.Value) || again.Op != a.Op {
			t.Fatalf("re-encoding changed the access: %+v -> %+v", a, again)
		}
	})
}
