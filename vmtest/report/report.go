package report

import (
	"encoding/json"
	"fmt"
	"os"
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
