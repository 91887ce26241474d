package format

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// refDecodeColumn is decodeColumn written the obvious way.
func refDecodeColumn(src []byte, u32 bool) ([]uint64, bool) {
	var out []uint64
	for off := 0; off < len(src); {
		v, k := binary.Uvarint(src[off:])
		if k <= 0 || (u32 && v > 1<<32-1) {
			return out, false
		}
		out = append(out, v)
		off += k
	}
	return out, true
}

// TestDecodeColumn compares the bulk column decoder (with its eight-bytes
// fast path) with binary.Uvarint on columns of mixed value sizes, and on
// cut and overflowing ones.
func TestDecodeColumn(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name  string
		small int // percent of one-byte values
		big   bool
		u32   bool
		two   bool // the others take two bytes
	}{
		{"one byte", 100, false, false, false},
		{"mostly one byte", 95, false, true, false},
		{"mixed", 50, false, false, false},
		{"two bytes", 0, false, false, true},
		{"mostly two bytes", 20, false, true, true},
		{"wide", 10, true, false, false},
		{"wide u32", 10, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 200 {
				var src []byte
				for range r.IntN(100) {
					var v uint64
					switch {
					case r.IntN(100) < tt.small:
						v = r.Uint64N(128)
					case tt.big:
						v = r.Uint64() >> r.UintN(64)
					case tt.two:
						v = 128 + r.Uint64N(1<<14-128)
					default:
						v = r.Uint64N(1 << 20)
					}
					src = binary.AppendUvarint(src, v)
				}
				switch round % 4 {
				case 1:
					if len(src) > 0 {
						src = src[:r.IntN(len(src))] // cut
					}
				case 2:
					src = append(src, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f) // overflow
				}
				want, ok := refDecodeColumn(src, tt.u32)
				got, err := decodeColumn(nil, src, tt.u32)
				if (err == nil) != ok {
					t.Fatalf("round %d: error %v, reference ok %v", round, err, ok)
				}
				if ok && !slices.Equal(got, want) {
					t.Fatalf("round %d: decoded %v, want %v", round, got, want)
				}
			}
		})
	}
}
