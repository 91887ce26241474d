package tracer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/pwru-record/pwru-record/format"
)

// bpfKallsyms returns the symbols of JIT-compiled BPF code (module "bpf":
// programs, subprograms, trampolines, dispatchers) in kallsyms text, except
// those at the addresses in known. The recorder's own programs are loaded
// after the kallsyms snapshot, yet their frames are on the stacks of
// tracepoint and fentry/fexit events: these symbols name them.
func bpfKallsyms(r io.Reader, known map[uint64]bool) ([]format.Symbol, error) {
	var lines bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if b := bytes.TrimRight(sc.Bytes(), " \t"); bytes.HasSuffix(b, []byte("[bpf]")) {
			lines.Write(b)
			lines.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	syms, err := format.ParseKallsyms(&lines)
	if err != nil {
		return nil, err
	}
	out := syms[:0]
	for _, s := range syms {
		if s.Module == "bpf" && s.Addr != 0 && !known[s.Addr] {
			out = append(out, s)
		}
	}
	return out, nil
}
