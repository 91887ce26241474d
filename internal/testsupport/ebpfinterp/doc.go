// Package ebpfinterp is a small eBPF interpreter for host-side tests of
// generated filter code.
//
// It executes the subset of eBPF that the filter compilers in this module
// emit (64- and 32-bit ALU, byte swaps, conditional and unconditional jumps,
// 64-bit immediate loads, loads and stores on the stack) plus one helper,
// bpf_probe_read_kernel, which copies from a [Memory] image standing in for
// kernel memory. It is deliberately stricter than the kernel in the ways that
// matter for those compilers: reading a register that holds no value (not
// an argument, not yet written, or R1-R5 after a helper call) fails, as in
// a BPF-to-BPF callee; any direct load or store outside the 512-byte
// stack fails, as does a read of stack bytes that were never written, so a
// program that passes here never dereferences a kernel address without the
// helper and never reads uninitialised stack.
//
// The interpreter is not a verifier: it checks the path actually taken, not
// every path.
package ebpfinterp
