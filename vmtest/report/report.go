package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// FileName is the name of the report in each scenario's output directory.
const FileName = "report.json"

// Scenario is everything one scenario did in the guest.
type Scenario struct {
	Name    string
	Kernel  string            // uname -r
	Error   string            // the scenario could not be carried out (setup, traffic, recorder start)
	Netns   map[string]uint32 // netns name -> inode
	Ifaces  []Iface
	Runs    []Run
	Traffic []Packet
	Steps   []Step            // timings of the guest's steps, in order
	Values  map[string]uint64 // scenario-specific numbers (counters, sizes)
	Log     []string          // free-form notes
}

// FeaturesFile is the name of the guest's feature probe results in /out.
const FeaturesFile = "features.json"

// Feature names the guest probes (vmtest/guest/features.go).
const (
	FeatVmlinuxBTF   = "vmlinux-btf"   // /sys/kernel/btf/vmlinux
	FeatModuleBTF    = "module-btf"    // BTF of loaded modules in /sys/kernel/btf
	FeatKprobe       = "kprobe"        // kprobe_events in tracefs
	FeatKprobeMulti  = "kprobe-multi"  // BPF_LINK_TYPE_KPROBE_MULTI
	FeatFentry       = "fentry"        // fentry programs attach (BPF trampolines)
	FeatTCX          = "tcx"           // tcx links
	FeatGetFuncIP    = "get-func-ip"   // bpf_get_func_ip in kprobes
	FeatAttachCookie = "attach-cookie" // bpf_get_attach_cookie in kprobes
	FeatAtomicFetch  = "atomic-fetch"  // BPF atomic fetch-and-add
	FeatRingbuf      = "ringbuf"       // BPF ring buffer maps
	FeatDropReason   = "drop-reason"   // skb:kfree_skb has a reason field
)

// AllFeatures lists every feature the guest probes.
var AllFeatures = []string{FeatVmlinuxBTF, FeatModuleBTF, FeatKprobe, FeatKprobeMulti, FeatFentry, FeatTCX,
	FeatGetFuncIP, FeatAttachCookie, FeatAtomicFetch, FeatRingbuf, FeatDropReason}

// Feature is one kernel capability the guest probed.
type Feature struct {
	Name   string
	Have   bool
	Detail string // how it was found, or why it is absent
}

// WriteFeatures stores the probe results as JSON at path.
func WriteFeatures(path string, f []Feature) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode features: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write features: %w", err)
	}
	return nil
}

// ReadFeatures loads what [WriteFeatures] stored.
func ReadFeatures(path string) ([]Feature, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read features: %w", err)
	}
	var f []Feature
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode features %s: %w", path, err)
	}
	return f, nil
}

// Iface is a network interface the scenario created.
type Iface struct {
	Netns   string // netns name (key of Scenario.Netns)
	Name    string
	Ifindex int
	Addr    string // IPv4 address without prefix length ("" = none)
}

// Run is one invocation of the recorder.
type Run struct {
	Name     string   // e.g. "main", "good", "bad", "badfilter"
	Args     []string // arguments after the program name
	Capture  string   // capture file name in the scenario directory ("" = none)
	ExitCode int      // -1 when killed by a signal
	Signal   string   // the signal that ended it, if any
	Stderr   string
	Ready    time.Duration // start -> ready file written (0 = never)
	Stop     time.Duration // stop signal -> exit
	Wall     time.Duration // start -> exit
	PeakRSS  int64         // the recorder's VmHWM in bytes just before it was stopped (0 = not read)
	Error    string        // the harness could not run or stop it
}

// Packet is one packet the guest sent.
type Packet struct {
	Kind     string // "icmp-echo", "udp", ...
	Src, Dst string
	Proto    uint8
	Sport    uint16
	Dport    uint16
	ID, Seq  uint16 // ICMP echo id and sequence
	L4       []byte // the transport header and payload as sent (ICMP: the whole message)
	Payload  []byte // the application payload
	Answered bool   // a reply came back / the receiver got it
}

// Step is a named, timed step of a scenario.
type Step struct {
	Name string
	Took time.Duration
}

// Write stores s as JSON at path.
func Write(path string, s *Scenario) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report %s: %w", s.Name, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Read loads a report written by [Write].
func Read(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var s Scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode report %s: %w", path, err)
	}
	return &s, nil
}

// Run returns the run named name, or nil.
func (s *Scenario) Run(name string) *Run {
	for i := range s.Runs {
		if s.Runs[i].Name == name {
			return &s.Runs[i]
		}
	}
	return nil
}

// ResultsFile is where a vmtest run stores its [Results], under the
// module root.
const ResultsFile = ".cache/vmtest/results.json"

// Results is what one vmtest run found on every kernel it booted: the
// input of make kernel-matrix.
type Results struct {
	Started   time.Time
	Scenarios []string // the scenarios that ran, in order
	Kernels   []KernelResult
}

// KernelResult is one kernel's part of [Results].
type KernelResult struct {
	Series   string
	Package  string   // e.g. linux-image-7.2.13+deb14-cloud-amd64
	Version  string   // Debian package version
	Suite    string   // e.g. sid
	Parts    []string // packages unpacked, name=version
	Release  string   // uname -r
	Wall     time.Duration
	Boot     time.Duration
	Script   time.Duration
	Error    string // the kernel could not be fetched or booted
	Features []Feature
	Tests    []TestResult
}

// TestResult is one scenario check on one kernel.
type TestResult struct {
	Scenario string
	Test     string // Go test name
	Status   string // "pass", "fail" or "skip"
	Reason   string // for a skip: the feature the kernel lacks
}

// Feature returns the probe result named name, or nil.
func (k *KernelResult) Feature(name string) *Feature {
	for i := range k.Features {
		if k.Features[i].Name == name {
			return &k.Features[i]
		}
	}
	return nil
}

// WriteResults stores r as JSON at path, creating its directory.
func WriteResults(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ReadResults loads what [WriteResults] stored.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode results %s: %w", path, err)
	}
	return &r, nil
}

// Walls returns each kernel's wall time if the run had exactly the given
// scenarios (none otherwise: another selection's times say nothing).
func (r *Results) Walls(scenarios []string) map[string]time.Duration {
	w := map[string]time.Duration{}
	if !slices.Equal(r.Scenarios, scenarios) {
		return w
	}
	for _, k := range r.Kernels {
		if k.Error == "" && k.Wall > 0 {
			w[k.Series] = k.Wall
		}
	}
	return w
}

// LongestFirst orders series by their previous wall time, longest first,
// so that with fewer cores than kernels the short ones fill in behind the
// long ones. Series without a time come first, in their given order (on a
// first run: oldest kernels, whose single kprobes attach slowest, first).
func LongestFirst(series []string, prev map[string]time.Duration) []string {
	out := slices.Clone(series)
	sort.SliceStable(out, func(i, j int) bool {
		wi, iok := prev[out[i]]
		wj, jok := prev[out[j]]
		if iok != jok {
			return !iok
		}
		return wi > wj
	})
	return out
}
