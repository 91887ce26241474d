package format

import (
	"net/netip"
	"time"
)

// This file defines the data model of a capture: the Go values that
// [Writer] accepts and [File] hands back. The on-disk encoding is described
// in SPEC.md.

// EventFlags says which optional fields of an [Event] are valid.
type EventFlags uint16

// Event flag bits.
const (
	// FlagDropReason: DropReason holds a value of the kernel's
	// enum skb_drop_reason (rendered with the capture's BTF).
	FlagDropReason EventFlags = 1 << iota
	// FlagRetval: Retval holds the traced function's or program's return
	// value (tc/XDP verdict, fexit return value).
	FlagRetval
	// FlagExit: the event was emitted when the function returned (fexit /
	// kretprobe / program exit), not on entry.
	FlagExit
	// FlagTracked: the event passed because its skb was being tracked
	// (--filter-track-skb), not because it matched the filters itself.
	FlagTracked
	// FlagXDP: the event describes an xdp_buff, not an sk_buff.
	FlagXDP
	// FlagNonSKB: the event comes from a function that has no skb argument
	// (--filter-non-skb-funcs).
	FlagNonSKB
	// FlagTrigger: the event's packet matched the flight recorder's
	// trigger expression (pwru-record --trigger-pcap), evaluated in the
	// kernel.
	FlagTrigger
)

// Blob kinds index [Event.Blobs]: raw bytes attached to an event.
const (
	BlobSKB        = iota // raw struct sk_buff bytes (--output-skb)
	BlobSharedInfo        // raw struct skb_shared_info bytes (--output-skb-shared-info)
	BlobCB                // skb->cb, 48 bytes (--output-skb-cb)
	BlobMeta              // user-chosen metadata fields, 8 bytes each, in option order (--output-skb-metadata)
	BlobXDPMeta           // user-chosen xdp_buff fields, 8 bytes each, in option order (--output-xdp-metadata)
	BlobBPFMap            // BPF map key/value bytes (--output-bpfmap)
	NumBlobKinds
)

// Tuple is an L3/L4 flow tuple as the kernel program parsed it.
// The zero value means "no tuple".
type Tuple struct {
	Src, Dst     netip.Addr // IPv4 or IPv6; invalid when the skb had no IP header
	Sport, Dport uint16     // host byte order; 0 for protocols without ports
	Proto        uint8      // IPPROTO_* (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)
}

// Event is one probe hit: what the kernel program emitted, with references
// to the deduplicated stacks, payloads and blobs stored beside it.
//
// IDs are 1-based; 0 means "none".
type Event struct {
	Time     uint64 // kernel monotonic clock, ns (bpf_ktime_get_ns); see Header.MonoOffset
	SKB      uint64 // address of the sk_buff (or xdp_buff with FlagXDP)
	TrackID  uint64 // stable id shared by an skb and its clones (0 = not tracked)
	Caller   uint64 // return address of the probed function (0 = not recorded)
	ProbeID  uint32 // index into File.Probes (the function or program hit)
	CPU      uint32
	PID      uint32 // thread group id
	Comm     string // task comm
	Netns    uint32 // network namespace inode
	Mark     uint32
	Ifindex  uint32
	Len      uint32
	MTU      uint32
	Protocol uint16 // skb->protocol, host byte order (0x0800 IPv4, 0x86dd IPv6)
	PktType  uint8
	Flags    EventFlags

	DropReason uint32 // enum skb_drop_reason value (FlagDropReason)
	Retval     int64  // return value / verdict (FlagRetval)

	Tuple Tuple

	StackID   uint32               // File.Stack
	PayloadID uint32               // File.Packet: the payload captured at this event or most recently for this skb
	Blobs     [NumBlobKinds]uint32 // File.Blob, indexed by Blob* kind
}

// ProbeKind says how a probe was attached. It matters for symbolization:
// kprobe, kprobe-multi and fentry report different instruction addresses.
type ProbeKind uint8

// Probe kinds.
const (
	ProbeKprobe ProbeKind = iota + 1
	ProbeKprobeMulti
	ProbeFentry
	ProbeFexit
	ProbeTracepoint
	ProbeTC  // fentry/fexit on a tc BPF program
	ProbeXDP // fentry/fexit on an XDP BPF program
)

// Probe describes one attach point: a kernel function or a BPF program.
type Probe struct {
	ID     uint32    // referenced by Event.ProbeID
	Name   string    // function name, or program name for tc/XDP
	Module string    // kernel module ("" = vmlinux)
	Addr   uint64    // resolved function address at attach time (0 = unknown)
	Kind   ProbeKind // how it was attached
	SKBArg uint8     // 1-based position of the struct sk_buff * argument (0 = none)
	ProgID uint32    // BPF program id for ProbeTC / ProbeXDP
	Error  string    // non-empty: attaching failed with this error and the probe never fired
}

// Interface is one network device in one network namespace.
type Interface struct {
	Netns   uint32 // network namespace inode
	Ifindex uint32
	Name    string
	MAC     []byte
	MTU     uint32
	Kind    string // "veth", "bridge", "vxlan", ... ("" = unknown)
	Seen    uint64 // kernel time the device was first seen (0 = present at start)
}

// Netns names a network namespace.
type Netns struct {
	Inode uint32
	Name  string // e.g. the name under /run/netns ("" = unnamed)
}

// Packet is a captured payload: the first snaplen bytes of an skb from its
// MAC header (or network header when it has none). It is stored as a pcapng
// Enhanced Packet Block.
type Packet struct {
	Time    uint64 // kernel monotonic ns of the event that captured it
	Netns   uint32
	Ifindex uint32
	OrigLen uint32 // skb length; len(Data) may be shorter (snaplen)
	L3      bool   // Data starts at the network header (no MAC header)
	Data    []byte
}

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

// Losses counts what a capture does not contain. The writer stores it
// periodically and at the end; the last copy wins.
type Losses struct {
	// RingbufLost counts per CPU the events the kernel program could not
	// reserve in the ring buffer.
	RingbufLost []uint64
	// ProbesFailed is the number of probes that failed to attach (their
	// Probe.Error says why).
	ProbesFailed uint32
	// Other holds named counters of anything else skipped, e.g.
	// "stack_lost", "payload_truncated", "max_events_reached".
	Other map[string]uint64
}

// TotalLost is the number of events lost in the kernel.
func (l *Losses) TotalLost() uint64 {
	var n uint64
	for _, v := range l.RingbufLost {
		n += v
	}
	return n
}
