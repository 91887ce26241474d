package tracer

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// BenchmarkFlightCaptureStart measures what a flight recorder trigger (or
// a rotation) costs before the first event is written: a new file with
// the header and this host's snapshots (vmlinux BTF, kallsyms) copied
// from the first file.
func BenchmarkFlightCaptureStart(b *testing.B) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		b.Skipf("no vmlinux BTF: %v", err)
	}
	text, err := procfs.ReadFirst(procfs.KallsymsPath)
	if err != nil {
		b.Skipf("no kallsyms: %v", err)
	}
	k, err := procfs.CheckKallsyms(text)
	if err != nil {
		b.Skipf("kallsyms unusable here: %v", err)
	}
	var prefix bytes.Buffer
	hdr := &format.Header{WriterVersion: "bench"}
	w, err := format.NewWriter(&prefix, hdr, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.AddBTF("", raw); err != nil {
		b.Fatal(err)
	}
	if err := k.Emit(map[string]uint64{}, w.AddKallsyms); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	next, err := rotator(prefix.Bytes(), hdr, func() (io.Writer, error) { return io.Discard, nil })
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(prefix.Len()), "B/snapshots")
}
