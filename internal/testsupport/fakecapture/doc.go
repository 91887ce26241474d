// Package fakecapture writes deterministic fake captures for tests, golden
// files and benchmarks, instead of a kernel: hand-written scenarios
// ([WriteScenario], [Builder]: a few skbs with known journeys, drops,
// clones, tunnels) and generated streams ([Generate], [WriteStream]:
// skbs walking kernel functions, interleaved across CPUs, with drops,
// clones, stacks and real packet payloads). Both carry the one fake BTF
// ([BTF]) and kallsyms. The same input always yields the same bytes.
//
// Packets come from [github.com/pwru-record/pwru-record/internal/testsupport/packets].
package fakecapture
