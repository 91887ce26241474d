package format

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"slices"
	"testing"
)

// rawSection builds a section with an arbitrary (possibly lying) header.
func rawSection(t SectionType, flags uint8, raw uint32, count uint32, payload []byte) []byte {
	h := sectionHeader{Type: t, Flags: flags, Stored: uint32(len(payload)), Raw: raw, Count: count,
		CRC: crc32.Checksum(payload, castagnoli)}
	return append(h.marshal(nil), payload...)
}

// bombFrame is a zstd frame that declares size bytes of content (single
// segment, so also a window of that size) but holds one 128 KiB RLE block.
func bombFrame(size uint64) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0} // magic, FHD: 8-byte FCS, single segment
	b = binary.LittleEndian.AppendUint64(b, size)
	blk := uint32(128<<10)<<3 | 1<<1 | 1 // RLE, last block
	b = append(b, byte(blk), byte(blk>>8), byte(blk>>16), 0)
	return b
}

// TestHostileSizes: tiny files whose headers claim huge sizes must fail
// with ErrCorrupt without allocating anything like those sizes.
func TestHostileSizes(t *testing.T) {
	hp := appendHeader(nil, &Header{})
	header := rawSection(SectionHeader, 0, uint32(len(hp)), 0, hp)
	tests := []struct {
		name    string
		section []byte
	}{
		{"bomb-1GiB", rawSection(SectionEvents, sectionZstd, 1<<30, 1, bombFrame(1<<30))},
		{"bomb-40MiB", rawSection(SectionEvents, sectionZstd, 40<<20, 1, bombFrame(40<<20))},
		{"fcs-mismatch", rawSection(SectionEvents, sectionZstd, 1<<20, 1, bombFrame(1<<29))},
		{"huge-count", rawSection(SectionEvents, 0, 4, 1<<30, []byte{0, 0, 0, 0})},
		{"huge-stack-count", rawSection(SectionStacks, 0, 4, 1<<30, []byte{1, 2, 3, 4})},
		{"huge-probe-count", rawSection(SectionProbes, 0, 10, 1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := slicesConcat(appendPreamble(nil, 0), header, tt.section)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := readAll(file)
			runtime.ReadMemStats(&after)
			var se *SectionError
			if !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLimit)) || !errors.As(err, &se) || se.Type != SectionType(tt.section[4]) {
				t.Errorf("got %v, want ErrCorrupt or ErrLimit in the %s section", err, SectionType(tt.section[4]))
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Errorf("reading %d bytes allocated %d MiB", len(file), grew>>20)
			}
		})
	}
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// readAll opens b and touches every section; it returns the first error.
func readAll(b []byte) error {
	f, err := NewFile(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		return err
	}
	defer f.Close()
	it := f.Events(nil)
	var e Event
	for it.Next(&e) {
	}
	if err := it.Err(); err != nil {
		return err
	}
	if f.Summary().Stacks > 0 {
		if _, err := f.Stack(1); err != nil {
			return err
		}
	}
	return nil
}

// TestSortByKey compares the adaptive sort with a stable reference on
// nearly sorted and on shuffled input (which takes the fallback).
func TestSortByKey(t *testing.T) {
	tests := []struct {
		name string
		keys func(i int) uint64
	}{
		{"sorted", func(i int) uint64 { return uint64(i) }},
		{"nearly", func(i int) uint64 { return uint64(i/4*4 + (3 - i%4)) }},
		{"duplicates", func(i int) uint64 { return uint64(i % 7) }},
		{"shuffled", func(i int) uint64 { return uint64(i*7919) % 1009 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 5000
			keys := make([]uint64, n)
			perm := make([]int32, n)
			for i := range keys {
				keys[i], perm[i] = tt.keys(i), int32(i)
			}
			want := make([]int32, n)
			copy(want, perm)
			ref := make([]uint64, n)
			copy(ref, keys)
			slices.SortStableFunc(want, func(a, b int32) int { return cmp.Compare(ref[a], ref[b]) })
			sortByKey(perm, keys)
			if !slices.Equal(perm, want) {
				t.Error("order differs from a stable sort")
			}
			if !slices.IsSorted(keys) {
				t.Error("keys not sorted")
			}
		})
	}
}
