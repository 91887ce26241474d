// Package tracer is the user-space half of pwru-record: it discovers the
// kernel functions that take a struct sk_buff *, loads the kernel program
// of package bpf with the filters injected, attaches it (kprobe or
// kprobe.multi, plus fentry/fexit on tc and XDP programs), snapshots what
// the analyzer needs (BTF, kallsyms, interfaces of every network
// namespace) and drains the ring buffer into a [format.Writer].
//
// [Config] is plain data (no CLI types); [Run] does the whole recording.
// The pure parts (discovery from a BTF spec, available_filter_functions
// parsing, record decoding, the drain loop) build on every OS and are
// tested on the host; loading and attaching live in _linux.go files.
package tracer
