package tracer

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"

	"github.com/pwru-record/pwru-record/internal/tracingmulti"
)

// chooseBackend returns the backend of the skb functions and the kprobe
// backend of everything else (non-skb functions, BPF helpers, map
// functions, and the skb functions fentry cannot attach), with the
// multi-link layout when the skb functions use it. auto is kprobe-multi,
// else kprobe: fentry is taken only when asked for. It is not proven
// cheaper here: in the vmbench boots of 7.2 the fentry multi-link cost
// more BPF time per run than kprobe-multi (1.1-1.7x in the latest, once
// its load and attach had become shorter than kprobe-multi's; several
// times in earlier ones, also with the program's body left out: vmbench
// -lean -ablate body), and one fentry link per function (6.1, 6.12) attaches several
// times slower than single kprobes (every program is verified on its
// own); see README. Every choice is feature-probed on the running kernel.
func chooseBackend(cfg *Config, cache *btf.Cache, log io.Writer) (string, string, *tracingmulti.Layout, error) {
	kprobe := BackendKprobe
	if features.HaveBPFLinkKprobeMulti() == nil {
		kprobe = BackendKprobeMulti
	}
	switch cfg.Backend {
	case BackendKprobe:
		return BackendKprobe, BackendKprobe, nil, nil
	case BackendKprobeMulti:
		if err := features.HaveBPFLinkKprobeMulti(); err != nil {
			return "", "", nil, fmt.Errorf("%w: --backend kprobe-multi: kernel does not support it: %w", ErrConfig, err)
		}
		return BackendKprobeMulti, BackendKprobeMulti, nil, nil
	case BackendFentry:
		if cfg.NonSKBFuncs != "" {
			// The caller chains are matched on kprobe stacks; an fentry
			// program's stack starts in its trampoline (not verified to
			// line up: refused rather than losing events silently).
			return "", "", nil, fmt.Errorf("%w: --backend fentry does not support --filter-non-skb-funcs (use a kprobe backend)", ErrConfig)
		}
		if err := fentryProbe(cache); err != nil {
			return "", "", nil, fmt.Errorf("%w: --backend fentry: kernel does not support it: %w", ErrConfig, err)
		}
		multi, err := multiProbe(cache)
		if err != nil {
			fmt.Fprintf(log, "fentry: one link per function (no multi-link: %v)\n", err)
		}
		return BackendFentry, kprobe, multi, nil
	}
	return kprobe, kprobe, nil, nil
}
