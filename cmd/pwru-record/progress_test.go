package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/tracer"
)

func TestProgressBar(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		events []tracer.ProgressEvent
		want   string
	}{
		{
			name: "attach",
			events: []tracer.ProgressEvent{
				{Kind: tracer.ProgressAttach, Done: 1, Total: 4},
				{Kind: tracer.ProgressAttach, Done: 2, Total: 4}, // within 100 ms: not drawn
				{Kind: tracer.ProgressAttach, Done: 4, Total: 4}, // the last always is
				{Kind: tracer.ProgressAttachDone, Done: 4, Total: 4},
			},
			want: "\r\033[Kattaching [==========                              ] 1/4" +
				"\r\033[Kattaching [========================================] 4/4\n",
		},
		{
			name:   "nothing to attach",
			events: []tracer.ProgressEvent{{Kind: tracer.ProgressAttachDone}},
			want:   "",
		},
		{
			name: "status",
			events: []tracer.ProgressEvent{
				{Kind: tracer.ProgressStatus, Probes: 3, At: t0, Stats: tracer.Stats{Events: 10, Bytes: 2048, Elapsed: 1500 * time.Millisecond}},
				{Kind: tracer.ProgressStatus, Probes: 3, At: t0.Add(2 * time.Second), Stats: tracer.Stats{Events: 110, Lost: 1, Bytes: 3 << 20, Elapsed: 3500 * time.Millisecond}},
				{Kind: tracer.ProgressEnd},
			},
			want: "\r\033[Kevents 10 (0/s)  lost 0  written 2.0 KiB  probes 3  1s" +
				"\r\033[Kevents 110 (50/s)  lost 1  written 3.0 MiB  probes 3  3s\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := &progressBar{w: &b}
			for _, e := range tt.events {
				p.event(e)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
