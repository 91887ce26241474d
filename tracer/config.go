package tracer

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// Backends accepted in [Config.Backend].
const (
	BackendAuto        = "auto"
	BackendKprobe      = "kprobe"
	BackendKprobeMulti = "kprobe-multi"
	BackendFentry      = "fentry"
)

// Defaults of [Config].
const (
	DefaultSnaplen     = 128
	DefaultRingbufSize = 8 << 20
	DefaultBatch       = 10
	// MaxSnaplen is the largest payload the kernel program copies.
	MaxSnaplen = 2048
	// MaxMetadata is the number of --output-skb-metadata fields, and of
	// --output-xdp-metadata fields.
	MaxMetadata = 4
)

// ErrConfig is wrapped by every error [Config.Validate] returns.
var ErrConfig = errors.New("invalid configuration")

// Injector rewrites filter placeholders of the kernel program before it
// is loaded (internal/bpffilter/pcap, internal/bpffilter/skbexpr); kernel is the
// running kernel's BTF.
type Injector func(spec *ebpf.CollectionSpec, kernel *btf.Spec) error

// Config is everything a recording needs. The zero value plus an Output
// records every sk_buff function with the documented defaults applied by
// [Config.Validate].
type Config struct {
	// Function selection.
	FilterFunc      string   // regexp on function names ("" = all)
	NonSKBFuncs     string   // regexp of functions without an skb to trace too ("" = none)
	AllKmods        bool     // also trace functions of every loaded module with BTF
	Kmods           []string // also trace functions of these modules
	TrackBPFHelpers bool     // also trace BPF helper functions (bpf_skb_*, bpf_xdp_*)
	Backend         string   // auto | kprobe | kprobe-multi | fentry (the skb functions; the rest uses kprobes; auto: see autoBackend)
	KprobeBatch     int      // single kprobes attached per batch

	// Filters evaluated in the kernel.
	FilterNetns    uint32 // netns inode (0 = any)
	FilterMark     uint32
	FilterMarkMask uint32
	FilterMarkSet  bool   // FilterMark/FilterMarkMask apply
	FilterIfname   string // resolved in FilterNetns (or the current netns)
	PcapFilter     string // as typed, stored in the header; compiled by an Injector
	TunnelPcapL2   string
	TunnelPcapL3   string
	SKBExpr        string
	XDPExpr        string
	Injectors      []Injector // rewrite the filter placeholders

	// Tracking. TrackSKB: an skb that passed the filters once is followed
	// (events flagged format.FlagTracked) until kfree_skbmem, and its
	// clones and copies inherit its track id. TrackSKBByStackID: the
	// kernel stack id of every event with a track id is remembered, and a
	// later event with the same stack id passes as tracked; it implies
	// TrackSKB. NonSKBFuncs events belong to the tracked skb whose traced
	// function frame encloses them (caller chains, see bpf/doc.go).
	// TraceTC/TraceXDP: fentry/fexit on every loaded tc/XDP program that
	// has BTF.
	TrackSKB          bool
	TrackSKBByStackID bool
	TraceTC           bool
	TraceXDP          bool

	// CopyTracking: "" = clones and copies are tracked by fexit, and by
	// kprobe+kretprobe where fexit cannot attach; CopyKprobe forces the
	// latter (to test it on kernels with fexit).
	CopyTracking string

	// KernelBTF is a raw vmlinux BTF file (e.g. from BTFHub) used instead
	// of /sys/kernel/btf/vmlinux, for kernels built without it: function
	// discovery, CO-RE relocations and the filters read it, and it is the
	// BTF stored in the capture ("" = the running kernel's).
	KernelBTF string

	// What each event carries.
	OutputSKB         bool
	OutputSharedInfo  bool
	OutputCB          bool
	OutputSKBMetadata []string // e.g. "skb->hash", "skb->dev->ifindex"
	OutputXDPMetadata []string // e.g. "xdp->rxq->queue_index", "xdp->rxq->dev->ifindex"
	OutputBPFMap      bool     // map operations of the traced tc/XDP programs (needs TraceTC or TraceXDP)
	OutputStack       bool
	OutputCaller      bool
	Snaplen           uint32 // payload bytes (0 = none; default DefaultSnaplen when SnaplenSet is false)
	SnaplenSet        bool
	PayloadEvery      bool // a payload on every event, not only when the bytes change

	// Ablate leaves parts of the kernel program's probe path out (a bit
	// mask of [AblateParts]), for measuring what each part costs (make
	// vmbench). It loses data: never set in a real recording.
	Ablate uint32

	// Limits.
	RingbufSize int // bytes, a power of two multiple of the page size
	Duration    time.Duration
	MaxEvents   uint64
	MaxSize     int64

	// Rotation: when RotateSize > 0 and Rotate is set, the capture moves
	// to a new file once the current one holds RotateSize bytes beyond
	// its header and snapshots (several MB, repeated in every file). The
	// current capture is completed (trailer written) before Rotate is
	// called; Rotate finishes the file it handed out last (sync, close,
	// prune) and returns the next one. Every file gets the header and the
	// snapshot sections again, so each opens alone.
	// RotateEvery > 0 (with Rotate) moves to a new file also when the
	// current one is that old (tcpdump -G), at its next record.
	RotateSize  int64
	RotateEvery time.Duration
	Rotate      func() (io.Writer, error)

	// Flight recorder: when FlightBytes or FlightAge is set, records are
	// kept in a window of compressed chunks (FlightBytes compressed bytes,
	// FlightAge of kernel time) and nothing is written to out but the
	// snapshots; a trigger (TriggerDrop: a drop, of one of TriggerReasons
	// when given; TriggerFunc: a traced function matching it; Manual: a
	// value sent; TriggerPcap: an event whose packet matches this pcap
	// expression, evaluated in the kernel after the filters, compiled
	// into the program by an Injector, format.FlagTrigger) opens a
	// capture with FlightOpen and writes the window
	// and TriggerAfter after it; TriggerHoldOff after it ends, and after
	// MaxTriggers captures (0 = no limit), triggers start none.
	FlightBytes    int64
	FlightAge      time.Duration
	TriggerDrop    bool
	TriggerReasons []string // enum skb_drop_reason names, with or without SKB_DROP_REASON_
	TriggerFunc    string   // regular expression on the traced function's name
	TriggerPcap    string   // pcap expression (as typed; compiled by an Injector)
	TriggerAfter   time.Duration
	TriggerHoldOff time.Duration
	MaxTriggers    int
	Manual         <-chan struct{}
	FlightOpen     func(reason string, at time.Time) (io.Writer, error)

	// Header data the CLI knows about.
	CommandLine   []string
	Options       map[string]string
	WriterVersion string

	// Side channels.
	ReadyFile string    // written (0600) once every probe is attached and Started returned
	Log       io.Writer // warnings, the attach summary and the detach notice (nil = silent)
	// Progress, when set, is told how attaching and recording go on
	// (the CLI draws a progress bar and a status line from it).
	Progress func(ProgressEvent)
	BPFStats bool // measure the kernel program's run time (kernel.bpf_stats_enabled)

	// Started, when set, is called once every probe is attached, the
	// capture's head (snapshots, probes) is written and the ring buffer is
	// open, before the ready file is written: the caller puts the output in
	// place there and may drop its privileges (recording goes on with the
	// descriptors already held). An error ends the recording.
	Started func() error
}

// Validate checks c and fills in defaults. Errors wrap [ErrConfig].
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch c.Backend {
	case "":
		c.Backend = BackendAuto
	case BackendAuto, BackendKprobe, BackendKprobeMulti, BackendFentry:
	default:
		return bad("unknown backend %q (want auto, kprobe, kprobe-multi or fentry)", c.Backend)
	}
	for name, re := range map[string]string{"--filter-func": c.FilterFunc, "--filter-non-skb-funcs": c.NonSKBFuncs} {
		if _, err := regexp.Compile(re); err != nil {
			return bad("%s: %v", name, err)
		}
	}
	if c.KprobeBatch == 0 {
		c.KprobeBatch = DefaultBatch
	}
	if c.KprobeBatch < 0 {
		return bad("--filter-kprobe-batch must be positive, got %d", c.KprobeBatch)
	}
	if !c.SnaplenSet {
		c.Snaplen = DefaultSnaplen
	}
	if c.Snaplen > MaxSnaplen {
		return bad("--snaplen %d exceeds the maximum %d", c.Snaplen, MaxSnaplen)
	}
	if c.PayloadEvery && c.Snaplen == 0 {
		return bad("--payload every needs --snaplen > 0")
	}
	if c.RingbufSize == 0 {
		c.RingbufSize = DefaultRingbufSize
	}
	if c.RingbufSize < 4096 || c.RingbufSize&(c.RingbufSize-1) != 0 {
		return bad("--ringbuf-size %d is not a power of two of at least 4096", c.RingbufSize)
	}
	if len(c.OutputSKBMetadata) > MaxMetadata {
		return bad("--output-skb-metadata: at most %d fields, got %d", MaxMetadata, len(c.OutputSKBMetadata))
	}
	if c.NonSKBFuncs != "" && !c.TrackSKBByStackID {
		// pwru: non-skb functions are only meaningful with stack tracking.
		c.TrackSKBByStackID = true
	}
	if c.TrackSKBByStackID {
		// Stack tracking extends skb tracking: without the skb map every
		// matching event would start a new track id.
		c.TrackSKB = true
	}
	switch c.CopyTracking {
	case "", CopyKprobe:
	default:
		return bad("unknown clone tracking mechanism %q (want %q)", c.CopyTracking, CopyKprobe)
	}
	if c.TrackBPFHelpers && !c.TraceTC && !c.TraceXDP {
		return bad("--filter-track-bpf-helpers needs --filter-trace-tc or --filter-trace-xdp")
	}
	if c.OutputBPFMap && !c.TraceTC && !c.TraceXDP {
		// Map operations are tied to the skb / xdp_buff of the traced
		// program running on the CPU.
		return bad("--output-bpfmap needs --filter-trace-tc or --filter-trace-xdp (it records the map operations of the traced programs)")
	}
	if c.XDPExpr != "" && !c.TraceXDP {
		return bad("--filter-xdp-expr needs --filter-trace-xdp")
	}
	if len(c.OutputXDPMetadata) > MaxMetadata {
		return bad("--output-xdp-metadata: at most %d fields, got %d", MaxMetadata, len(c.OutputXDPMetadata))
	}
	for _, m := range c.OutputXDPMetadata {
		if !strings.HasPrefix(strings.TrimSpace(m), "xdp->") {
			// Also what the former boolean spelling leaves here
			// ("--output-xdp-metadata=true", or the next flag as the value).
			return bad("--output-xdp-metadata takes xdp_buff fields such as 'xdp->rxq->queue_index', got %q", m)
		}
	}
	if len(c.OutputXDPMetadata) > 0 && !c.TraceXDP {
		return bad("--output-xdp-metadata needs --filter-trace-xdp")
	}
	if (c.FlightBytes > 0 || c.FlightAge > 0) && c.FlightOpen == nil {
		return bad("the flight recorder needs files to write (not possible with stdout)")
	}
	if (c.FlightBytes > 0 || c.FlightAge > 0) && (c.RotateSize > 0 || c.RotateEvery > 0) {
		return bad("--flight-recorder and --output-file-max-size do not go together")
	}
	if c.FlightBytes <= 0 && c.FlightAge <= 0 && (c.TriggerPcap != "" || c.TriggerFunc != "" || c.TriggerDrop) {
		return bad("--trigger-drop, --trigger-func and --trigger-pcap need --flight-recorder")
	}
	if c.TriggerFunc != "" {
		if _, err := regexp.Compile(c.TriggerFunc); err != nil {
			return bad("--trigger-func: %v", err)
		}
	}
	if c.RotateSize < 0 {
		return bad("--output-file-max-size must not be negative")
	}
	if c.RotateEvery < 0 {
		return bad("the rotation interval must not be negative")
	}
	if (c.RotateSize > 0 || c.RotateEvery > 0) && c.Rotate == nil {
		return bad("rotation needs a file to rotate to (not possible with stdout)")
	}
	if c.MaxSize < 0 || c.Duration < 0 {
		return bad("--max-size and --duration must not be negative")
	}
	return nil
}

// header builds the capture header from c and the host facts.
func (c *Config) header(h format.Header) format.Header {
	h.WriterVersion = c.WriterVersion
	h.CommandLine = c.CommandLine
	h.Options = c.Options
	h.PcapFilter = c.PcapFilter
	h.Snaplen = c.Snaplen
	// What replay needs, stored as data (format 1.1), not as the text of
	// the options above: the kernel's byte order (this host's) and the
	// metadata expressions, in the order of their blob slots.
	h.ByteOrder = format.NativeByteOrder()
	h.SKBMetadata = c.OutputSKBMetadata
	h.XDPMetadata = c.OutputXDPMetadata
	return h
}

// AblateParts names the parts of the kernel program's probe path that
// [Config.Ablate] can leave out, by bit (bpf/pwru.c ABL_*): "payload" the
// payload (hash, payload_seen lookup and update, copy), "meta" the sk_buff
// and device fields, "tuple" the L3/L4 tuple, "common" time, CPU, pid and
// comm, "ring" the ring buffer record, "cookie" the attach cookie (a
// constant probe id), "post" everything after the filter decision, "body"
// everything after the cookie.
var AblateParts = []string{"payload", "meta", "tuple", "common", "ring", "cookie", "post", "body"}

// ParseAblate turns a comma-separated list of [AblateParts] into the bit
// mask of [Config.Ablate].
func ParseAblate(list string) (uint32, error) {
	var mask uint32
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.Index(AblateParts, name)
		if i < 0 {
			return 0, fmt.Errorf("%w: unknown part %q (want %s)", ErrConfig, name, strings.Join(AblateParts, ", "))
		}
		mask |= 1 << i
	}
	return mask, nil
}
