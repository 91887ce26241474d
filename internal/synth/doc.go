// Package synth generates deterministic synthetic capture streams: probes,
// kallsyms, interfaces, BTF and a realistic sequence of events (skbs
// walking kernel functions, interleaved across CPUs, with drops, clones,
// stacks and real packet payloads). Benchmarks, golden files and analyzer
// tests use it instead of a kernel.
//
// The same [Config] always yields the same [Stream].
package synth
