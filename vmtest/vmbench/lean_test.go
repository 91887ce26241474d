package main

import "testing"

func TestPerPktRefs(t *testing.T) {
	refs := &perPktRefs{byBackend: map[string]float64{"kprobe-multi": 2.0, "fentry": 1.99}, firstBackend: "kprobe-multi", pwruBackend: "kprobe-multi"}
	tests := []struct {
		lr   leanRow
		want float64
	}{
		{leanRow{tool: "pwru-record", backend: "kprobe-multi"}, 2.0},
		{leanRow{tool: "pwru-record", backend: "fentry"}, 1.99},
		{leanRow{tool: "pwru", backend: "kprobe-multi"}, 2.0},
		{leanRow{tool: "pwru-record", backend: "kprobe"}, 2.0}, // no defaults of its own
	}
	for _, tt := range tests {
		if got := refs.of(tt.lr); got != tt.want {
			t.Errorf("of(%s %s) = %v, want %v", tt.lr.tool, tt.lr.backend, got, tt.want)
		}
	}
}

func TestAutoChoice(t *testing.T) {
	tests := []struct{ stderr, want string }{
		{"x\nbackend auto: fentry multi-link (the kernel has the tracing multi-link, which costs less)\ny", "fentry multi-link"},
		{"backend auto: kprobe-multi (no tracing multi-link: not supported)\n", "kprobe-multi"},
		{"attached 10 probes\n", ""},
	}
	for _, tt := range tests {
		got := ""
		if m := reAutoChoice.FindStringSubmatch(tt.stderr); m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("auto choice in %q = %q, want %q", tt.stderr, got, tt.want)
		}
	}
}
