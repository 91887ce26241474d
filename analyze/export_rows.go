package analyze

// The rows of [Export]: the events, skbs and captures tables. Their
// parquet tags are the column names and types of the Parquet export
// (analyze/export), documented in PARQUET.md; the names are stable like
// those of JSON.md. Every timestamp is UTC, in ns since the Unix epoch;
// the _ns times are the kernel's monotonic clock (ns since boot).

// ExportEvent is one row of the events table: one selected event.
type ExportEvent struct {
	CaptureID  string   `parquet:"capture_id,dict"`
	Kernel     string   `parquet:"kernel,dict"`
	Time       int64    `parquet:"time,timestamp(nanosecond),delta"`
	TimeNs     int64    `parquet:"time_ns,delta"`
	CPU        int32    `parquet:"cpu,dict"`
	PID        int64    `parquet:"pid,dict"`
	Process    string   `parquet:"process,dict"`
	Func       string   `parquet:"func,dict"`
	ProbeKind  string   `parquet:"probe_kind,dict"`
	SKBID      int64    `parquet:"skb_id,optional,delta"`
	SKB        string   `parquet:"skb,optional"`
	TrackID    int64    `parquet:"track_id,optional,delta"`
	Netns      int64    `parquet:"netns,dict"`
	NetnsName  string   `parquet:"netns_name,optional,dict"`
	Ifname     string   `parquet:"ifname,optional,dict"`
	Ifindex    int64    `parquet:"ifindex,dict"`
	Mark       int64    `parquet:"mark,dict"`
	Protocol   int32    `parquet:"protocol,dict"`
	Len        int64    `parquet:"len,dict"`
	MTU        int64    `parquet:"mtu,dict"`
	PktType    int32    `parquet:"pkt_type,dict"`
	Saddr      string   `parquet:"saddr,optional,dict"`
	Daddr      string   `parquet:"daddr,optional,dict"`
	Sport      int32    `parquet:"sport,dict"`
	Dport      int32    `parquet:"dport,dict"`
	L4Proto    int32    `parquet:"l4proto,dict"`
	DropReason string   `parquet:"drop_reason,optional,dict"`
	Retval     *int64   `parquet:"retval,optional"`
	Verdict    string   `parquet:"verdict,optional,dict"`
	Stack      []string `parquet:"stack,optional,list"` // nil: NULL, not recorded
	Caller     string   `parquet:"caller,optional,dict"`
}

// ExportSKB is one row of the skbs table: the journey of one selected skb
// lifetime, as [Paths] shows it and [Stats] counts it.
type ExportSKB struct {
	CaptureID string `parquet:"capture_id,dict"`
	Kernel    string `parquet:"kernel,dict"`
	SKBID     int64  `parquet:"skb_id"`
	SKB       string `parquet:"skb"`
	TrackID   int64  `parquet:"track_id,optional,delta"`
	CloneOf   string `parquet:"clone_of,optional"`
	First     int64  `parquet:"first_time,timestamp(nanosecond)"`
	Last      int64  `parquet:"last_time,timestamp(nanosecond)"`
	FirstNs   int64  `parquet:"first_ns"`
	LastNs    int64  `parquet:"last_ns"`
	Duration  int64  `parquet:"duration_ns"`
	Events    int64  `parquet:"events"`
	// Path is the functions in order, at most the first 512 (PathMore
	// counts the others).
	Path        []string `parquet:"path,list"`
	PathMore    int64    `parquet:"path_more"`
	Fate        string   `parquet:"fate,dict"`
	Reason      string   `parquet:"reason,optional,dict"`
	Flow        string   `parquet:"flow,dict"`
	Saddr       string   `parquet:"saddr,optional,dict"`
	Daddr       string   `parquet:"daddr,optional,dict"`
	Sport       int32    `parquet:"sport,dict"`
	Dport       int32    `parquet:"dport,dict"`
	L4Proto     int32    `parquet:"l4proto,dict"`
	NetnsSeen   []int64  `parquet:"netns,list"`
	Interfaces  []string `parquet:"interfaces,list"`
	PacketFlow  string   `parquet:"packet_flow,optional,dict"`
	PacketIdent *int64   `parquet:"packet_ident,optional"`
	IPID        *int64   `parquet:"ip_id,optional"`
	TCPSeq      *int64   `parquet:"tcp_seq,optional"`
	TCPAck      *int64   `parquet:"tcp_ack,optional"`
	ICMPID      *int32   `parquet:"icmp_id,optional"`
	ICMPSeq     *int32   `parquet:"icmp_seq,optional"`
}

// ExportCapture is the one row of the captures table for a capture.
type ExportCapture struct {
	CaptureID     string            `parquet:"capture_id"`
	Hostname      string            `parquet:"hostname"`
	Kernel        string            `parquet:"kernel"`
	KernelVersion string            `parquet:"kernel_version"`
	Machine       string            `parquet:"machine"`
	BootID        string            `parquet:"boot_id"`
	Writer        string            `parquet:"writer"`
	CommandLine   []string          `parquet:"command_line,list"`
	Options       map[string]string `parquet:"options"`
	PcapFilter    string            `parquet:"pcap_filter"`
	Snaplen       int64             `parquet:"snaplen"`
	Start         int64             `parquet:"start_time,timestamp(nanosecond)"`
	First         int64             `parquet:"first_time,timestamp(nanosecond)"`
	Last          int64             `parquet:"last_time,timestamp(nanosecond)"`
	FirstNs       int64             `parquet:"first_ns"`
	LastNs        int64             `parquet:"last_ns"`
	Events        int64             `parquet:"events"`
	// ExportedEvents and ExportedSKBs are the rows of this capture in
	// the events and skbs tables (fewer than Events with a filter).
	ExportedEvents int64             `parquet:"exported_events"`
	ExportedSKBs   int64             `parquet:"exported_skbs"`
	Filter         string            `parquet:"filter"`
	RingbufLost    int64             `parquet:"ringbuf_lost"`
	ProbesFailed   int64             `parquet:"probes_failed"`
	OtherLosses    map[string]int64  `parquet:"other_losses"`
	Truncated      bool              `parquet:"truncated"`
	Skipped        int64             `parquet:"skipped_sections"`
	Missing        map[string]string `parquet:"missing"`
}

// ExportSink receives the rows of [Export] in time order (an skb row when
// its lifetime ends). The rows and what they point to are valid only
// during the call, except the strings and slices, which are never
// modified.
type ExportSink interface {
	Event(*ExportEvent) error
	SKB(*ExportSKB) error
}

// ExportOptions tune [Export].
type ExportOptions struct {
	Filter Filter
	// FilterText describes Filter in the captures table ("" = none).
	FilterText string
}
