package format

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"
)

// This file holds the capture header: its data model and its encoding
// (SPEC 4.1).

// Uname is the recording host's uname(2).
type Uname struct {
	Sysname, Release, Version, Machine string
}

// Header describes the recording: host, kernel, time base, options.
type Header struct {
	WriterVersion string // e.g. "pwru-record v0.1.0"
	Hostname      string
	Uname         Uname
	BootID        string    // /proc/sys/kernel/random/boot_id
	Start         time.Time // wall-clock time at start
	// MonoOffset converts kernel monotonic time to wall time:
	// wall ns since the Unix epoch = Event.Time + MonoOffset.
	MonoOffset  int64
	CommandLine []string          // os.Args of the recorder
	Options     map[string]string // every recorder option, flag name -> value
	PcapFilter  string            // the pcap filter as typed
	Snaplen     uint32
	// Redaction says what was removed for sharing (pwru-replay slice
	// --redact, --headers-only); 0 for a recording as made.
	Redaction Redaction
	// KernelLacks names what the recording kernel could not give the
	// recorder (the Lack* values; a newer writer may add others), so the
	// analyzer can say why something is missing. Empty in captures of
	// writers before it was added.
	KernelLacks []string

	// Fields of format 1.1 (SPEC 4.1); each is zero in older captures,
	// where [Header.Order] and [Header.Metadata] fall back to what those
	// captures hold.

	// ByteOrder is the recording kernel's byte order, in which blobs and
	// stored struct bytes are encoded.
	ByteOrder ByteOrder
	// SKBMetadata are the sk_buff expressions recorded in each event's
	// BlobMeta blob (8 bytes each, in this order), e.g. "skb->hash".
	SKBMetadata []string
	// XDPMetadata are the xdp_buff expressions recorded in each event's
	// BlobXDPMeta blob (8 bytes each, in this order).
	XDPMetadata []string
}

// ByteOrder is the byte order of the recording kernel (Header.ByteOrder).
type ByteOrder uint8

// Byte orders.
const (
	ByteOrderUnknown ByteOrder = iota // not stored (a 1.0 capture)
	LittleEndian
	BigEndian
)

// NativeByteOrder returns the byte order of the machine running this
// code: what a recorder stores, since it records its own kernel.
func NativeByteOrder() ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return LittleEndian
	}
	return BigEndian
}

// bigEndianMachines are the uname machines of big-endian kernels: how a
// 1.0 capture, which stores no byte order, is read.
var bigEndianMachines = []string{"s390x", "ppc64", "mips", "mips64", "sparc64"}

// Order returns the byte order of the capture's blobs: [Header.ByteOrder]
// when stored, otherwise (a 1.0 capture) guessed from Uname.Machine,
// little-endian unless the machine is a known big-endian one.
func (h *Header) Order() binary.ByteOrder {
	switch h.ByteOrder {
	case LittleEndian:
		return binary.LittleEndian
	case BigEndian:
		return binary.BigEndian
	}
	if slices.Contains(bigEndianMachines, h.Uname.Machine) {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Option keys under which 1.0 captures stored the metadata expressions,
// as comma-separated text: the recorder's flag names of the time. Read
// only for captures without [Header.SKBMetadata] / [Header.XDPMetadata].
const (
	legacySKBMetadataOption = "output-skb-metadata"
	legacyXDPMetadataOption = "output-xdp-metadata"
)

// Metadata returns the expressions whose values the blobs of kind
// (BlobMeta or BlobXDPMeta) hold, in order: the stored field, or for a
// capture without it the recorder option of its time, split at commas.
// Any other kind has none.
func (h *Header) Metadata(kind int) []string {
	var stored []string
	var option string
	switch kind {
	case BlobMeta:
		stored, option = h.SKBMetadata, legacySKBMetadataOption
	case BlobXDPMeta:
		stored, option = h.XDPMetadata, legacyXDPMetadataOption
	default:
		return nil
	}
	if len(stored) > 0 {
		return stored
	}
	v := strings.TrimSpace(h.Options[option])
	if v == "" {
		return nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// minorVersion is the format minor version h needs: 1 when it stores a
// field of 1.1, else 0 (the file is then byte for byte a 1.0 file).
func (h *Header) minorVersion() uint16 {
	if h.ByteOrder != ByteOrderUnknown || len(h.SKBMetadata) > 0 || len(h.XDPMetadata) > 0 {
		return 1
	}
	return 0
}

// Values of Header.KernelLacks.
const (
	LackModuleBTF    = "module-btf"    // no module BTF: module functions are not traced
	LackDropReason   = "drop-reason"   // skb:kfree_skb passes no reason: drops carry none
	LackAttachCookie = "attach-cookie" // no bpf_get_attach_cookie: kprobes told apart by address
	LackKprobeMulti  = "kprobe-multi"  // no kprobe.multi links: one kprobe per function
)

// Lacks tells whether the recording kernel lacked what (a Lack* value).
func (h *Header) Lacks(what string) bool {
	for _, l := range h.KernelLacks {
		if l == what {
			return true
		}
	}
	return false
}

// Redaction bits of [Header.Redaction].
type Redaction uint64

const (
	// RedactAddresses: every kernel and heap address (skbs, stacks,
	// callers, kallsyms, probes, pointers in blobs) is a stable
	// pseudonym; kernel text keeps its offsets within each module, so
	// symbolization is unchanged.
	RedactAddresses Redaction = 1 << iota
	// RedactPayloads: packet bytes after the L2-L4 headers are zeroes.
	RedactPayloads
)

func appendHeader(b []byte, h *Header) []byte {
	b = appendString(b, h.WriterVersion)
	b = appendString(b, h.Hostname)
	b = appendString(b, h.Uname.Sysname)
	b = appendString(b, h.Uname.Release)
	b = appendString(b, h.Uname.Version)
	b = appendString(b, h.Uname.Machine)
	b = appendString(b, h.BootID)
	var start int64
	if !h.Start.IsZero() {
		start = h.Start.UnixNano()
	}
	b = appendVarint(b, start)
	b = appendVarint(b, h.MonoOffset)
	b = appendUvarint(b, uint64(len(h.CommandLine)))
	for _, s := range h.CommandLine {
		b = appendString(b, s)
	}
	b = appendUvarint(b, uint64(len(h.Options)))
	for _, k := range sortedKeys(h.Options) {
		b = appendString(b, k)
		b = appendString(b, h.Options[k])
	}
	b = appendString(b, h.PcapFilter)
	b = appendUvarint(b, uint64(h.Snaplen))
	// Trailing fields added after 1.0 (SPEC 4.1), written up to the last
	// one that is not zero/empty: a recording as made, on a kernel that
	// lacks nothing, by a writer that stores none of the 1.1 fields, has
	// a header byte for byte as older writers wrote it.
	last := 0
	switch {
	case len(h.XDPMetadata) > 0:
		last = 5
	case len(h.SKBMetadata) > 0:
		last = 4
	case h.ByteOrder != ByteOrderUnknown:
		last = 3
	case len(h.KernelLacks) > 0:
		last = 2
	case h.Redaction != 0:
		last = 1
	}
	if last >= 1 {
		b = appendUvarint(b, uint64(h.Redaction))
	}
	if last >= 2 {
		b = appendStrings(b, h.KernelLacks)
	}
	if last >= 3 {
		b = appendUvarint(b, uint64(h.ByteOrder))
	}
	if last >= 4 {
		b = appendStrings(b, h.SKBMetadata)
	}
	if last >= 5 {
		b = appendStrings(b, h.XDPMetadata)
	}
	return b
}

// appendStrings appends uvarint n then n strings.
func appendStrings(b []byte, ss []string) []byte {
	b = appendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// strList decodes uvarint n then n strings (nil when n is 0).
func (d *decoder) strList() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func decodeHeader(p []byte) (*Header, error) {
	d := decoder{b: p}
	h := &Header{
		WriterVersion: d.str(),
		Hostname:      d.str(),
		Uname:         Uname{Sysname: d.str(), Release: d.str(), Version: d.str(), Machine: d.str()},
		BootID:        d.str(),
	}
	if start := d.varint(); start != 0 {
		h.Start = time.Unix(0, start).UTC()
	}
	h.MonoOffset = d.varint()
	if n := d.count(1); n > 0 {
		h.CommandLine = make([]string, n)
		for i := range h.CommandLine {
			h.CommandLine[i] = d.str()
		}
	}
	if n := d.count(2); n > 0 {
		h.Options = make(map[string]string, n)
		for range n {
			k := d.str()
			h.Options[k] = d.str()
		}
	}
	h.PcapFilter = d.str()
	h.Snaplen = d.u32v()
	// Trailing fields added after 1.0, each absent = zero.
	if d.remaining() > 0 {
		h.Redaction = Redaction(d.uvarint())
	}
	if d.err == nil && d.remaining() > 0 {
		h.KernelLacks = d.strList()
	}
	if d.err == nil && d.remaining() > 0 {
		h.ByteOrder = ByteOrder(d.uvarint())
	}
	if d.err == nil && d.remaining() > 0 {
		h.SKBMetadata = d.strList()
	}
	if d.err == nil && d.remaining() > 0 {
		h.XDPMetadata = d.strList()
	}
	if d.err != nil {
		return nil, asCorrupt(d.err)
	}
	return h, nil
}
