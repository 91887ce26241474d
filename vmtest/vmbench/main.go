// Command vmbench measures pwru-record in the test VM (`make vmbench`): it
// builds the guest driver and the recorder, boots each kernel once with
// the guest's "bench" scenario, reads the results and the captures the
// guest left in the output directory and prints one markdown table.
//
// The VM is emulated (qemu TCG), so every time-based figure is shown next
// to the same flood without the recorder, as a ratio.
//
//	go run ./vmtest/vmbench -kernels 6.1,6.12
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/vm"
	"github.com/pwru-record/pwru-record/vmtest/vmbench/benchres"
)

func main() {
	kernels := flag.String("kernels", "6.1,6.12", "comma-separated kernel series to boot")
	out := flag.String("out", "", "output directory (default .cache/vmbench in the module root)")
	timeout := flag.Duration("timeout", 12*time.Minute, "time limit per kernel")
	verbose := flag.Bool("v", false, "stream the guest console to stderr")
	noRun := flag.Bool("no-run", false, "print the table from the results the last run left in -out (no build, no VM)")
	flag.BoolVar(&leanCfg.on, "lean", false, "run the lean scenario instead of the bench: pwru-record with the defaults, with each -ablate part left out, and -pwru, over the same traffic")
	ablate := flag.String("ablate", "", "-lean: comma-separated --debug-ablate values, one run each (e.g. payload,meta,tuple,common,ring,cookie,post,body)")
	flag.BoolVar(&leanCfg.concurrent, "concurrent", false, "-lean: the -ablate runs (with the defaults first and last, -baseline and -pwru) attached all at once over one paced phase and flood")
	flag.IntVar(&icount, "icount", -1, "run the guest clock on instruction counting (qemu -icount shift=N): every time figure counts guest instructions (2^N ns each), whatever the host's load; -1 = the host's clock")
	backends := flag.String("backends", "", "-lean: comma-separated pwru-record backends, each with the defaults and every -ablate part (default: the kernel's best kprobe backend)")
	flag.StringVar(&leanCfg.pwru, "pwru", "", "-lean: a cilium/pwru binary (statically linked) run in the same boot")
	flag.StringVar(&baseline, "baseline", "", "another pwru-record binary (e.g. built from main) measured first in the same boot, with the defaults")
	flag.Parse()
	leanCfg.ablate, leanCfg.backends = list(*ablate), list(*backends)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, strings.Split(*kernels, ","), *out, *timeout, *verbose, *noRun, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "vmbench: %v\n", err)
		os.Exit(1)
	}
}

// list splits a comma-separated flag value, dropping empty entries.
func list(s string) []string {
	var l []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			l = append(l, a)
		}
	}
	return l
}

// baseline is the -baseline recorder ("" = none).
var baseline string

// icount is the -icount shift (-1: off).
var icount = -1

// leanCfg is the -lean configuration.
var leanCfg lean

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vmbench: "+format+"\n", args...)
}

func run(ctx context.Context, kernels []string, out string, timeout time.Duration, verbose, noRun bool, w io.Writer) error {
	root, err := vm.ModuleRoot()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, ".cache", "vmbench")
	}
	bin := filepath.Join(out, "bin")
	guest, recorder := filepath.Join(bin, "guest"), filepath.Join(bin, "pwru-record")
	if noRun && leanCfg.on {
		for _, series := range kernels {
			if series = strings.TrimSpace(series); series != "" {
				printLean(w, series, filepath.Join(out, series, "lean"))
			}
		}
		return nil
	}
	if noRun {
		var rows []row
		for _, series := range kernels {
			if series = strings.TrimSpace(series); series != "" {
				rows = append(rows, readResults(series, filepath.Join(out, series, "bench"), "")...)
			}
		}
		printTable(w, rows)
		return nil
	}
	if err := build(ctx, root, guest, "./vmtest/guest", false); err != nil {
		return err
	}
	if err := build(ctx, root, recorder, "./cmd/pwru-record", true); err != nil {
		return err
	}
	var rows []row
	for _, series := range kernels {
		series = strings.TrimSpace(series)
		if series == "" {
			continue
		}
		rows = append(rows, runKernel(ctx, series, filepath.Join(out, series), guest, recorder, timeout, verbose)...)
		if leanCfg.on {
			printLean(w, series, filepath.Join(out, series, "lean"))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	if !leanCfg.on {
		printTable(w, rows)
	}
	return nil
}

// build compiles pkg to dst: the guest statically without cgo, the
// recorder with cgo (the harness copies its shared libraries).
func build(ctx context.Context, root, dst, pkg string, cgo bool) error {
	logf("building %s", pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dst, pkg)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if !cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// runKernel boots series with the bench scenario and turns its results
// into table rows; a failure becomes a row saying why.
func runKernel(ctx context.Context, series, out, guest, recorder string, timeout time.Duration, verbose bool) []row {
	fail := func(err error) []row {
		logf("%s: %v", series, err)
		return []row{{kernel: series, backend: "-", err: err.Error()}}
	}
	k, err := vm.Fetch(ctx, series, "")
	if err != nil {
		return fail(err)
	}
	if err := os.RemoveAll(out); err != nil {
		return fail(fmt.Errorf("clean %s: %w", out, err))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fail(fmt.Errorf("create %s: %w", out, err))
	}
	cfg := vm.Config{
		Kernel:  k,
		Files:   map[string]string{"/bin/guest": guest, "/bin/pwru-record": recorder},
		Modules: []string{"veth"},
		Script:  "/bin/guest -out /out -recorder /bin/pwru-record -scenarios bench 2>&1",
		Timeout: timeout,
		OutDir:  out,
	}
	if verbose {
		cfg.Console = os.Stderr
	}
	if icount >= 0 {
		cfg.Icount = &icount
	}
	if baseline != "" {
		cfg.Files["/bin/pwru-record-base"] = baseline
	}
	if leanCfg.on {
		if err := leanCfg.files(out, cfg.Files); err != nil {
			return fail(err)
		}
		cfg.Script = fmt.Sprintf("/bin/guest -out /out -recorder /bin/pwru-record -timeout %v -scenarios lean 2>&1", timeout)
		cfg.MemoryMiB = 2048 // -concurrent: a dozen tracers at once
	}
	logf("%s: booting %s", series, k)
	res, err := vm.Run(ctx, cfg)
	if err != nil {
		return fail(fmt.Errorf("vm: %w", err))
	}
	logf("%s: boot %.1fs, script %.1fs, total %.1fs", series, res.Boot.Seconds(), res.Script.Seconds(), res.Total.Seconds())
	if leanCfg.on {
		if res.Status != 0 {
			logf("%s: guest exit status %d; console tail:\n%s", series, res.Status, res.ConsoleTail(15))
		}
		return nil
	}
	return readResults(series, filepath.Join(out, "bench"), fmt.Sprintf("guest exit status %d; console tail:\n%s", res.Status, res.ConsoleTail(15)))
}

// readResults turns the guest's results in dir into table rows; a failure
// becomes a row saying why (with context appended to the log).
func readResults(series, dir, context string) []row {
	r, err := benchres.Read(filepath.Join(dir, benchres.FileName))
	if err != nil {
		logf("%s: %v; %s", series, err, context)
		return []row{{kernel: series, backend: "-", err: "not measured: " + firstLine(err.Error())}}
	}
	var rows []row
	for _, b := range r.Backends {
		rows = append(rows, analyze(r, &b, dir))
	}
	return rows
}

// row is one kernel and backend of the table; err set means the backend
// could not be measured.
type row struct {
	kernel, backend string
	err             string
	cells           []string
}

var columns = []string{
	"kernel", "backend", "functions attached", "attach time (ready file)",
	"startup phases, peak RSS (recorder's summary)",
	"BPF cost per run (bpf_stats)", "BPF cost per packet vs an untraced packet",
	"highest zero-loss step", "events/s there: traced pkt/s ÷ untraced",
	"first step with loss", "unpaced flood pkt/s: traced ÷ untraced", "bytes per 1M events",
	"steps: offered pkt/s → sent pkt/s traced (untraced), events/s, lost",
}

var (
	reSummary = regexp.MustCompile(`pwru-record: (\d+) events, (\d+) lost, (\d+) bytes to .*?; (\d+) probes attached via (\S+), (\d+) failed`)
	reAttach  = regexp.MustCompile(`startup [^:]*: .*\battach (\S+?)[,;]`)
	reStartup = regexp.MustCompile(`startup (\S+): (.*); detach`)
	rePeak    = regexp.MustCompile(`peak RSS (\S+) MiB`)
	reProg    = regexp.MustCompile(`kernel program: (\d+) runs, \S+ total, (\d+) ns/run`)
)

func analyze(r *benchres.Results, b *benchres.Backend, dir string) row {
	rw := row{kernel: r.Kernel, backend: b.Name}
	if b.Error != "" && len(b.Steps) == 0 {
		rw.err = "not measured: " + firstLine(b.Error)
		return rw
	}
	sum := reSummary.FindStringSubmatch(b.Stderr)
	if sum == nil {
		rw.err = "not measured: the recorder printed no summary: " + firstLine(b.Error)
		return rw
	}
	probes, _ := strconv.Atoi(sum[4])
	failed, _ := strconv.Atoi(sum[6])
	totalLost, _ := strconv.ParseUint(sum[2], 10, 64)
	// The name is the asked backend, then the options of the run.
	asked, opts, _ := strings.Cut(b.Name, " ")
	rw.backend = b.Name
	if sum[5] != asked {
		rw.backend = strings.TrimSpace(fmt.Sprintf("%s %s (asked %s)", sum[5], opts, asked))
	}

	c := make([]string, 0, len(columns)-2)
	c = append(c, fmt.Sprintf("%d (%d failed)", probes, failed))
	attach := fmt.Sprintf("%.2f s", b.Ready.Seconds())
	if m := reAttach.FindStringSubmatch(b.Stderr); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil && probes > 0 {
			attach += fmt.Sprintf(", of which attaching %.2f s = %.2f ms/function", d.Seconds(), d.Seconds()*1e3/float64(probes))
		}
	}
	c = append(c, attach)
	startup := "not measured: no startup line in the summary"
	if m := reStartup.FindStringSubmatch(b.Stderr); m != nil {
		startup = fmt.Sprintf("%s (%s)", m[1], m[2])
	}
	if b.PeakRSS > 0 {
		startup += fmt.Sprintf("; peak RSS %.1f MiB (VmHWM before the stop)", float64(b.PeakRSS)/(1<<20))
	}
	if m := rePeak.FindStringSubmatch(b.Stderr); m != nil {
		startup += fmt.Sprintf(", %s MiB at the end", m[1])
	}
	c = append(c, startup)

	// Per-step events from the capture's timestamps.
	capPath := filepath.Join(dir, b.Capture)
	f, err := format.Open(capPath, nil)
	if err != nil {
		rw.err = fmt.Sprintf("not measured: capture: %v", err)
		return rw
	}
	defer f.Close()
	written := make([]uint64, len(b.Steps))
	var ev format.Event
	it := f.Events(nil)
	for it.Next(&ev) {
		for i, st := range b.Steps {
			if ev.Time >= st.Start && ev.Time < st.End {
				written[i]++
				break
			}
		}
	}
	if err := it.Err(); err != nil {
		rw.err = fmt.Sprintf("not measured: read capture events: %v", err)
		return rw
	}

	// BPF cost: kernel bpf_stats over the flood steps (the recorder's own
	// --bpf-stats total as a fallback).
	var runs, runtime, sent uint64
	counted := true
	for _, st := range b.Steps {
		counted = counted && st.Counted
		runs += st.ProgRuns
		runtime += st.ProgRuntime
		sent += st.Sent
	}
	src := "flood steps"
	if !counted || runs == 0 {
		runs, runtime, src = 0, 0, "whole run"
		if m := reProg.FindStringSubmatch(b.Stderr); m != nil {
			runs, _ = strconv.ParseUint(m[1], 10, 64)
			nsRun, _ := strconv.ParseUint(m[2], 10, 64)
			runtime = nsRun * runs
		}
	}
	untraced := pps(r.Baseline[len(r.Baseline)-1])
	if runs == 0 {
		c = append(c, "not measured: no bpf_stats ("+firstLine(b.StatsError)+")", "not measured: no bpf_stats")
	} else {
		nsRun := float64(runtime) / float64(runs)
		c = append(c, fmt.Sprintf("%.0f ns/run (%d runs, %s)", nsRun, runs, src))
		if sent == 0 || untraced == 0 {
			c = append(c, "not measured: no packets sent")
		} else {
			perPkt := float64(runtime) / float64(sent)
			c = append(c, fmt.Sprintf("%.1f runs/pkt × %.0f ns = %.1f µs = %.2f× an untraced packet (%.1f µs)",
				float64(runs)/float64(sent), nsRun, perPkt/1e3, perPkt/(1e9/untraced), 1e6/untraced))
		}
	}

	// Zero loss: the per-step ring buffer loss counter; without it only a
	// run that lost nothing at all tells.
	best, firstLoss, unknown := -1, -1, false
	for i, st := range b.Steps {
		switch {
		case st.Counted && st.Lost+st.Misses == 0, !st.Counted && totalLost == 0:
			best = i
		case st.Counted:
			if firstLoss < 0 {
				firstLoss = i
			}
		default:
			unknown = true
		}
	}
	if unknown {
		best = -2
	}
	switch best {
	case -2:
		c = append(c, "not measured: per-step loss counter unreadable ("+firstLine(b.StatsError)+fmt.Sprintf("), %d lost in the run", totalLost), "-")
	case -1:
		c = append(c, "none (loss from the first step)", "-")
	default:
		st := b.Steps[best]
		base := r.Baseline[best]
		c = append(c, fmt.Sprintf("%s: %d events written, 0 lost (ring %s)", offered(st), written[best], r.RingbufSize),
			fmt.Sprintf("%.0f events/s; %.0f ÷ %.0f pkt/s = %.2f", float64(written[best])/st.Flood.Seconds(), pps(st), pps(base), ratio(pps(st), pps(base))))
	}
	if firstLoss >= 0 {
		st := b.Steps[firstLoss]
		lost := st.Lost + st.Misses
		c = append(c, fmt.Sprintf("%s: %d written, %d lost (%.1f%%; %d recursion misses among them), %.0f events/s", offered(st), written[firstLoss], lost,
			100*float64(lost)/float64(max(lost+written[firstLoss], 1)), st.Misses, float64(written[firstLoss])/st.Flood.Seconds()))
	} else {
		c = append(c, fmt.Sprintf("none (all %d steps lossless)", len(b.Steps)))
	}
	last := b.Steps[len(b.Steps)-1]
	c = append(c, fmt.Sprintf("%.0f ÷ %.0f = %.2f", pps(last), untraced, ratio(pps(last), untraced)))

	// Bytes per million events: the capture minus the fixed sections.
	st, err := os.Stat(capPath)
	events := f.Summary().Events
	if err != nil || events == 0 {
		c = append(c, "not measured: no events in the capture")
	} else {
		var fixed int64
		for _, s := range f.Sections() {
			if s.Type == format.SectionBTF || s.Type == format.SectionKallsyms {
				fixed += s.Size
			}
		}
		perEvent := float64(st.Size()-fixed) / float64(events)
		c = append(c, fmt.Sprintf("%.2f MB (%.1f B/event over %d events; fixed BTF+kallsyms %.2f MB not counted)",
			perEvent, perEvent, events, float64(fixed)/1e6))
	}
	var steps []string
	for i, st := range b.Steps {
		lost := "lost ?"
		if st.Counted {
			lost = fmt.Sprintf("%d lost", st.Lost)
			if st.Misses > 0 {
				lost += fmt.Sprintf(" (+%d recursion misses)", st.Misses)
			}
		}
		want := "unpaced"
		if st.Offered > 0 {
			want = strconv.Itoa(st.Offered)
		}
		steps = append(steps, fmt.Sprintf("%s → %.0f (%.0f), %.0f ev/s, %s", want, pps(st), pps(r.Baseline[i]),
			float64(written[i])/st.Flood.Seconds(), lost))
	}
	c = append(c, strings.Join(steps, "; "))
	rw.cells = c
	return rw
}

func pps(st benchres.Step) float64 {
	if st.Flood <= 0 {
		return 0
	}
	return float64(st.Sent) / st.Flood.Seconds()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func offered(st benchres.Step) string {
	if st.Offered == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%d pkt/s offered", st.Offered)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "|", "/")
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(columns, " | "), strings.Repeat("---|", len(columns)))
	for _, r := range rows {
		cells := r.cells
		if r.err != "" {
			cells = []string{r.err}
			for len(cells) < len(columns)-2 {
				cells = append(cells, "-")
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.kernel, r.backend, strings.Join(cells, " | "))
	}
}
