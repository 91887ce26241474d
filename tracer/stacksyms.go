package tracer

import (
	"bytes"
	"fmt"
	"io"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// bpfKallsyms returns the symbols of JIT-compiled BPF code (module "bpf":
// programs, subprograms, trampolines, dispatchers) in kallsyms text, except
// those at the addresses in known. The recorder's own programs are loaded
// after the kallsyms snapshot, yet their frames are on the stacks of
// tracepoint and fentry/fexit events: these symbols name them.
func bpfKallsyms(r io.Reader, known map[uint64]bool) ([]format.Symbol, error) {
	text, err := procfs.ReadText(r, procfs.ChunkSize)
	if err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	var out []format.Symbol
	err = text.Lines(func(n int, line []byte) error {
		if !bytes.HasSuffix(bytes.TrimRight(line, " \t"), []byte("[bpf]")) {
			return nil
		}
		l, ok, err := procfs.ParseKallsymsLine(line)
		if err != nil {
			return fmt.Errorf("parse kallsyms line %d: %w", n, err)
		}
		if ok && string(l.Module) == "bpf" && l.Addr != 0 && !known[l.Addr] {
			out = append(out, format.Symbol{Addr: l.Addr, Type: l.Type, Name: string(l.Name), Module: "bpf"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
