package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
	"github.com/pwru-record/pwru-record/internal/bpffilter/pcap"
	"github.com/pwru-record/pwru-record/internal/bpffilter/skbexpr"
)

// Case is one combination of filters to inject and load.
type Case struct {
	Name string `json:"name"`
	// PCAP maps a pcap placeholder name to classic BPF (raw instructions).
	PCAP map[string][]bpf.RawInstruction `json:"pcap,omitempty"`
	// SkbExpr and XdpExpr go to filter_skb_expr and filter_xdp_expr.
	SkbExpr string `json:"skb_expr,omitempty"`
	XdpExpr string `json:"xdp_expr,omitempty"`
}

func main() {
	casesPath := flag.String("cases", "/cases.json", "JSON list of load cases (Case)")
	objs := flag.String("obj", "/placeholders.o", "comma-separated objects to inject into")
	execPath := flag.String("exec", "", "JSON list of execution cases (ExecCase); empty: none")
	runner := flag.String("runner", "/runner.o", "object with the syscall program for -exec")
	flag.Parse()
	failed, err := run(os.Stdout, *casesPath, strings.Split(*objs, ","))
	if err == nil && *execPath != "" {
		var kernel *btf.Spec
		if kernel, err = btf.LoadKernelSpec(); err == nil {
			var n int
			n, err = runExec(os.Stdout, *execPath, *runner, kernel)
			failed += n
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "filterverify:", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func run(w io.Writer, casesPath string, objs []string) (int, error) {
	raw, err := os.ReadFile(casesPath)
	if err != nil {
		return 0, fmt.Errorf("read cases: %w", err)
	}
	var cases []Case
	if err := json.Unmarshal(raw, &cases); err != nil {
		return 0, fmt.Errorf("decode cases: %w", err)
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, fmt.Errorf("load kernel btf: %w", err)
	}
	failed := 0
	for _, obj := range objs {
		for _, c := range cases {
			progs, err := check(obj, c, kernel)
			if err != nil {
				failed++
				fmt.Fprintf(w, "FAIL %s %s: %s\n", c.Name, obj, oneLine(err))
				continue
			}
			fmt.Fprintf(w, "ok %s %s %s\n", c.Name, obj, progs)
		}
	}
	return failed, nil
}

// check injects c into a fresh copy of obj and loads every program.
func check(obj string, c Case, kernel *btf.Spec) (string, error) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return "", fmt.Errorf("load spec: %w", err)
	}
	// Programs needing an attach target at load time (fentry/fexit on
	// BPF programs) cannot be loaded on their own; the filters are the
	// same code in every program, so kprobes are enough.
	for name, p := range spec.Programs {
		if p.Type != ebpf.Kprobe {
			delete(spec.Programs, name)
		}
	}
	dedupe(spec)
	if err := enableFilters(spec); err != nil {
		return "", err
	}
	names := make([]string, 0, len(c.PCAP))
	for n := range c.PCAP {
		names = append(names, n)
	}
	sort.Strings(names)
	var injected []string
	for _, ph := range names {
		filter := make([]bpf.Instruction, len(c.PCAP[ph]))
		for i, r := range c.PCAP[ph] {
			filter[i] = r.Disassemble()
		}
		code, err := pcap.Translate(filter, ph)
		if err != nil {
			return "", err
		}
		if _, err := patch.Replace(spec, ph, code); err != nil {
			if errors.Is(err, patch.ErrNotFound) {
				continue // only in programs removed above
			}
			return "", err
		}
		injected = append(injected, ph)
	}
	for ph, expr := range map[string]string{skbexpr.PlaceholderSkb: c.SkbExpr, skbexpr.PlaceholderXdp: c.XdpExpr} {
		if expr == "" {
			continue
		}
		if err := skbexpr.Inject(spec, ph, expr, kernel); err != nil {
			if errors.Is(err, patch.ErrNotFound) {
				continue
			}
			return "", err
		}
		injected = append(injected, ph)
	}
	sort.Strings(injected)
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogSizeStart: 1 << 20},
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			n := len(ve.Log)
			return "", fmt.Errorf("%v: log tail: %s", err, strings.Join(ve.Log[max(0, n-12):], " | "))
		}
		return "", err
	}
	defer coll.Close()
	var out []string
	for name, p := range coll.Programs {
		info, err := p.Info()
		if err != nil {
			return "", fmt.Errorf("program info %s: %w", name, err)
		}
		n := 0
		if insns, err := info.Instructions(); err == nil {
			n = len(insns)
		}
		out = append(out, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(out)
	return strings.Join(out, " ") + " injected=" + strings.Join(injected, ","), nil
}

// dedupe keeps one program per family of variants that differ only in a
// numeric suffix (the recorder's kprobe_skb_1..5 take the skb from
// different argument registers and share every filter): loading the same
// filter code five times only makes the guest run slower under TCG.
func dedupe(spec *ebpf.CollectionSpec) {
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := make(map[string]bool)
	for _, n := range names {
		stem := strings.TrimRight(n, "0123456789")
		if stem == n || !strings.HasSuffix(stem, "_") {
			continue
		}
		if seen[stem] {
			delete(spec.Programs, n)
		}
		seen[stem] = true
	}
}

// enableFilters turns on the recorder's filter switches when obj has them
// (the recorder's "volatile const struct config CFG"): with them off the
// verifier prunes the calls to the placeholders as dead code and never
// checks the injected bodies.
func enableFilters(spec *ebpf.CollectionSpec) error {
	v, ok := spec.Variables["CFG"]
	if !ok || v.Type == nil {
		return nil
	}
	st, ok := btf.UnderlyingType(v.Type.Type).(*btf.Struct)
	if !ok {
		return fmt.Errorf("CFG is %v, not a struct", v.Type.Type)
	}
	buf := make([]byte, v.Size())
	copy(buf, v.Value)
	for _, m := range st.Members {
		switch m.Name {
		case "filter_pcap", "filter_tunnel", "filter_skb_expr", "filter_xdp_expr":
			if off := m.Offset.Bytes(); off < uint32(len(buf)) {
				buf[off] = 1
			}
		}
	}
	if err := v.Set(buf); err != nil {
		return fmt.Errorf("enable filters in CFG: %w", err)
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
