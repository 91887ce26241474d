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
// multi-link layout when the skb functions use it. auto is decided by
// autoBackend (and logged in one line): kprobe-multi, else kprobe. Every
// choice is feature-probed on the running kernel.
func chooseBackend(cfg *Config, cache *btf.Cache, log io.Writer) (string, string, *tracingmulti.Layout, error) {
	kmultiErr := features.HaveBPFLinkKprobeMulti()
	kprobe := BackendKprobe
	if kmultiErr == nil {
		kprobe = BackendKprobeMulti
	}
	switch cfg.Backend {
	case BackendKprobe:
		return BackendKprobe, BackendKprobe, nil, nil
	case BackendKprobeMulti:
		if kmultiErr != nil {
			return "", "", nil, fmt.Errorf("%w: --backend kprobe-multi: kernel does not support it: %w", ErrConfig, kmultiErr)
		}
		return BackendKprobeMulti, BackendKprobeMulti, nil, nil
	case BackendFentry:
		if why := fentryRefuses(cfg); why != "" {
			return "", "", nil, fmt.Errorf("%w: --backend fentry does not support %s (use a kprobe backend)", ErrConfig, why)
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
	skb, why := autoBackend(kmultiErr)
	fmt.Fprintf(log, "backend auto: %s (%s)\n", skb, why)
	return skb, skb, nil, nil
}
