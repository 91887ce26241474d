package analyze

import "time"

// InfoDoc is the document of `info --json` (fields: JSON.md).
type InfoDoc struct {
	File          string            `json:"file"`
	Size          int64             `json:"size,omitempty"`
	Format        string            `json:"format"`
	Complete      bool              `json:"complete"`
	Truncated     bool              `json:"truncated"`
	TruncatedAt   int64             `json:"truncated_at,omitempty"`
	Recorder      string            `json:"recorder"`
	Host          string            `json:"host"`
	Kernel        InfoKernel        `json:"kernel"`
	BootID        string            `json:"boot_id,omitempty"`
	CommandLine   []string          `json:"command_line,omitempty"`
	PcapFilter    string            `json:"pcap_filter,omitempty"`
	Snaplen       uint32            `json:"snaplen"`
	Reveals       InfoReveals       `json:"reveals"`
	Options       map[string]string `json:"options"`
	Start         string            `json:"start,omitempty"`
	FirstEventNs  uint64            `json:"first_event_ns,omitempty"`
	LastEventNs   uint64            `json:"last_event_ns,omitempty"`
	FirstEventUTC string            `json:"first_event_utc,omitempty"`
	LastEventUTC  string            `json:"last_event_utc,omitempty"`
	Events        uint64            `json:"events"`
	Selected      *uint64           `json:"selected,omitempty"`
	SKBs          *uint64           `json:"skbs,omitempty"`
	Dropped       *uint64           `json:"dropped,omitempty"`
	Packets       uint64            `json:"packets"`
	Stacks        uint64            `json:"stacks"`
	Blobs         uint64            `json:"blobs"`
	Probes        int               `json:"probes"`
	ProbesHit     *int              `json:"probes_hit,omitempty"`
	FailedProbes  []FailedProbe     `json:"failed_probes"`
	Netns         []NetnsInterfaces `json:"netns"`
	BTF           []string          `json:"btf"`
	Losses        InfoLosses        `json:"losses"`
	Sections      []InfoSection     `json:"sections"`
	TopFunctions  []InfoFunc        `json:"top_functions,omitempty"`

	text infoExtra // what only the text view shows
}

// InfoReveals says what the capture shows whoever reads it.
type InfoReveals struct {
	Addresses string `json:"addresses"` // "real" or "redacted"
	Payload   string `json:"payload"`   // "full", "headers" or "none"
}

// InfoKernel is the recording host's uname.
type InfoKernel struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// InfoLosses is what the capture says it does not contain.
type InfoLosses struct {
	KernelLost   uint64            `json:"kernel_lost"`
	PerCPU       []uint64          `json:"per_cpu,omitempty"`
	ProbesFailed uint32            `json:"probes_failed"`
	Other        map[string]uint64 `json:"other,omitempty"`
}

// InfoSection is one section type's totals.
type InfoSection struct {
	Type     string `json:"type"`
	Sections int    `json:"sections"`
	Bytes    int64  `json:"bytes"`
	Raw      int64  `json:"raw"`
	Items    int    `json:"items"`
}

// InfoFunc is one of the busiest probes.
type InfoFunc struct {
	Func   string `json:"func"`
	Events uint64 `json:"events"`
}

// infoExtra is what the text view of [Info] shows besides the JSON
// document's fields.
type infoExtra struct {
	lacks      []string // format.Header.KernelLacks
	used       []string // the options that were on, as typed ([UsedOptions])
	off        int      // and how many were off
	hasOptions bool
	start      time.Time // the recording's start (zero = unknown)
	monoOffset int64     // kernel monotonic ns to Unix ns
	flight     *infoFlight
	selected   uint64 // events the scan selected (the top functions' 100%)
	skipped    int    // corrupt sections skipped
	interfaces int
	kallsyms   int // symbols (0 = none)
	noScan     bool
	problems   []error // format.File.Problems, after the scan
}

// infoFlight is where a flight recorder capture came from.
type infoFlight struct {
	window, trigger, at, after string
	evicted                    uint64       // events of the window let go of before the trigger
	event                      *infoTrigger // the event that fired it (nil: none named)
}

// infoTrigger is the event that fired a flight recorder capture.
type infoTrigger struct {
	time, skb uint64
	fn        string // probe, with the drop reason in parentheses
}
