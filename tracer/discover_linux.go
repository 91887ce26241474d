package tracer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// preflight checks the configuration and the privileges, removes a stale
// ready file and raises the process limits.
func (s *session) preflight() error {
	cfg := s.cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := CheckPrivileges(); err != nil {
		return err
	}
	s.log = cfg.Log
	if s.log == nil {
		s.log = io.Discard
	}
	if cfg.ReadyFile != "" {
		// A stale ready file from an earlier run would announce this one
		// too early.
		if err := os.Remove(cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale ready file: %w", err)
		}
	}
	raiseFileLimit()
	_ = rlimit.RemoveMemlock()
	return nil
}

// discoverHost finds the functions to trace and reads what the capture's
// head holds (kallsyms, the host header, the interfaces), resolves
// --filter-ifname and chooses the backend. The two slow reads, kallsyms
// and ftrace's list of attachable functions, run beside the BTF scan.
func (s *session) discoverHost() error {
	cfg, clock := s.cfg, s.clock
	ksCh := readKallsymsAsync()
	disc, err := discover(cfg, s.cache, readTextAsync(procfs.AvailPaths...), clock)
	if err != nil {
		return err
	}
	s.disc = disc
	kr := <-ksCh
	clock.add("read and check kallsyms", kr.took)
	clock.mark("wait for kallsyms")
	if kr.err != nil {
		return kr.err
	}
	s.ksyms = kr.syms

	hdr, err := hostHeader()
	if err != nil {
		return err
	}
	s.hdr = cfg.header(hdr)
	s.hdr.KernelLacks = disc.caps.lacks()
	var refs []procfs.NetnsRef
	s.ifs, s.nss, refs = procfs.Interfaces()
	if cfg.FilterIfname != "" {
		if s.ifindex, err = resolveIfname(s.ifs, refs, cfg.FilterNetns, cfg.FilterIfname); err != nil {
			return err
		}
	}
	skbBackend, backend, multi, err := chooseBackend(cfg, s.cache, s.log)
	if err != nil {
		return err
	}
	s.backend = backend
	clock.mark("snapshot")

	s.res.Backend = skbBackend
	if skbBackend == BackendFentry {
		s.fentry = &fentryState{multi: multi}
		if multi != nil {
			s.res.Backend = "fentry-multi"
		}
	}
	// The addresses of the functions to trace are picked up while
	// kallsyms is stored: a map of every kernel symbol would cost tens of
	// MB.
	s.addrs = make(map[string]uint64)
	for _, fs := range [][]Func{disc.skb, disc.nonSKB, disc.helpers} {
		for _, f := range fs {
			s.addrs[f.Name] = 0
		}
	}
	for _, f := range disc.mapFuncs {
		s.addrs[f.Name] = 0
	}
	if s.flight() && cfg.TriggerDrop {
		if s.reasons, s.notDropped, err = dropTriggerReasons(s.cache, cfg.TriggerReasons, disc.caps.dropReason); err != nil {
			return err
		}
	}
	return nil
}

// flight says whether the flight recorder is on.
func (s *session) flight() bool { return s.cfg.FlightBytes > 0 || s.cfg.FlightAge > 0 }

// ListFuncs returns what a recording with cfg would trace: the sk_buff
// functions, then the non-skb ones (--filter-non-skb-funcs), the BPF
// helpers (--filter-track-bpf-helpers) and the BPF map functions
// (--output-bpfmap).
func ListFuncs(cfg *Config) ([]Func, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := discover(cfg, btf.NewCache(), readTextAsync(procfs.AvailPaths...), newPhaseClock())
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

	mapFuncs []mapFunc // BPF map functions (--output-bpfmap)

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
		if err := checkBTF(); err != nil {
			return nil, err
		}
		btfPath = vmlinuxBTFPath
	}
	vmlinuxRaw, err := os.ReadFile(btfPath)
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w", err)
	}
	vmlinux, err := procfs.ParseBTF(vmlinuxRaw, nil)
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
	scan := func(r *procfs.BTF, module string) {
		skb = append(skb, selectFuncs(r.Funcs(module, true), nil, re)...)
		if nonRe != nil {
			nonSKB = append(nonSKB, selectFuncs(r.Funcs(module, false), nil, nonRe)...)
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
		r, err := procfs.ParseBTF(raw, vmlinux)
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
	var mapCands []mapFunc
	if cfg.OutputBPFMap {
		mapCands = mapFuncsOf(vmlinux)
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
	traceable := procfs.TraceableAmong(ar.text, names)
	d := &discovery{vmlinuxRaw: vmlinuxRaw, caps: caps}
	if unseen != nil {
		d.unseenMods, d.unseenModFuncs = unseenModuleFuncs(ar.text, unseen, cfg.AllKmods)
	}
	d.skb = selectFuncs(skb, traceable, nil)
	d.nonSKB = selectFuncs(nonSKB, traceable, nil)
	for _, m := range mods {
		if hasModule(d.skb, m) || hasModule(d.nonSKB, m) {
			d.modules = append(d.modules, m)
		}
	}
	if kernel != nil {
		d.helpers = bpfHelpers(kernel, traceable, d.skb)
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
