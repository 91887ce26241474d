// Package pcap compiles pcap-filter expressions (tcpdump syntax) into
// eBPF code that runs inside pwru-record's kprobe programs, and injects that
// code into the program's filter placeholders before it is loaded.
//
// The pipeline is: libpcap (pcap_open_dead + pcap_compile, through cgo) turns
// the expression into classic BPF for Ethernet frames or raw IP packets;
// github.com/cloudflare/cbpfc turns the classic BPF into eBPF; [Translate]
// then adapts that eBPF to a tracing context. In a kprobe the packet is not
// a verifier packet pointer: the placeholder receives the kernel addresses
// of the first byte and one past the last byte in R1 and R2, and every
// packet load becomes a bpf_probe_read_kernel into the stack followed by a
// stack load. A failed read makes the filter return "no match". The
// filter sees exactly the bytes [data, data_end): loads past data_end fail
// the match as in libpcap, and `len`, `greater` and `less` compare
// data_end - data, which is whatever length the kernel program passes (the
// recorder bounds it by the linear area and a fixed cap), not the wire
// length. Shifts by a register amount of 32 or more give 0, as in libpcap
// (plain eBPF would shift by the amount modulo 32).
//
// The generated function body uses [StackBytes] bytes of its own stack frame
// and returns 0 or 1 in R0. It uses R6-R9, which need no saving: a BPF-to-BPF
// callee gets its own register frame and the kernel restores the caller's
// R6-R9 on return (the verifier rejects a callee reading them first). The placeholders are the `static __noinline bool f(void *data, void
// *data_end)` functions named by [PlaceholderL2], [PlaceholderL3],
// [PlaceholderTunnelL2] and [PlaceholderTunnelL3]; see DESIGN.md for the
// contract with the kernel program.
//
// Compiling needs libpcap and therefore cgo on Linux. Builds without cgo
// still provide [Translate] and the injection functions, and report
// [ErrNoLibpcap] for any non-empty expression.
package pcap
