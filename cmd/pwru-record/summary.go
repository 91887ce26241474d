package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer"
)

// stillRoot says what the recording could not do after dropping the
// privileges.
func stillRoot(r *tracer.Result) string {
	if r.LossCounters != "" {
		return "reading the kernel's loss counters (" + r.LossCounters + "); the capture counts them as loss_counters_unreadable"
	}
	return "nothing (interfaces are named from the snapshot taken at start, with or without --user)"
}

// attempted is the summary of a recording that failed to start: what it
// tried, and that no capture was written.
func attempted(w io.Writer, r *tracer.Result, path string) {
	where := "no capture written"
	if path == "-" {
		where = "the stream on stdout is not a capture"
	}
	fmt.Fprintf(w, "pwru-record: stopped before recording (%s): %d probes planned via %s, %d attached, %d failed; startup %s: %s\n",
		where, r.Planned, r.Backend, r.Probes, r.ProbesFailed, r.Startup.Total().Truncate(time.Millisecond), r.Startup)
	for _, s := range r.FailedSamples {
		fmt.Fprintf(w, "pwru-record: failed: %s\n", s)
	}
}

// readable says what a capture cut short by a full disk still holds: its
// complete sections, read back from path (not possible for stdout).
func readable(path string, res *tracer.Result) string {
	const what = "readable up to the last complete section"
	if path == "-" || res == nil {
		return what
	}
	f, err := format.Open(path, nil)
	if err != nil {
		return what
	}
	defer f.Close()
	return fmt.Sprintf("%d of %d events %s", f.Summary().Events, res.Events, what)
}

func summary(w io.Writer, r *tracer.Result, path string) {
	fmt.Fprintf(w, "pwru-record: %d events, %d lost, %d bytes to %s; %d probes attached via %s, %d failed",
		r.Events, r.Lost, r.Bytes, path, r.Probes, r.Backend, r.ProbesFailed)
	if r.Files > 1 {
		fmt.Fprintf(w, " (%d files, rotated)", r.Files)
	}
	if r.CopyTracking != "" {
		fmt.Fprintf(w, "; clone tracking via %s", r.CopyTracking)
	}
	if r.StopReason != "" {
		fmt.Fprintf(w, "; stopped: %s after %s", r.StopReason, r.Elapsed.Truncate(time.Millisecond))
	}
	if r.Memory.Peak > 0 {
		fmt.Fprintf(w, "; peak RSS %.1f MiB", float64(r.Memory.Peak)/(1<<20))
	}
	fmt.Fprintf(w, "\npwru-record: startup %s: %s; detach %s\n",
		r.Startup.Total().Truncate(time.Millisecond), r.Startup, r.Detach.Truncate(time.Millisecond))
	if m := r.Startup.MemoryString(); m != "" {
		fmt.Fprintf(w, "pwru-record: memory in MiB (VmRSS/RssAnon/Go runtime/VmHWM) after: %s; at the end %s\n", m, r.Memory)
	}
	if r.ProgRuns > 0 {
		fmt.Fprintf(w, "pwru-record: kernel program: %d runs, %s total, %d ns/run\n",
			r.ProgRuns, r.ProgRuntime.Truncate(time.Millisecond), r.ProgRuntime.Nanoseconds()/int64(r.ProgRuns))
	}
	for _, s := range r.FailedSamples {
		fmt.Fprintf(w, "pwru-record: failed: %s\n", s)
	}
}
