package tracer

import (
	"errors"
	"strings"
	"testing"
)

func TestAutoBackend(t *testing.T) {
	errNo := errors.New("not supported")
	tests := []struct {
		name               string
		cfg                Config
		kmulti, fent, mult error
		want               string
		whyHas             string
		probed             bool // the fentry probes ran
	}{
		{name: "multi-link", want: BackendFentry, whyHas: "tracing multi-link", probed: true},
		{name: "no multi-link (6.1, 6.12)", mult: errNo, want: BackendKprobeMulti, whyHas: "no tracing multi-link: not supported", probed: true},
		{name: "no fentry cookies (5.10)", fent: errNo, mult: errNo, want: BackendKprobeMulti, whyHas: "no fentry with attach cookies", probed: true},
		{name: "no kprobe-multi nor fentry", kmulti: errNo, fent: errNo, mult: errNo, want: BackendKprobe, whyHas: "no kprobe-multi: not supported", probed: true},
		{name: "multi-link without kprobe-multi", kmulti: errNo, want: BackendFentry, probed: true},
		{name: "non-skb funcs", cfg: Config{NonSKBFuncs: "^foo$"}, want: BackendKprobeMulti, whyHas: "--filter-non-skb-funcs"},
		{name: "non-skb funcs, no kprobe-multi", cfg: Config{NonSKBFuncs: "^foo$"}, kmulti: errNo, want: BackendKprobe, whyHas: "--filter-non-skb-funcs"},
		{name: "stack", cfg: Config{OutputStack: true}, want: BackendKprobeMulti, whyHas: "--output-stack"},
		{name: "kernel btf", cfg: Config{KernelBTF: "/tmp/vmlinux"}, want: BackendKprobeMulti, whyHas: "--kernel-btf"},
		// What fentry records as kprobe-multi does (TestBackends): these
		// take it.
		{name: "caller, tracking, tc", cfg: Config{OutputCaller: true, TrackSKB: true, TrackSKBByStackID: true, TraceTC: true, TraceXDP: true, OutputBPFMap: true, Kmods: []string{"veth"}, PayloadEvery: true}, want: BackendFentry, probed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probed := false
			got, why := autoBackend(&tt.cfg, autoProbes{
				kprobeMulti: tt.kmulti,
				fentry:      func() error { probed = true; return tt.fent },
				multi:       func() error { probed = true; return tt.mult },
			})
			if got != tt.want || !strings.Contains(why, tt.whyHas) {
				t.Errorf("autoBackend = %s (%s), want %s (with %q)", got, why, tt.want, tt.whyHas)
			}
			if probed != tt.probed {
				t.Errorf("fentry probed %v, want %v", probed, tt.probed)
			}
		})
	}
}

func TestFentryRefuses(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{OutputStack: true, OutputCaller: true}, ""},
		{Config{NonSKBFuncs: "x"}, "--filter-non-skb-funcs"},
	}
	for _, tt := range tests {
		if got := fentryRefuses(&tt.cfg); got != tt.want {
			t.Errorf("fentryRefuses(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
