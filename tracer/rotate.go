package tracer

import (
	"bytes"
	"fmt"
	"io"

	"github.com/pwru-record/pwru-record/format"
)

// teeWriter copies what goes to w into tee while tee is set: the first
// file of a rotated capture up to its first event, from which the next
// files get their snapshots.
type teeWriter struct {
	w   io.Writer
	tee *bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if t.tee != nil {
		t.tee.Write(p[:n])
	}
	return n, err
}

// rotator returns the function that starts the next file of a rotated
// capture: it asks next for the file and writes the header hdr and the
// snapshot sections of prefix (the first file as it was when recording
// started: BTF, kallsyms, probes, interfaces) into it. Only the
// compressed prefix is kept in memory; its sections are copied as they
// are stored (checked, not compressed again) at each rotation.
func rotator(prefix []byte, hdr *format.Header, next func() (io.Writer, error)) (func() (*format.Writer, error), error) {
	snap, err := format.NewFile(bytes.NewReader(prefix), int64(len(prefix)), nil)
	if err != nil {
		return nil, fmt.Errorf("read back capture start for rotation: %w", err)
	}
	return func() (*format.Writer, error) {
		out, err := next()
		if err != nil {
			return nil, err
		}
		w, err := format.NewWriter(out, hdr, nil)
		if err != nil {
			return nil, fmt.Errorf("start capture: %w", err)
		}
		if err := w.CopySections(snap, snapshotSections...); err != nil {
			return nil, fmt.Errorf("copy snapshots: %w", err)
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("write capture: %w", err)
		}
		return w, nil
	}, nil
}

// snapshotSections are the sections every file of a rotated capture
// starts with, copied from the first as they are stored.
var snapshotSections = []format.SectionType{format.SectionKallsyms, format.SectionBTF, format.SectionInterfaces, format.SectionProbes}
