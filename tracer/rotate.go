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
// compressed prefix is kept in memory; it is read again at each
// rotation.
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
		if err := copySnapshots(w, snap); err != nil {
			return nil, err
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("write capture: %w", err)
		}
		return w, nil
	}, nil
}

// copySnapshots stores the snapshot sections of src into w.
func copySnapshots(w *format.Writer, src *format.File) error {
	syms, err := src.Symbols()
	if err != nil {
		return fmt.Errorf("copy kallsyms: %w", err)
	}
	if all := syms.All(); len(all) > 0 {
		if err := w.AddKallsyms(all); err != nil {
			return fmt.Errorf("copy kallsyms: %w", err)
		}
	}
	for _, m := range src.BTFModules() {
		raw, err := src.RawBTF(m)
		if err != nil {
			return fmt.Errorf("copy btf %q: %w", m, err)
		}
		if err := w.AddBTF(m, raw); err != nil {
			return fmt.Errorf("copy btf %q: %w", m, err)
		}
	}
	if ifs, nss := src.Interfaces(), src.Netns(); len(ifs) > 0 || len(nss) > 0 {
		if err := w.AddInterfaces(ifs, nss); err != nil {
			return fmt.Errorf("copy interfaces: %w", err)
		}
	}
	if p := src.Probes(); len(p) > 0 {
		if err := w.AddProbes(p); err != nil {
			return fmt.Errorf("copy probes: %w", err)
		}
	}
	return nil
}
