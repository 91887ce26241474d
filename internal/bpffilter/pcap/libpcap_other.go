//go:build !(linux && cgo)

package pcap

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// compileCBPF fails: compiling pcap filters needs libpcap through cgo on
// Linux.
func compileCBPF(expr string, _ bool) ([]bpf.RawInstruction, error) {
	return nil, fmt.Errorf("compile pcap filter %q: %w", expr, ErrNoLibpcap)
}

// libpcapFilter is the reference matcher; without libpcap nothing matches.
func libpcapFilter([]bpf.RawInstruction, []byte) uint32 { return 0 }

// libpcapAvailable reports whether this build can compile pcap filters.
const libpcapAvailable = false
