// Package benchres is the result the vmbench guest scenario (vmtest/guest,
// scenario "bench") writes and the vmbench host program reads back.
package benchres

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// FileName is the name of the result file in the scenario's directory.
const FileName = "bench.json"

// Results is everything the bench scenario measured on one kernel.
type Results struct {
	Kernel      string        // uname -r
	RingbufSize string        // --ringbuf-size given to the recorder
	Filter      string        // pcap filter given to the recorder
	Payload     int           // UDP payload bytes per flood packet
	StepTime    time.Duration // flood time of each step
	Baseline    []Step        // the flood steps without a recorder
	Backends    []Backend
}

// Step is one bounded UDP flood at an offered rate.
type Step struct {
	Offered  int    // packets/s asked for; 0 = as fast as the sender can
	Sent     uint64 // datagrams sent
	Received uint64 // datagrams the receiver read
	// Start and End are CLOCK_MONOTONIC ns (the clock of the events'
	// timestamps): the flood's start and the end of the settle time after
	// it. Events in [Start, End) belong to the step.
	Start, End uint64
	Flood      time.Duration // time spent sending
	// Kernel counters of the recorder during the step (deltas); Counted
	// is false when they could not be read.
	Counted bool
	Lost    uint64 // ring buffer reservations that failed
	// Program runs the kernel skipped because the same program was
	// already running on the CPU (bpf_prog_info recursion_misses): an
	// fentry program is preemptible, a kprobe's is not.
	Misses      uint64
	ProgRuns    uint64 // bpf_stats run_cnt
	ProgRuntime uint64 // bpf_stats run_time_ns
}

// Backend is one recorder run with --backend Name.
type Backend struct {
	Name       string
	Error      string        // the recorder could not be started or stopped
	Capture    string        // capture file name in the scenario directory
	Ready      time.Duration // start -> ready file written
	Stop       time.Duration // SIGINT -> exit
	PeakRSS    int64         // the recorder's VmHWM in bytes just before the stop (0 = not read)
	Stderr     string        // the recorder's output (its summary)
	StatsError string        // why the kernel counters could not be read
	Steps      []Step
}

// Write stores r as JSON at path.
func Write(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bench results: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write bench results: %w", err)
	}
	return nil
}

// Read loads results written by [Write].
func Read(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bench results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode bench results %s: %w", path, err)
	}
	return &r, nil
}

// The lean scenario (vmbench -lean): every run, of pwru-record (with the
// defaults, or with parts of its kernel program left out) or of another
// tool (cilium/pwru), sees the same paced packets and the same unpaced
// flood in one boot.
const (
	// LeanFile is the lean scenario's result file in its directory.
	LeanFile = "lean.json"
	// LeanConfigPath is where vmbench puts the scenario's [LeanConfig]
	// in the guest.
	LeanConfigPath = "/etc/pwru-lean.json"
	// LeanPwruPath is where vmbench puts the cilium/pwru binary in the
	// guest.
	LeanPwruPath = "/bin/pwru"
)

// LeanConfig says what the lean scenario runs.
type LeanConfig struct {
	// Backends of pwru-record, each run with the defaults and with every
	// Ablate entry ("" or none: the kernel's best kprobe backend).
	Backends []string
	Ablate   []string // one pwru-record run per entry and backend, with --debug-ablate ENTRY
	Pwru     bool     // cilium/pwru is at LeanPwruPath (run with the best kprobe backend)
	// Concurrent: the ablations (and a second run of the defaults, the
	// baseline build and pwru) attached all at once instead, over one
	// paced phase and one flood.
	Concurrent bool
	Baseline   bool // another pwru-record build is at the bench's baseline path (run with the defaults, per backend)
}

// LeanResults is everything the lean scenario measured on one kernel.
type LeanResults struct {
	Kernel       string
	Filter       string // pcap filter of every run
	Backend      string // the kernel's best kprobe backend (cilium/pwru's)
	PacedPackets int
	PacedRate    int // packets/s of the paced phase
	FloodTime    time.Duration
	Untraced     []LeanPhases // without a tracer: before and after the runs
	Runs         []LeanRun
	Concurrent   []LeanRun // attached all at once (LeanConfig.Concurrent)
}

// LeanPhases are the paced phase and the flood of one run.
type LeanPhases struct {
	Paced, Flood Step
}

// LeanRun is one tracer run of the lean scenario.
type LeanRun struct {
	Name  string // row name
	Tool  string // "pwru-record" or "pwru"
	Bin   string // the recorder binary in the guest ("" = the one under test)
	Args  []string
	Error string
	// Capture (pwru-record) or text output (pwru) file name in the
	// scenario directory.
	Output string
	Ready  time.Duration // start -> attached
	LeanPhases
	// Lines of the text output with the filtered tuple, after each phase
	// (pwru; pwru-record's events are read from the capture).
	LinesPaced, LinesFlood uint64
	Stderr                 string
}
