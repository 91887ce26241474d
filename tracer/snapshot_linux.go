package tracer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// openCapture starts the capture in out: its header. With rotation or the
// flight recorder the first file's bytes up to the first event are kept
// too, to start the next files with.
func (s *session) openCapture(out io.Writer) error {
	if s.cfg.RotateSize > 0 || s.cfg.RotateEvery > 0 || s.flight() {
		s.prefix = new(bytes.Buffer)
		out = &teeWriter{w: out, tee: s.prefix}
	}
	s.out, s.opened = out, true
	w, err := format.NewWriter(out, &s.hdr, nil)
	if err != nil {
		return fmt.Errorf("start capture: %w", err)
	}
	s.w = w
	return nil
}

// snapshot stores the snapshots, one at a time so that their memory is
// free before the kernel program is loaded, and plans the probes with the
// addresses kallsyms gave.
func (s *session) snapshot() error {
	disc := s.disc
	vmlinuxRaw := disc.vmlinuxRaw
	disc.vmlinuxRaw = nil
	s.bpfSyms = make(map[uint64]bool)
	err := writeSnapshots(s.w, vmlinuxRaw, disc.modules, s.ksyms, s.addrs, s.bpfSyms, s.ifs, s.nss, s.clock)
	s.ksyms, s.ifs, s.nss = nil, nil, nil
	if err != nil {
		return err
	}
	s.planProbes(disc, s.backend)
	s.planMapProbes(disc, s.backend)
	s.addrs = nil
	debug.FreeOSMemory()
	s.clock.mark("free")
	return nil
}

// writeSnapshots stores kallsyms (filling in addrs, and bpfSyms with the
// addresses of BPF code symbols), the kernel's BTF
// (vmlinux, then the modules, each read again here so that one is in
// memory at a time) and the interfaces. kallsyms goes first: its text is
// let go of as it is stored, before the BTF's compression buffers are
// needed.
func writeSnapshots(w *format.Writer, vmlinuxRaw []byte, modules []string, ksyms *procfs.Kallsyms, addrs map[string]uint64, bpfSyms map[uint64]bool, ifs []format.Interface, nss []format.Netns, clock *phaseClock) error {
	err := ksyms.Emit(addrs, func(syms []format.Symbol) error {
		for _, sym := range syms {
			if sym.Module == "bpf" {
				bpfSyms[sym.Addr] = true
			}
		}
		return w.AddKallsyms(syms)
	})
	if err != nil {
		return fmt.Errorf("store kallsyms: %w", err)
	}
	runtime.GC()
	clock.mark("store kallsyms")
	if err := w.AddBTF("", vmlinuxRaw); err != nil {
		return fmt.Errorf("store kernel BTF: %w", err)
	}
	for _, m := range modules {
		raw, err := os.ReadFile(moduleBTFDir + "/" + m)
		if err != nil {
			return fmt.Errorf("read BTF of module %s: %w", m, err)
		}
		if err := w.AddBTF(m, raw); err != nil {
			return fmt.Errorf("store BTF of module %s: %w", m, err)
		}
	}
	clock.mark("store BTF")
	if err := w.AddInterfaces(ifs, nss); err != nil {
		return fmt.Errorf("store interfaces: %w", err)
	}
	return nil
}
