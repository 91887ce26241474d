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

// autoKeepsKprobes says why auto does not take fentry for cfg even where
// the kernel has the multi-link ("" when nothing in cfg stops it): the
// options --backend fentry refuses or records differently.
func autoKeepsKprobes(cfg *Config) string {
	if why := fentryRefuses(cfg); why != "" {
		return why + " (fentry refuses it)"
	}
	if cfg.OutputStack {
		// A kprobe event's stack starts in the traced function; an fentry
		// event's in the recorder's program and its trampoline.
		return "--output-stack (fentry stacks start in the recorder's program and trampoline, not in the traced function)"
	}
	if cfg.KernelBTF != "" {
		// The functions and their skb positions come from the file;
		// fentry attaches by the running kernel's BTF.
		return "--kernel-btf (fentry attaches by the running kernel's BTF, not the file's)"
	}
	return ""
}

// autoProbes are the feature probes autoBackend decides by: the error of
// kprobe-multi's, and the fentry probes (run only when needed, in order:
// fentry with an attach cookie, then the tracing multi-link).
type autoProbes struct {
	kprobeMulti error
	fentry      func() error
	multi       func() error
}

// autoBackend is --backend auto's choice for the skb functions, and why
// (for the startup log). fentry is taken on the tracing multi-link only:
// in two instruction-counted (-icount) boots of 7.2, the one kernel with
// BPF_TRACE_FENTRY_MULTI, its program cost 0.93x and 0.95x
// kprobe-multi's per run (paced 2,735 vs 2,891 ns; flood 2,783 vs 2,842;
// the sender slowed 20.0x vs 21.5x) and load + attach took 3.5 s vs
// 4.2 s. With one fentry link per function (6.1, 6.12) every program is
// verified on its own and attaching takes minutes, so without the
// multi-link auto is kprobe-multi, else kprobe. The options fentry
// refuses or records differently (autoKeepsKprobes) keep the kprobe
// backend too: auto accepts whatever kprobe-multi accepts. The cost:
// fentry programs are preemptible and the kernel skips one already
// running on the CPU (counted as recursion_misses): 0.5% of the events
// of the vmbench flood on one vCPU (-icount), none paced; kprobe-multi
// none.
func autoBackend(cfg *Config, p autoProbes) (string, string) {
	kprobe := func(why string) (string, string) {
		if p.kprobeMulti != nil {
			return BackendKprobe, fmt.Sprintf("%s; no kprobe-multi: %v", why, p.kprobeMulti)
		}
		return BackendKprobeMulti, why
	}
	if why := autoKeepsKprobes(cfg); why != "" {
		return kprobe(why)
	}
	if err := p.fentry(); err != nil {
		return kprobe(fmt.Sprintf("no fentry with attach cookies: %v", err))
	}
	if err := p.multi(); err != nil {
		return kprobe(fmt.Sprintf("no tracing multi-link: %v", err))
	}
	return BackendFentry, "the kernel has the tracing multi-link, which costs less per run than kprobe-multi"
}
