package tracer

import (
	"errors"
	"strings"
	"testing"
)

func TestAutoBackend(t *testing.T) {
	errNo := errors.New("not supported")
	tests := []struct {
		name   string
		kmulti error
		want   string
		whyHas string
	}{
		{name: "kprobe-multi (6.12; 7.2 with the tracing multi-link too)", want: BackendKprobeMulti, whyHas: "--backend fentry"},
		{name: "no kprobe-multi (5.10, 6.1)", kmulti: errNo, want: BackendKprobe, whyHas: "no kprobe-multi: not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := autoBackend(tt.kmulti)
			if got != tt.want || !strings.Contains(why, tt.whyHas) {
				t.Errorf("autoBackend = %s (%s), want %s (with %q)", got, why, tt.want, tt.whyHas)
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
