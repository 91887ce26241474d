package format

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// This file is the raw container layer: the file preamble, section
// headers and the footer. It reads and writes sections without judging
// their contents. SPEC.md describes the same layout byte by byte.

// Format version written by this package. A reader accepts any minor
// version of its major version; see SPEC.md "Versioning". VersionMinor
// is the newest minor written: a file whose header stores no field of
// 1.1 is written as 1.0, byte for byte what older writers wrote.
const (
	VersionMajor = 1
	VersionMinor = 1
)

// fileMagic starts every capture (8 bytes).
var fileMagic = [8]byte{0x89, 'P', 'W', 'R', 'U', '\r', '\n', 0x1a}

// footerMagic ends a complete capture (8 bytes).
var footerMagic = [8]byte{'P', 'W', 'R', 'U', 'E', 'N', 'D', '\n'}

// sectionSync starts every section header.
const sectionSync uint32 = 0x53455750 // "PWES" little endian

const (
	preambleSize      = 16 // magic, major u16, minor u16, reserved u32
	sectionHeaderSize = 44
	footerSize        = 16 // trailer offset u64, footerMagic

	// maxSectionStored bounds the stored (compressed) payload of one
	// section: a header claiming more is corrupt.
	maxSectionStored = 1 << 30
	// maxSectionRaw bounds the decompressed payload of one section: a
	// header claiming more is corrupt. Each type has a tighter bound
	// (maxRaw) beyond which the reader refuses to read a section.
	maxSectionRaw = 1 << 30

	// maxStackAddrs bounds the addresses of one stack and maxBlobBytes
	// the bytes of one blob (the writer refuses more), so that the
	// sections holding them stay within maxRaw.
	maxStackAddrs = 1024
	maxBlobBytes  = 1 << 20
)

// maxRaw bounds the decompressed (and the stored) payload of a section of
// type t: what the writer can produce, with room to spare. The reader
// refuses a larger section with ErrLimit before reading it, and decodes
// one section of each of the stacks, blobs and packets types at a time,
// so that its memory stays bounded (SPEC.md "Reader bounds").
func maxRaw(t SectionType) int64 {
	switch t {
	case SectionEvents:
		return 64 << 20 // and MaxIterMemory for the chunks open together
	case SectionBTF, SectionKallsyms:
		return 32 << 20
	case SectionStacks:
		return 2 * flushBufBytes // flushed at 1 MiB; a stack is at most 10 KiB
	case SectionBlobs:
		return 2*flushBufBytes + maxBlobBytes
	case SectionPackets:
		return 2*flushBufBytes + maxPacketData
	}
	return 16 << 20
}

// SectionType identifies what a section holds.
type SectionType uint8

// Section types. Values are part of the file format.
const (
	SectionHeader     SectionType = 1
	SectionBTF        SectionType = 2
	SectionKallsyms   SectionType = 3
	SectionProbes     SectionType = 4
	SectionInterfaces SectionType = 5
	SectionEvents     SectionType = 6
	SectionStacks     SectionType = 7
	SectionBlobs      SectionType = 8
	SectionPackets    SectionType = 9
	SectionLosses     SectionType = 10
	SectionTrailer    SectionType = 11
)

var sectionNames = [...]string{
	SectionHeader:     "header",
	SectionBTF:        "btf",
	SectionKallsyms:   "kallsyms",
	SectionProbes:     "probes",
	SectionInterfaces: "interfaces",
	SectionEvents:     "events",
	SectionStacks:     "stacks",
	SectionBlobs:      "blobs",
	SectionPackets:    "packets",
	SectionLosses:     "losses",
	SectionTrailer:    "trailer",
}

// String returns the section type's name, e.g. "events".
func (t SectionType) String() string {
	if int(t) < len(sectionNames) && sectionNames[t] != "" {
		return sectionNames[t]
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// Section flags.
const (
	sectionZstd = 1 << 0 // payload is one zstd frame
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sectionHeader is the fixed 44-byte header in front of every section
// payload.
type sectionHeader struct {
	Type   SectionType
	Flags  uint8
	Stored uint32 // payload bytes in the file
	Raw    uint32 // payload bytes after decompression
	A, B   uint64 // type-specific: first time / first ID, last time
	Count  uint32 // type-specific: number of events / records
	CRC    uint32 // CRC32C of the stored payload
}

func (h *sectionHeader) marshal(b []byte) []byte {
	start := len(b)
	b = appendU32(b, sectionSync)
	b = append(b, byte(h.Type), h.Flags, 0, 0)
	b = appendU32(b, h.Stored)
	b = appendU32(b, h.Raw)
	b = appendU64(b, h.A)
	b = appendU64(b, h.B)
	b = appendU32(b, h.Count)
	b = appendU32(b, h.CRC)
	return appendU32(b, crc32.Checksum(b[start:], castagnoli))
}

// unmarshal parses a header from exactly sectionHeaderSize bytes.
func (h *sectionHeader) unmarshal(p []byte) error {
	le := binary.LittleEndian
	if le.Uint32(p[0:]) != sectionSync {
		return corruptf("bad section sync 0x%08x", le.Uint32(p[0:]))
	}
	if got, want := crc32.Checksum(p[:40], castagnoli), le.Uint32(p[40:]); got != want {
		return corruptf("section header checksum 0x%08x, want 0x%08x", got, want)
	}
	*h = sectionHeader{
		Type:   SectionType(p[4]),
		Flags:  p[5],
		Stored: le.Uint32(p[8:]),
		Raw:    le.Uint32(p[12:]),
		A:      le.Uint64(p[16:]),
		B:      le.Uint64(p[24:]),
		Count:  le.Uint32(p[32:]),
		CRC:    le.Uint32(p[36:]),
	}
	if h.Stored > maxSectionStored || h.Raw > maxSectionRaw {
		return corruptf("section size %d (%d decompressed) exceeds the limit", h.Stored, h.Raw)
	}
	if h.Flags&sectionZstd == 0 && h.Raw != h.Stored {
		return corruptf("uncompressed section has raw size %d != stored size %d", h.Raw, h.Stored)
	}
	return nil
}

// check judges the type-specific fields of a header that unmarshal
// accepted: an events section holds 1 to maxChunkEvents events, its
// first time not after its last.
func (h *sectionHeader) check() error {
	if h.Type == SectionEvents && (h.A > h.B || h.Count == 0 || h.Count > maxChunkEvents) {
		return corruptf("%d events from time %d to %d", h.Count, h.A, h.B)
	}
	return nil
}

// appendPreamble appends the file preamble of format VersionMajor.minor.
func appendPreamble(b []byte, minor uint16) []byte {
	b = append(b, fileMagic[:]...)
	b = binary.LittleEndian.AppendUint16(b, VersionMajor)
	b = binary.LittleEndian.AppendUint16(b, minor)
	return appendU32(b, 0)
}
