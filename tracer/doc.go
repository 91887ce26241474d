// Package tracer is the user-space half of pwru-record: it discovers the
// kernel functions that take a struct sk_buff *, loads the kernel program
// of package bpf with the filters injected, attaches it (kprobe,
// kprobe.multi or fentry, plus fentry/fexit on tc and XDP programs),
// snapshots what the analyzer needs (BTF, kallsyms, interfaces of every
// network namespace) and drains the ring buffer into a [format.Writer].
//
// [Config] is plain data (no CLI types); [Run] does the whole recording
// as a sequence of stages, one file each: discover_linux.go,
// snapshot_linux.go (the capture's head), load_linux.go, attach_linux.go,
// ready_linux.go (Config.Started, the ready file, detaching) and
// drain_linux.go, run in run_linux.go with one exit path. Progress goes
// to [Config.Progress] as [ProgressEvent]s; the caller draws it. The
// kernel's files are read by tracer/internal/procfs. The pure parts
// (function selection, record decoding, the drain loop) build on every
// OS and are tested on the host.
package tracer
