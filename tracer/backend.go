package tracer

import "fmt"

// fentryRefuses names the option --backend fentry refuses ("" when it
// takes the configuration).
func fentryRefuses(cfg *Config) string {
	if cfg.NonSKBFuncs != "" {
		// The caller chains are matched on kprobe stacks; an fentry
		// program's stack starts in its trampoline (not verified to
		// line up: refused rather than losing events silently).
		return "--filter-non-skb-funcs"
	}
	return ""
}

// autoBackend is --backend auto's choice for the skb functions, and why
// (for the startup log), from kprobe-multi's feature probe: kprobe-multi,
// else kprobe. Never fentry, although on the tracing multi-link (7.2) it
// costs less per run: instruction-counted (-icount) vmbench boots gave
// 0.93x-0.95x kprobe-multi's BPF ns per run (paced 2,744 vs 2,875;
// flood 2,832 vs 2,841; sender slowdown 20.2x vs 21.4x; load + attach
// 4.1 s vs 4.2 s with fentryAnyShards instances). It is not complete: the
// trampoline runs a program with migration disabled but not preemption
// and skips it while it already runs on the CPU, so a task preempted
// inside it makes the other tasks of that CPU miss its functions (counted
// as recursion_misses): 0.5% of the events of the flood with one
// instance, 0.15% (774) with four, none paced; bpf_preempt_disable in the
// program does not help (the preemption is taken at bpf_preempt_enable,
// still inside the window). kprobe-multi missed none, and auto takes
// fentry only where it is both cheaper and complete. With one fentry link
// per function (6.1, 6.12) attaching takes minutes besides.
// --backend fentry takes it when asked for.
func autoBackend(kprobeMulti error) (string, string) {
	if kprobeMulti != nil {
		return BackendKprobe, fmt.Sprintf("no kprobe-multi: %v", kprobeMulti)
	}
	return BackendKprobeMulti, "fentry would skip the runs of a program a preempted task is inside; --backend fentry takes it"
}
