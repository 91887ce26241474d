package tracer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/tracingmulti"
)

// ErrNoFunctions: no kernel function matched the selection.
var ErrNoFunctions = errors.New("no function matches")

// ErrNoneAttached: every probe failed to attach.
var ErrNoneAttached = errors.New("no probe could be attached")

// Result summarises a recording.
type Result struct {
	Stats
	Files         int    // capture files written (more than 1 with rotation)
	Backend       string // of the skb functions: kprobe, kprobe-multi, fentry, or fentry-multi (fentry on tracing multi-links)
	CopyTracking  string // --filter-track-skb: how clones inherit track ids (copyTracking.describe), "" = off
	Probes        int    // probes attached
	ProbesFailed  int
	FailedSamples []string      // a few "name: error" lines of failed probes
	Startup       Phases        // what startup spent, phase by phase
	Detach        time.Duration // detaching the probes at the end
	// With Config.BPFStats: what the kernel program cost.
	ProgRuns    uint64        // program runs (probe hits, before filtering)
	ProgRuntime time.Duration // total time spent in the programs
	// Memory when the capture was complete; Memory.Peak is the peak RSS
	// of the whole recording.
	Memory Memory
	// Planned is the number of probes the recording tried to attach;
	// Recording says that recording began (Config.Started was called).
	// A Result with Recording false describes a start that failed: the
	// output holds no usable capture.
	Planned   int
	Recording bool
	// LossCounters is empty when the kernel's loss counters were read;
	// otherwise why they could not be (after Config.Started dropped the
	// privileges on a kernel whose bpf() needs CAP_BPF for map lookups).
	LossCounters string
}

// ListFuncs returns what a recording with cfg would trace: the sk_buff
// functions, then the non-skb ones (--filter-non-skb-funcs), the BPF
// helpers (--filter-track-bpf-helpers) and the BPF map functions
// (--output-bpfmap).
func ListFuncs(cfg *Config) ([]Func, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := discover(cfg, btf.NewCache(), readTextAsync(availPaths...), newPhaseClock())
	if err != nil {
		return nil, err
	}
	funcs := append(append(d.skb, d.nonSKB...), d.helpers...)
	for _, f := range d.mapFuncs {
		funcs = append(funcs, Func{Name: f.Name})
	}
	return funcs, nil
}

type discovery struct {
	skb, nonSKB []Func
	helpers     []Func   // BPF helper functions (--filter-track-bpf-helpers)
	modules     []string // modules with traced functions
	vmlinuxRaw  []byte

	mapFuncs []MapFunc // BPF map functions (--output-bpfmap)

	caps kernelCaps
	// Without module BTF: the modules asked for (--kmods, or every loaded
	// one with --all-kmods) and how many of their functions ftrace could
	// attach to, none of them traced.
	unseenMods     []string
	unseenModFuncs int
}

// discover lists the functions to trace: those of the kernel's (and the
// selected modules') BTF with the right arguments, that match the
// filters and that ftrace can attach to (avail delivers
// available_filter_functions).
func discover(cfg *Config, cache *btf.Cache, avail <-chan textResult, clock *phaseClock) (*discovery, error) {
	btfPath := cfg.KernelBTF
	if btfPath == "" {
		if err := CheckBTF(); err != nil {
			return nil, err
		}
		btfPath = vmlinuxBTFPath
	}
	vmlinuxRaw, err := os.ReadFile(btfPath)
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w", err)
	}
	vmlinux, err := parseRawBTF(vmlinuxRaw, nil)
	if err != nil {
		return nil, fmt.Errorf("scan kernel BTF: %w", err)
	}
	var re, nonRe *regexp.Regexp
	if cfg.FilterFunc != "" {
		re = regexp.MustCompile(cfg.FilterFunc) // validated
	}
	if cfg.NonSKBFuncs != "" {
		nonRe = regexp.MustCompile(cfg.NonSKBFuncs)
	}
	// The candidates by BTF and name first; which of them ftrace can
	// attach to is decided once available_filter_functions is read.
	var skb, nonSKB []Func
	scan := func(r *rawBTF, module string) {
		skb = append(skb, Select(r.funcs(module, true), nil, re)...)
		if nonRe != nil {
			nonSKB = append(nonSKB, Select(r.funcs(module, false), nil, nonRe)...)
		}
	}
	scan(vmlinux, "")
	caps := probeKernelCaps(vmlinux)
	mods := cfg.Kmods
	var unseen map[string]bool
	if !caps.moduleBTF && (cfg.AllKmods || len(mods) > 0) {
		// Nothing to read: module functions cannot be selected by their
		// arguments. Counted below, from ftrace's list.
		unseen = make(map[string]bool)
		for _, m := range mods {
			unseen[m] = true
		}
		mods = nil
	} else if cfg.AllKmods {
		ents, err := os.ReadDir(moduleBTFDir)
		if err != nil {
			return nil, fmt.Errorf("list module BTF: %w", err)
		}
		mods = nil
		for _, e := range ents {
			if e.Name() != "vmlinux" {
				mods = append(mods, e.Name())
			}
		}
	}
	for _, m := range mods {
		raw, err := os.ReadFile(moduleBTFDir + "/" + m)
		if err != nil {
			if cfg.AllKmods {
				continue
			}
			return nil, fmt.Errorf("%w: --kmods: no BTF for module %s (is it loaded?): %w", ErrConfig, m, err)
		}
		r, err := parseRawBTF(raw, vmlinux)
		if err != nil {
			return nil, fmt.Errorf("scan BTF of module %s: %w", m, err)
		}
		scan(r, m)
	}
	var helperNames []string
	var kernel *btf.Spec
	if cfg.TrackBPFHelpers {
		if kernel, err = kernelTypes(cfg, cache); err != nil {
			return nil, fmt.Errorf("load kernel BTF: %w", err)
		}
		helperNames = bpfHelperNames(kernel)
	}
	var mapCands []MapFunc
	if cfg.OutputBPFMap {
		mapCands = vmlinux.mapFuncs()
	}
	clock.mark("scan BTF")

	ar := <-avail
	clock.add("read available_filter_functions", ar.took)
	clock.mark("wait for available_filter_functions")
	if ar.err != nil {
		return nil, fmt.Errorf("read available_filter_functions%s: %w", availHint(ar.err), ar.err)
	}
	names := make([]string, 0, len(skb)+len(nonSKB)+len(helperNames)+len(mapCands))
	for _, fs := range [][]Func{skb, nonSKB} {
		for _, f := range fs {
			names = append(names, f.Name)
		}
	}
	names = append(names, helperNames...)
	for _, f := range mapCands {
		names = append(names, f.Name)
	}
	traceable := traceableAmong(ar.text, names)
	d := &discovery{vmlinuxRaw: vmlinuxRaw, caps: caps}
	if unseen != nil {
		d.unseenMods, d.unseenModFuncs = unseenModuleFuncs(ar.text, unseen, cfg.AllKmods)
	}
	d.skb = Select(skb, traceable, nil)
	d.nonSKB = Select(nonSKB, traceable, nil)
	for _, m := range mods {
		if hasModule(d.skb, m) || hasModule(d.nonSKB, m) {
			d.modules = append(d.modules, m)
		}
	}
	if kernel != nil {
		d.helpers = BPFHelpers(kernel, traceable, d.skb)
	}
	if d.mapFuncs, err = mapFuncsFor(cfg, mapCands, traceable); err != nil {
		return nil, err
	}
	clock.mark("select")
	if len(d.skb) == 0 && len(d.nonSKB) == 0 && !cfg.TraceTC && !cfg.TraceXDP {
		if cfg.FilterFunc != "" {
			return nil, fmt.Errorf("%w --filter-func %q", ErrNoFunctions, cfg.FilterFunc)
		}
		return nil, ErrNoFunctions
	}
	return d, nil
}

func hasModule(fs []Func, m string) bool {
	for _, f := range fs {
		if f.Module == m {
			return true
		}
	}
	return false
}

// kernelTypes returns the kernel's BTF: the --kernel-btf file's when
// given, else the running kernel's (cached).
func kernelTypes(cfg *Config, cache *btf.Cache) (*btf.Spec, error) {
	if cfg.KernelBTF != "" {
		return btf.LoadSpec(cfg.KernelBTF)
	}
	return cache.Kernel()
}

// session holds the loaded objects and links of one recording.
type session struct {
	cfg    *Config
	cache  *btf.Cache
	kernel *btf.Spec            // the --kernel-btf types (nil = the running kernel's)
	spec   *ebpf.CollectionSpec // after injection, for the per-target copies
	coll   *ebpf.Collection
	links  []link.Link
	probes []format.Probe
	progOf []string          // per function probe: program suffix (skb_N, non_skb, bpf_helper)
	addrs  map[string]uint64 // kallsyms name -> address (first)
	log    io.Writer

	fentry       *fentryState   // --backend fentry: its programs; nil for the kprobe backends
	mapFuncs     []MapFunc      // --output-bpfmap functions
	mapProbes    []format.Probe // their probes, appended to probes when attached
	noCookie     bool           // no bpf_get_attach_cookie: kprobes find their cookie in probe_addrs
	copyTracking string         // how clones inherit track ids, for Result.CopyTracking
}

// Run records into out until ctx is done or a limit is reached. The
// capture is completed (trailer written, and fsync'ed when out is an
// *os.File) before the probes are detached.
func Run(ctx context.Context, cfg *Config, out io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	res := &Result{}
	if cfg.ReadyFile != "" {
		// A stale ready file from an earlier run would announce this one
		// too early.
		if err := os.Remove(cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale ready file: %w", err)
		}
	}
	raiseFileLimit()
	_ = rlimit.RemoveMemlock()

	// The two slow reads, kallsyms and ftrace's list of attachable
	// functions, run beside the BTF scan.
	clock := newPhaseClock()
	ksCh := readKallsymsAsync()
	cache := btf.NewCache()
	disc, err := discover(cfg, cache, readTextAsync(availPaths...), clock)
	if err != nil {
		return nil, err
	}
	kr := <-ksCh
	clock.add("read and check kallsyms", kr.took)
	clock.mark("wait for kallsyms")
	if kr.err != nil {
		return nil, kr.err
	}
	ksyms := kr.syms

	hdr, err := hostHeader()
	if err != nil {
		return nil, err
	}
	hdr = cfg.header(hdr)
	hdr.KernelLacks = disc.caps.lacks()
	ifs, nss, refs := snapshotInterfaces()
	ifindex := uint32(0)
	if cfg.FilterIfname != "" {
		if ifindex, err = resolveIfname(ifs, refs, cfg.FilterNetns, cfg.FilterIfname); err != nil {
			return nil, err
		}
	}
	skbBackend, backend, multi, err := chooseBackend(cfg, cache, log)
	if err != nil {
		return nil, err
	}
	clock.mark("snapshot")

	// The snapshots go out first, one at a time, so that their memory is
	// free before the kernel program is loaded. The addresses of the
	// functions to trace are picked up on the way: a map of every kernel
	// symbol would cost tens of MB.
	s := &session{cfg: cfg, cache: cache, log: log, addrs: make(map[string]uint64)}
	res.Backend = skbBackend
	if skbBackend == BackendFentry {
		s.fentry = &fentryState{multi: multi}
		if multi != nil {
			res.Backend = "fentry-multi"
		}
	}
	for _, fs := range [][]Func{disc.skb, disc.nonSKB, disc.helpers} {
		for _, f := range fs {
			s.addrs[f.Name] = 0
		}
	}
	for _, f := range disc.mapFuncs {
		s.addrs[f.Name] = 0
	}
	defer s.close(res)
	var prefix *bytes.Buffer // with rotation: the first file up to the first event
	flight := cfg.FlightBytes > 0 || cfg.FlightAge > 0
	var reasons map[uint32]string // drop reason values that trigger (nil = any)
	var notDropped map[uint32]bool
	if flight && cfg.TriggerDrop {
		if reasons, notDropped, err = dropTriggerReasons(cache, cfg.TriggerReasons); err != nil {
			return nil, err
		}
	}
	if cfg.RotateSize > 0 || flight {
		prefix = new(bytes.Buffer)
		out = &teeWriter{w: out, tee: prefix}
	}
	w, err := format.NewWriter(out, &hdr, nil)
	if err != nil {
		return res, fmt.Errorf("start capture: %w", err)
	}
	vmlinuxRaw := disc.vmlinuxRaw
	disc.vmlinuxRaw = nil
	bpfSyms := make(map[uint64]bool) // BPF code symbolized by the snapshot
	if err := writeSnapshots(w, vmlinuxRaw, disc.modules, ksyms, s.addrs, bpfSyms, ifs, nss, clock); err != nil {
		return res, err
	}
	s.planProbes(disc, backend)
	s.planMapProbes(disc, backend)
	s.addrs = nil
	debug.FreeOSMemory()
	clock.mark("free")

	res.Planned = len(s.probes) + len(s.mapProbes)
	if err := s.load(disc, backend, ifindex); err != nil {
		return res, err
	}
	// Said once the program loads: a recording that fails before says
	// only why, in one line.
	if line := disc.caps.lacksLine(); line != "" {
		fmt.Fprintln(log, line)
	}
	if len(disc.unseenMods) > 0 {
		fmt.Fprintf(log, "warning: no module BTF: %d functions of modules %s not traced (vmlinux only)\n",
			disc.unseenModFuncs, strings.Join(disc.unseenMods, ", "))
	}
	clock.mark("load")

	// Run-time statistics are on before the first probe can fire.
	var statsOn io.Closer
	if cfg.BPFStats {
		if statsOn, err = ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err != nil {
			fmt.Fprintf(log, "warning: enable BPF run-time statistics: %v\n", err)
		} else {
			defer statsOn.Close()
		}
	}

	if err := s.attach(ctx, disc, backend); err != nil {
		return res, err
	}
	clock.mark("attach")
	res.Startup = clock.phases
	res.CopyTracking = s.copyTracking
	for _, p := range s.probes {
		if p.Error != "" {
			res.ProbesFailed++
			if len(res.FailedSamples) < 5 {
				res.FailedSamples = append(res.FailedSamples, p.Name+": "+p.Error)
			}
		} else {
			res.Probes++
		}
	}
	if res.Probes == 0 {
		return res, fmt.Errorf("%w (%d tried; first: %s)", ErrNoneAttached, res.ProbesFailed, strings.Join(res.FailedSamples[:min(1, len(res.FailedSamples))], ""))
	}

	if err := w.AddProbes(s.probes); err != nil {
		return res, fmt.Errorf("store probes: %w", err)
	}
	if cfg.OutputStack {
		// The stacks of tracepoint and fentry/fexit events start in our
		// programs, loaded after the kallsyms snapshot: name them too.
		if err := addBPFKallsyms(w, bpfSyms); err != nil {
			fmt.Fprintf(log, "warning: BPF program symbols for --output-stack: %v\n", err)
		}
	}
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("write capture: %w", err)
	}
	var nextFile func() (*format.Writer, error)
	var fo *flightOptions
	if prefix != nil && !flight {
		out.(*teeWriter).tee = nil
		if nextFile, err = rotator(prefix.Bytes(), &hdr, cfg.Rotate); err != nil {
			return res, err
		}
		prefix = nil
	} else if prefix != nil {
		out.(*teeWriter).tee = nil
		if fo, err = s.flightOptions(cfg, prefix.Bytes(), hdr, reasons, notDropped); err != nil {
			return res, err
		}
		prefix = nil
	}
	// What startup needed (kernel BTF decoded, kallsyms, the injected
	// spec) is not needed while recording: let it go.
	s.cache, s.spec, s.kernel = nil, nil, nil
	disc = nil
	debug.FreeOSMemory()

	rd, err := ringbuf.NewReader(s.coll.Maps["events"])
	if err != nil {
		return res, fmt.Errorf("open ring buffer: %w", err)
	}
	defer rd.Close()
	var losses LossSource = mapLosses{s.coll.Maps["counters"], s.allPrograms()}
	if cfg.Started != nil {
		if err := cfg.Started(); err != nil {
			return res, err
		}
		// Without privileges a kernel may refuse bpf() map lookups
		// (kernel.unprivileged_bpf_disabled before the checks moved to
		// program load): record without loss counters, and say so.
		if _, _, err := losses.Losses(); err != nil {
			res.LossCounters = err.Error()
			losses = unreadableLosses{}
			fmt.Fprintf(log, "warning: loss counters unreadable now (%v): the capture counts them as loss_counters_unreadable\n", err)
		}
	}
	res.Recording = true
	if cfg.ReadyFile != "" {
		if err := writeReadyFile(cfg.ReadyFile); err != nil {
			// The capture is in place: complete it, empty.
			if cerr := w.Close(); cerr != nil {
				return res, errors.Join(err, fmt.Errorf("complete capture: %w", cerr))
			}
			return res, err
		}
	}
	fmt.Fprintf(log, "attached %d probes (%s), %d failed; recording\n", res.Probes, res.Backend, res.ProbesFailed)

	clock.mark("ring buffer")
	res.Startup = clock.phases
	freeing := make(map[uint32]bool)
	for _, p := range s.probes {
		if p.Name == "kfree_skbmem" && p.Error == "" {
			freeing[p.ID] = true
		}
	}
	dr := &drainer{
		ring:   rd,
		dec:    newDecoder(w, freeing),
		losses: losses,
		opts: drainOptions{
			MaxEvents:    cfg.MaxEvents,
			MaxSize:      cfg.MaxSize,
			Duration:     cfg.Duration,
			ProbesFailed: uint32(res.ProbesFailed),
			Status:       statusLine(cfg, log, res.Probes),
			RotateSize:   cfg.RotateSize,
			NextFile:     nextFile,
			Flight:       fo,
		},
	}
	st, derr := dr.run(ctx)
	res.Stats = st
	if statsOn != nil {
		for _, p := range s.allPrograms() {
			if ps, err := p.Stats(); err == nil {
				res.ProgRuns += ps.RunCount
				res.ProgRuntime += ps.Runtime
			}
		}
	}
	if cfg.Terminal {
		fmt.Fprintln(log)
	}
	w = dr.dec.w // the last file's writer when rotating
	cerr := w.Close()
	if t, ok := out.(*teeWriter); ok {
		out = t.w
	}
	if f, ok := out.(*os.File); ok && cerr == nil && dr.files == 0 {
		// Pipes and terminals cannot be synced (EINVAL): nothing to do.
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
			cerr = fmt.Errorf("sync capture: %w", err)
		}
	}
	res.Stats.Bytes = dr.prevBytes + w.Stats().Bytes
	res.Files = dr.files + 1
	if fo != nil {
		res.Files = dr.flight.files
		if dr.flight.capturing {
			res.Files++
		}
	}
	res.Memory = sampleMemory()
	if derr != nil {
		return res, derr
	}
	if cerr != nil {
		return res, fmt.Errorf("complete capture: %w", cerr)
	}
	return res, nil
}

// writeSnapshots stores kallsyms (filling in addrs, and bpfSyms with the
// addresses of BPF code symbols), the kernel's BTF
// (vmlinux, then the modules, each read again here so that one is in
// memory at a time) and the interfaces. kallsyms goes first: its text is
// let go of as it is stored, before the BTF's compression buffers are
// needed.
func writeSnapshots(w *format.Writer, vmlinuxRaw []byte, modules []string, ksyms *kallsymsText, addrs map[string]uint64, bpfSyms map[uint64]bool, ifs []format.Interface, nss []format.Netns, clock *phaseClock) error {
	err := ksyms.emit(addrs, func(syms []format.Symbol) error {
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

// statusLine returns the drain's status callback: one line, redrawn, on a
// terminal; nothing otherwise.
func statusLine(cfg *Config, log io.Writer, probes int) func(Stats) {
	if !cfg.Terminal {
		return nil
	}
	var last Stats
	var lastT time.Time
	return func(st Stats) {
		now := time.Now()
		rate := 0.0
		if !lastT.IsZero() {
			rate = float64(st.Events-last.Events) / now.Sub(lastT).Seconds()
		}
		last, lastT = st, now
		fmt.Fprintf(log, "\r\033[Kevents %d (%.0f/s)  lost %d  written %s  probes %d  %s",
			st.Events, rate, st.Lost, humanBytes(st.Bytes), probes, st.Elapsed.Truncate(time.Second))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// chooseBackend returns the backend of the skb functions and the kprobe
// backend of everything else (non-skb functions, BPF helpers, map
// functions, and the skb functions fentry cannot attach), with the
// multi-link layout when the skb functions use it. auto is kprobe-multi,
// else kprobe: fentry is taken only when asked for. It is not proven
// cheaper here: in every vmbench boot of 7.2 the fentry multi-link cost
// several times kprobe-multi's BPF time per run, also with the program's
// body left out (vmbench -lean -ablate body: the cost is the trampoline
// path's), and one fentry link per function (6.1, 6.12) attaches several
// times slower than single kprobes (every program is verified on its
// own); see README. Every choice is feature-probed on the running kernel.
func chooseBackend(cfg *Config, cache *btf.Cache, log io.Writer) (string, string, *tracingmulti.Layout, error) {
	kprobe := BackendKprobe
	if features.HaveBPFLinkKprobeMulti() == nil {
		kprobe = BackendKprobeMulti
	}
	switch cfg.Backend {
	case BackendKprobe:
		return BackendKprobe, BackendKprobe, nil, nil
	case BackendKprobeMulti:
		if err := features.HaveBPFLinkKprobeMulti(); err != nil {
			return "", "", nil, fmt.Errorf("%w: --backend kprobe-multi: kernel does not support it: %w", ErrConfig, err)
		}
		return BackendKprobeMulti, BackendKprobeMulti, nil, nil
	case BackendFentry:
		if cfg.NonSKBFuncs != "" {
			// The caller chains are matched on kprobe stacks; an fentry
			// program's stack starts in its trampoline (not verified to
			// line up: refused rather than losing events silently).
			return "", "", nil, fmt.Errorf("%w: --backend fentry does not support --filter-non-skb-funcs (use a kprobe backend)", ErrConfig)
		}
		if err := fentryProbe(cache); err != nil {
			return "", "", nil, fmt.Errorf("%w: --backend fentry: kernel does not support it: %w", ErrConfig, err)
		}
		multi, err := multiProbe(cache)
		if err != nil {
			fmt.Fprintf(log, "fentry: one link per function (no multi-link: %v)\n", err)
		}
		return BackendFentry, kprobe, multi, nil
	}
	return kprobe, kprobe, nil, nil
}

// planProbes numbers the probes: the sk_buff functions, the non-skb
// functions, then the drop tracepoint.
func (s *session) planProbes(d *discovery, backend string) {
	kind := format.ProbeKprobe
	if backend == BackendKprobeMulti {
		kind = format.ProbeKprobeMulti
	}
	add := func(f Func) {
		s.probes = append(s.probes, format.Probe{
			ID:     uint32(len(s.probes) + 1),
			Name:   f.Name,
			Module: f.Module,
			Addr:   s.addrs[f.Name],
			Kind:   kind,
			SKBArg: uint8(f.SKBArg),
		})
	}
	for _, f := range d.skb {
		add(f)
		if s.fentry != nil {
			// attachFentry sets the kprobe kind back on a fallback.
			s.probes[len(s.probes)-1].Kind = format.ProbeFentry
		}
	}
	for _, f := range d.skb {
		s.progOf = append(s.progOf, fmt.Sprintf("skb_%d", f.SKBArg))
	}
	for _, f := range d.nonSKB {
		add(f)
		s.progOf = append(s.progOf, "non_skb")
	}
	for _, f := range d.helpers {
		add(f)
		s.progOf = append(s.progOf, "bpf_helper")
	}
	s.probes = append(s.probes, format.Probe{
		ID:     uint32(len(s.probes) + 1),
		Name:   "kfree_skb",
		Kind:   format.ProbeTracepoint,
		SKBArg: 1,
	})
}

// Maps shared between the main collection and the per-target copies.
var sharedMaps = []string{"events", "scratch_map", "counters", "stacks", "track_skb", "track_stack", "payload_seen", "track_ids", "cur_prog", "bpfmap_stash", "chain", "probe_addrs"}

func (s *session) load(d *discovery, backend string, ifindex uint32) error {
	cfg := s.cfg
	spec, err := bpf.LoadPwru()
	if err != nil {
		return fmt.Errorf("load kernel program spec: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(cfg.RingbufSize)
	if !cfg.TrackSKBByStackID {
		// Stack ids only key --filter-track-skb-by-stackid (--output-stack
		// copies the stack into the record): no need for the 4 MiB map.
		spec.Maps["stacks"].MaxEntries = 1
	}
	s.noCookie = !d.caps.attachCookie
	if s.noCookie {
		// Kprobes find their cookie by address (probe_addrs).
		spec.Maps["probe_addrs"].MaxEntries = uint32(max(1, len(s.probes)+len(s.mapProbes)))
	}
	if len(d.nonSKB) == 0 {
		// Caller chains only serve --filter-non-skb-funcs; an LRU map
		// is allocated whole at creation.
		spec.Maps["chain"].MaxEntries = 128
	}

	var kc bpf.PwruConfig
	kc.Snaplen = cfg.Snaplen
	if cfg.FilterNetns != 0 {
		kc.FilterNetns, kc.Netns = 1, cfg.FilterNetns
	}
	if cfg.FilterMarkSet {
		kc.FilterMark, kc.Mark, kc.MarkMask = 1, cfg.FilterMark&cfg.FilterMarkMask, cfg.FilterMarkMask
	}
	if ifindex != 0 {
		kc.FilterIfindex, kc.Ifindex = 1, ifindex
	}
	kc.FilterPcap = b2u(cfg.PcapFilter != "")
	kc.FilterTunnel = b2u(cfg.TunnelPcapL2 != "" || cfg.TunnelPcapL3 != "")
	kc.FilterSkbExpr = b2u(cfg.SKBExpr != "")
	kc.FilterXdpExpr = b2u(cfg.XDPExpr != "")
	kc.PayloadEvery = b2u(cfg.PayloadEvery)
	kc.TrackSkb = b2u(cfg.TrackSKB)
	kc.TrackStackid = b2u(cfg.TrackSKBByStackID)
	kc.OutputStack = b2u(cfg.OutputStack)
	kc.OutputCaller = b2u(cfg.OutputCaller)
	kc.OutputSkb = b2u(cfg.OutputSKB)
	kc.OutputShinfo = b2u(cfg.OutputSharedInfo)
	kc.OutputCb = b2u(cfg.OutputCB)
	kc.TrackBpfHelpers = b2u(cfg.TrackBPFHelpers)
	kc.OutputBpfmap = b2u(cfg.OutputBPFMap)
	kc.TrackNonSkb = b2u(len(d.nonSKB) > 0)
	kc.NoAttachCookie = b2u(s.noCookie)
	kc.NoDropReason = b2u(!d.caps.dropReason)
	ncpus, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("count possible CPUs: %w", err)
	}
	kc.Ncpus = uint32(ncpus)
	kc.DropProbeId = s.probes[len(s.probes)-1].ID
	for _, p := range s.probes {
		if p.Name == "kfree_skbmem" && p.Kind != format.ProbeTracepoint {
			kc.KfreeSkbmemProbeId = p.ID
		}
	}
	// The kernel's BTF, decoded (for CO-RE, the filters and the
	// metadata fields) only now that the snapshots are out of memory.
	kernel, err := kernelTypes(cfg, s.cache)
	if err != nil {
		return fmt.Errorf("load kernel BTF: %w", err)
	}
	if cfg.KernelBTF != "" {
		s.kernel = kernel
	}
	var metas []MetaField
	for _, m := range cfg.OutputSKBMetadata {
		mf, err := ResolveMetadata(kernel, m)
		if err != nil {
			return fmt.Errorf("%w: --output-skb-metadata: %w", ErrConfig, err)
		}
		metas = append(metas, mf)
	}
	var xdpMetas []MetaField
	for _, m := range cfg.OutputXDPMetadata {
		mf, err := ResolveXDPMetadata(kernel, m)
		if err != nil {
			return fmt.Errorf("%w: --output-xdp-metadata: %w", ErrConfig, err)
		}
		xdpMetas = append(xdpMetas, mf)
	}
	if err := metaConfig(&kc, metas, xdpMetas); err != nil {
		return fmt.Errorf("%w: --output-skb-metadata, --output-xdp-metadata: %w", ErrConfig, err)
	}
	if err := spec.Variables["CFG"].Set(kc); err != nil {
		return fmt.Errorf("set kernel program config: %w", err)
	}
	if cfg.Ablate != 0 {
		if err := spec.Variables["ABLATE"].Set(cfg.Ablate); err != nil {
			return fmt.Errorf("set kernel program ablation: %w", err)
		}
		fmt.Fprintf(s.log, "pwru-record: debug: parts of the kernel program left out (mask %#x): events are incomplete\n", cfg.Ablate)
	}
	for _, inj := range cfg.Injectors {
		if err := inj(spec, kernel); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if cfg.TrackSKB || cfg.TraceTC || cfg.TraceXDP {
		// Kept for the fentry/fexit copies loadTracing makes; a copy
		// of the whole spec is MBs otherwise held for nothing.
		s.spec = spec.Copy()
	}

	// The main collection: the probe programs of the chosen backend, the
	// drop tracepoint and the kfree_skbmem cleanup.
	keep := map[string]bool{"raw_tp_kfree_skb": true, "kprobe_kfree_skbmem": true}
	if cfg.TrackSKB {
		// The clone tracking fallback (see attachCopyTracking).
		keep["kprobe_skb_copy_entry"] = true
		keep["kretprobe_skb_copy_return"] = true
	}
	prefix := "kprobe_skb_"
	nonSKB := "kprobe_non_skb"
	if backend == BackendKprobeMulti {
		prefix = "kprobe_multi_skb_"
		nonSKB = "kprobe_multi_non_skb"
	}
	if s.fentry == nil {
		for i := 1; i <= MaxSKBArg; i++ {
			keep[fmt.Sprintf("%s%d", prefix, i)] = true
		}
	}
	if len(d.nonSKB) > 0 {
		keep[nonSKB] = true
	}
	if len(d.helpers) > 0 {
		keep[strings.Replace(nonSKB, "non_skb", "bpf_helper", 1)] = true
	}
	if len(d.mapFuncs) > 0 {
		for _, name := range mapProgs[backend] {
			keep[name] = true
		}
	}
	if s.fentry != nil {
		// The skb functions' kprobe programs are loaded only for the
		// functions fentry cannot take (fentryFallback).
		s.keepFentry(spec, prefix)
	}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: s.cache, Programs: ebpf.ProgramOptions{KernelTypes: s.kernel}})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			// The one-line error ends with the verifier's conclusion; the
			// tail of the log goes to the log writer for diagnosis.
			tail := verr.Log[max(0, len(verr.Log)-60):]
			fmt.Fprintf(s.log, "verifier log (last %d lines):\n%s\n", len(tail), strings.Join(tail, "\n"))
		}
		return fmt.Errorf("load kernel program: %w", err)
	}
	s.coll = coll
	return nil
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// loadTracing loads one fentry/fexit program of the injected spec,
// sharing the main collection's maps. target is a BPF program (tc/XDP) or
// nil for a kernel function; attachTo names the traced function; probeID
// (non-zero for tc/XDP targets) becomes Config.ProgProbeId of this copy.
func (s *session) loadTracing(name string, target *ebpf.Program, attachTo string, probeID uint32) (*ebpf.Program, error) {
	if s.spec == nil {
		return nil, errors.New("kernel program spec not kept for fentry/fexit copies")
	}
	spec := s.spec.Copy()
	if probeID != 0 {
		var kc bpf.PwruConfig
		if err := spec.Variables["CFG"].Get(&kc); err != nil {
			return nil, fmt.Errorf("read kernel program config: %w", err)
		}
		kc.ProgProbeId = probeID
		if err := spec.Variables["CFG"].Set(kc); err != nil {
			return nil, fmt.Errorf("set kernel program config: %w", err)
		}
	}
	ps, ok := spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("no program %s", name)
	}
	ps.AttachTarget = target
	ps.AttachTo = attachTo
	for n := range spec.Programs {
		if n != name {
			delete(spec.Programs, n)
		}
	}
	repl := make(map[string]*ebpf.Map)
	for _, m := range sharedMaps {
		if mp := s.coll.Maps[m]; mp != nil {
			repl[m] = mp
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: s.cache, MapReplacements: repl, Programs: ebpf.ProgramOptions{KernelTypes: s.kernel}})
	if err != nil {
		return nil, err
	}
	prog := coll.Programs[name]
	delete(coll.Programs, name)
	coll.Close()
	return prog, nil
}

func (s *session) attach(ctx context.Context, d *discovery, backend string) error {
	cfg := s.cfg
	prefix := "kprobe_"
	if backend == BackendKprobeMulti {
		prefix = "kprobe_multi_"
	}
	type group struct {
		prog *ebpf.Program
		idx  []int
	}
	var groups []*group
	byProg := make(map[string]*group)
	for i, suffix := range s.progOf {
		g := byProg[suffix]
		if g == nil {
			g = &group{prog: s.coll.Programs[prefix+suffix]}
			byProg[suffix] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	total := len(s.progOf)

	bar := newProgress(cfg, s.log, total)
	// An interrupt during attach stops attaching; the recording then
	// completes at once with what is attached.
	for _, g := range groups {
		if s.fentry != nil && strings.HasPrefix(s.progOf[g.idx[0]], "skb_") {
			s.attachFentry(ctx, g.idx, backend, bar)
			continue
		}
		if backend == BackendKprobeMulti {
			s.attachMulti(g.prog, g.idx, bar)
		} else {
			s.attachSingle(ctx, g.prog, g.idx, bar)
		}
	}
	bar.done()

	// Drop reasons.
	tp := &s.probes[len(s.probes)-1]
	if l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "kfree_skb", Program: s.coll.Programs["raw_tp_kfree_skb"]}); err != nil {
		tp.Error = err.Error()
	} else {
		s.links = append(s.links, l)
	}

	// Forget per-skb state at kfree_skbmem when it is not a traced probe.
	traced := false
	for _, p := range s.probes {
		if p.Name == "kfree_skbmem" && p.Kind != format.ProbeTracepoint && p.Error == "" {
			traced = true
		}
	}
	if !traced && (cfg.TrackSKB || cfg.TrackSKBByStackID || !cfg.PayloadEvery) {
		l, err := link.Kprobe("kfree_skbmem", s.coll.Programs["kprobe_kfree_skbmem"], nil)
		if err != nil {
			fmt.Fprintf(s.log, "warning: attach kfree_skbmem cleanup: %v\n", err)
		} else {
			s.links = append(s.links, l)
		}
	}

	if cfg.TrackSKB {
		s.attachCopyTracking()
	}
	if cfg.TraceTC || cfg.TraceXDP {
		if err := s.attachBPFProgs(); err != nil {
			return err
		}
	}
	return s.attachMapFuncs(backend)
}

// attachCopyTracking makes clones and copies of tracked skbs inherit the
// track id: fexit programs, or kprobe+kretprobe pairs where those cannot
// attach.
func (s *session) attachCopyTracking() {
	fns := make([]string, len(copyFuncs))
	fexit := make(map[string]string, len(copyFuncs))
	for i, c := range copyFuncs {
		fns[i] = c.fn
		fexit[c.fn] = c.fexit
	}
	ct := attachCopyTracking(fns, s.cfg.CopyTracking, func(fn, mech string) ([]link.Link, error) {
		if mech == CopyFexit {
			p, err := s.loadTracing(fexit[fn], nil, fn, 0)
			if err != nil {
				return nil, err
			}
			defer p.Close()
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				return nil, err
			}
			return []link.Link{l}, nil
		}
		// The return probe first: an entry without its return would
		// leave a stale source behind.
		ret, err := link.Kretprobe(fn, s.coll.Programs["kretprobe_skb_copy_return"], nil)
		if err != nil {
			return nil, err
		}
		entry, err := link.Kprobe(fn, s.coll.Programs["kprobe_skb_copy_entry"], nil)
		if err != nil {
			ret.Close()
			return nil, err
		}
		return []link.Link{ret, entry}, nil
	})
	for _, w := range ct.warnings {
		fmt.Fprintf(s.log, "warning: %s\n", w)
	}
	s.links = append(s.links, ct.links...)
	s.copyTracking = ct.describe(fns)
	fmt.Fprintf(s.log, "clone tracking: %s\n", s.copyTracking)
}

// attachSingle attaches one kprobe per function, KprobeBatch at a time.
func (s *session) attachSingle(ctx context.Context, prog *ebpf.Program, idx []int, bar *progress) {
	batch := s.cfg.KprobeBatch
	var mu sync.Mutex
	for start := 0; start < len(idx); start += batch {
		if ctx.Err() != nil {
			for _, i := range idx[start:] {
				s.probes[i].Error = "not attached: interrupted"
			}
			return
		}
		end := min(start+batch, len(idx))
		var wg sync.WaitGroup
		for _, i := range idx[start:end] {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				p := &s.probes[i]
				var l link.Link
				opts, err := s.kprobeOpts(p, uint64(p.ID))
				if err == nil {
					l, err = link.Kprobe(p.Name, prog, opts)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					p.Error = err.Error()
					return
				}
				s.links = append(s.links, l)
			}(i)
		}
		wg.Wait()
		bar.add(end - start)
	}
}

// attachMulti attaches the functions of idx with kprobe.multi links,
// splitting a group that fails in halves until the failing functions are
// isolated.
func (s *session) attachMulti(prog *ebpf.Program, idx []int, bar *progress) {
	if len(idx) == 0 {
		return
	}
	syms := make([]string, len(idx))
	cookies := make([]uint64, len(idx))
	for k, i := range idx {
		syms[k] = s.probes[i].Name
		cookies[k] = uint64(s.probes[i].ID)
	}
	l, err := link.KprobeMulti(prog, link.KprobeMultiOptions{Symbols: syms, Cookies: cookies})
	if err == nil {
		s.links = append(s.links, l)
		bar.add(len(idx))
		return
	}
	if len(idx) == 1 {
		s.probes[idx[0]].Error = err.Error()
		bar.add(1)
		return
	}
	half := len(idx) / 2
	s.attachMulti(prog, idx[:half], bar)
	s.attachMulti(prog, idx[half:], bar)
}

// attachBPFProgs attaches fentry/fexit to every loaded tc and XDP program.
func (s *session) attachBPFProgs() error {
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil {
			p.Close()
			continue
		}
		var entry, exit string
		kind := format.ProbeTC
		switch info.Type {
		case ebpf.SchedCLS, ebpf.SchedACT:
			if !s.cfg.TraceTC {
				p.Close()
				continue
			}
			entry, exit = "fentry_tc", "fexit_tc"
		case ebpf.XDP:
			if !s.cfg.TraceXDP {
				p.Close()
				continue
			}
			entry, exit, kind = "fentry_xdp", "fexit_xdp", format.ProbeXDP
		default:
			p.Close()
			continue
		}
		name := info.Name
		if fis, err := info.FuncInfos(); err == nil {
			if len(fis) > 0 && fis[0].Func != nil {
				name = fis[0].Func.Name
			}
		}
		probe := format.Probe{ID: uint32(len(s.probes) + 1), Name: name, Kind: kind, ProgID: uint32(id)}
		if addrs, ok := info.JitedKsymAddrs(); ok && len(addrs) > 0 {
			probe.Addr = uint64(addrs[0])
		}
		for _, which := range []string{entry, exit} {
			tp, err := s.loadTracing(which, p, name, probe.ID)
			if err != nil {
				probe.Error = err.Error()
				break
			}
			l, err := link.AttachTracing(link.TracingOptions{Program: tp})
			tp.Close()
			if err != nil {
				probe.Error = err.Error()
				break
			}
			s.links = append(s.links, l)
		}
		p.Close()
		s.probes = append(s.probes, probe)
	}
	return nil
}

// close detaches everything, saying so when it takes a while.
func (s *session) close(res *Result) {
	t0 := time.Now()
	if len(s.links) > 100 {
		fmt.Fprintf(s.log, "capture complete; detaching %d probes (this takes a while with single kprobes)\n", len(s.links))
	}
	// Closing a kprobe link waits for the kernel (RCU grace periods,
	// ftrace updates); a few at a time overlap those waits.
	var wg sync.WaitGroup
	work := make(chan link.Link)
	for range min(8, len(s.links)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				l.Close()
			}
		}()
	}
	for _, l := range s.links {
		work <- l
	}
	close(work)
	wg.Wait()
	s.fentry.close()
	if s.coll != nil {
		s.coll.Close()
	}
	res.Detach = time.Since(t0)
}

// writeReadyFile announces that every probe is attached: a new file,
// mode 0600 whatever the umask, never through a symlink.
func writeReadyFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write ready file: %w", err)
	}
	if _, err := f.WriteString("ready\n"); err != nil {
		f.Close()
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}

// unreadableLosses stands for loss counters the recorder may no longer
// read: the capture says so instead of showing zero losses.
type unreadableLosses struct{}

func (unreadableLosses) Losses() ([]uint64, map[string]uint64, error) {
	return nil, map[string]uint64{"loss_counters_unreadable": 1}, nil
}

// allPrograms returns the main collection's programs and the fentry
// programs, for their run statistics.
func (s *session) allPrograms() map[string]*ebpf.Program {
	if s.fentry == nil {
		return s.coll.Programs
	}
	all := make(map[string]*ebpf.Program, len(s.coll.Programs)+len(s.fentry.progs))
	for name, p := range s.coll.Programs {
		all[name] = p
	}
	for i, p := range s.fentry.progs {
		all[fmt.Sprintf("fentry#%d", i)] = p
	}
	return all
}

// Names of the kernel counters (enum counter in bpf/pwru.c).
var counterNames = []string{"ringbuf_lost", "stack_lost", "payload_read_error", "track_map_full", "null_skb", "bpfmap_truncated", "bpfmap_read_error", "stackid_lost", "copy_track_lost", "nonskb_stack_lost", "probe_unknown"}

// mapLosses sums the per-CPU counters map and the programs' recursion
// misses (probe hits the kernel skipped because a BPF program was already
// running on that CPU).
type mapLosses struct {
	m     *ebpf.Map
	progs map[string]*ebpf.Program
}

func (m mapLosses) Losses() ([]uint64, map[string]uint64, error) {
	other := make(map[string]uint64)
	var perCPU []uint64
	for i, name := range counterNames {
		var vals []uint64
		if err := m.m.Lookup(uint32(i), &vals); err != nil {
			return nil, nil, err
		}
		if i == 0 {
			perCPU = vals
			continue
		}
		var sum uint64
		for _, v := range vals {
			sum += v
		}
		other[name] = sum
	}
	var misses uint64
	for _, p := range m.progs {
		if st, err := p.Stats(); err == nil {
			misses += st.RecursionMisses
		}
	}
	other["recursion_misses"] = misses
	return perCPU, other, nil
}
