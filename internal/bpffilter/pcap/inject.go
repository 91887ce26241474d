package pcap

import (
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
)

// Names of the placeholder functions in the kernel program (DESIGN.md).
const (
	// PlaceholderL2 filters packets by their Ethernet header.
	PlaceholderL2 = "filter_pcap_l2"
	// PlaceholderL3 filters packets without a MAC header by their
	// IPv4/IPv6 header.
	PlaceholderL3 = "filter_pcap_l3"
	// PlaceholderTunnelL2 filters the inner Ethernet frame of a tunnel.
	PlaceholderTunnelL2 = "filter_pcap_tunnel_l2"
	// PlaceholderTunnelL3 filters the inner IP packet of a tunnel.
	PlaceholderTunnelL3 = "filter_pcap_tunnel_l3"
	// PlaceholderTriggerL2 decides whether an Ethernet frame fires the
	// flight recorder (--trigger-pcap); it filters nothing.
	PlaceholderTriggerL2 = "trigger_pcap_l2"
	// PlaceholderTriggerL3 is PlaceholderTriggerL2 for packets without a
	// MAC header.
	PlaceholderTriggerL3 = "trigger_pcap_l3"
)

// Inject compiles expr (for Ethernet frames, or raw IP packets when l3 is
// true) and replaces the body of the placeholder function in every program
// of spec that contains it. An empty expr leaves spec untouched (the
// placeholder's default body matches everything). Compile errors are
// returned as they are; it is an error if no program contains placeholder.
func Inject(spec *ebpf.CollectionSpec, placeholder, expr string, l3 bool) error {
	if expr == "" {
		return nil
	}
	code, err := Compile(expr, l3, placeholder)
	if err != nil {
		return err
	}
	if _, err := patch.Replace(spec, placeholder, code); err != nil {
		return fmt.Errorf("inject pcap filter: %w", err)
	}
	return nil
}

// InjectAll injects the filters of pwru's --filter-pcap (expr),
// --filter-tunnel-pcap-l2 and --filter-tunnel-pcap-l3 flags, skipping empty
// ones. expr goes into both [PlaceholderL2] (compiled for Ethernet) and
// [PlaceholderL3] (compiled for raw IP); the kernel program calls the first
// for an skb with a MAC header and the second otherwise. When expr compiles
// for Ethernet but not for raw IP because it names link-layer things
// ("arp", "ether host ..."), packets without a MAC header cannot match, and
// PlaceholderL3 gets a filter that rejects everything. tunnelL2 and tunnelL3
// go into [PlaceholderTunnelL2] and [PlaceholderTunnelL3].
func InjectAll(spec *ebpf.CollectionSpec, expr, tunnelL2, tunnelL3 string) error {
	if err := injectPair(spec, PlaceholderL2, PlaceholderL3, expr); err != nil {
		return err
	}
	if err := Inject(spec, PlaceholderTunnelL2, tunnelL2, false); err != nil {
		return err
	}
	return Inject(spec, PlaceholderTunnelL3, tunnelL3, true)
}

// InjectTrigger injects the flight recorder's trigger expression
// (--trigger-pcap) into [PlaceholderTriggerL2] and [PlaceholderTriggerL3]
// as InjectAll does the main filter; an empty expr leaves spec untouched
// (the kernel program then does not call them).
func InjectTrigger(spec *ebpf.CollectionSpec, expr string) error {
	return injectPair(spec, PlaceholderTriggerL2, PlaceholderTriggerL3, expr)
}

// injectPair compiles expr for Ethernet into l2 and for raw IP into l3;
// an expression that names link-layer things cannot match without a MAC
// header, and l3 gets a body that rejects everything.
func injectPair(spec *ebpf.CollectionSpec, l2, l3, expr string) error {
	if expr == "" {
		return nil
	}
	if err := Inject(spec, l2, expr, false); err != nil {
		return err
	}
	code, err := Compile(expr, true, l3)
	if err != nil {
		code, err = Translate([]bpf.Instruction{bpf.RetConstant{Val: 0}}, l3)
		if err != nil {
			return fmt.Errorf("inject pcap filter: %w", err)
		}
	}
	if _, err := patch.Replace(spec, l3, code); err != nil {
		return fmt.Errorf("inject pcap filter: %w", err)
	}
	return nil
}
