package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/tracer"
)

// TestAttempted: a recorder that failed after discovery says what it
// tried and that no capture was written.
func TestAttempted(t *testing.T) {
	tests := []struct {
		name string
		path string
		res  tracer.Result
		want []string
	}{
		{
			name: "attach failed",
			path: "x.pwru",
			res:  tracer.Result{Backend: "kprobe-multi", Planned: 1200, ProbesFailed: 1200, FailedSamples: []string{"ip_rcv: permission denied"}},
			want: []string{
				"pwru-record: stopped before recording (no capture written): 1200 probes planned via kprobe-multi, 0 attached, 1200 failed; startup 0s: ",
				"pwru-record: failed: ip_rcv: permission denied",
			},
		},
		{
			name: "stdout",
			path: "-",
			res:  tracer.Result{Backend: "kprobe", Planned: 3},
			want: []string{"pwru-record: stopped before recording (the stream on stdout is not a capture): 3 probes planned via kprobe, 0 attached, 0 failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			attempted(&b, &tt.res, tt.path)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestStillRoot(t *testing.T) {
	if got := stillRoot(&tracer.Result{}); !strings.HasPrefix(got, "nothing") {
		t.Errorf("stillRoot = %q", got)
	}
	got := stillRoot(&tracer.Result{LossCounters: "lookup: operation not permitted"})
	if !strings.Contains(got, "loss counters") || !strings.Contains(got, "loss_counters_unreadable") {
		t.Errorf("stillRoot = %q", got)
	}
}

func TestOutputFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		want    outputOptions
	}{
		{args: nil, want: outputOptions{Group: -1}},
		{args: []string{"--file-mode", "0640"}, want: outputOptions{Group: -1, Mode: 0o640}},
		{args: []string{"--file-mode", "644"}, want: outputOptions{Group: -1, Mode: 0o644}},
		{args: []string{"--file-mode", "0400"}, wantErr: "the owner must read and write"},
		{args: []string{"--file-mode", "rw"}, wantErr: "want octal permission bits"},
		{args: []string{"--group", "65534"}, want: outputOptions{Group: 65534}},
		{args: []string{"--group", "no-such-group-here"}, wantErr: "unknown group"},
		{args: []string{"--force"}, want: outputOptions{Group: -1, Force: true}},
		{args: []string{"-Z", "no-such-user-here"}, wantErr: "--user: unknown user"},
		{args: []string{"-Z", "0"}, wantErr: "uid 0 keeps every privilege"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			app := newApp()
			var got outputOptions
			app.Action = func(c *cli.Context) error {
				var err error
				if got, err = outputOpts(c); err != nil {
					return err
				}
				if u := c.String("user"); u != "" {
					_, err = lookupUser(u)
				}
				return err
			}
			err := app.Run(append([]string{"pwru-record"}, tt.args...))
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case got != tt.want:
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}
