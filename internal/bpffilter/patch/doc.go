// Package patch replaces the bodies of placeholder subprograms in an
// [ebpf.CollectionSpec] before it is loaded.
//
// The kernel program declares small `static __noinline` functions (the filter
// placeholders of DESIGN.md) whose default body returns true. cilium/ebpf
// copies every subprogram a program calls into that program's instruction
// stream, marking each function's first instruction with its symbol and BTF
// function metadata; [Replace] finds the placeholder in every program and
// swaps its instructions for generated code, keeping the metadata the kernel
// needs (func_info and line_info at the function start).
//
// [Frame] gives generated code a standard shape: it turns the verdict in R0
// into 0 or 1 before exiting. R6-R9 need no saving: the kernel gives every
// BPF-to-BPF callee its own register frame and restores the caller's R6-R9
// on return (the verifier even rejects reading them before they are
// written). [Check] lints generated bodies.
package patch
