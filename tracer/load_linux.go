package tracer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
)

// loadProgram loads the kernel program and turns on run-time statistics
// before the first probe can fire.
func (s *session) loadProgram() error {
	disc, log := s.disc, s.log
	s.res.Planned = len(s.probes) + len(s.mapProbes)
	if err := s.load(disc, s.backend, s.ifindex); err != nil {
		return err
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
	s.clock.mark("load")
	if s.cfg.BPFStats {
		on, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			fmt.Fprintf(log, "warning: enable BPF run-time statistics: %v\n", err)
		} else {
			s.statsOn = on
		}
	}
	return nil
}

// Maps shared between the main collection and the per-target copies.
var sharedMaps = []string{
	bpf.PwruMapEvents, bpf.PwruMapScratchMap, bpf.PwruMapCounters, bpf.PwruMapStacks,
	bpf.PwruMapTrackSkb, bpf.PwruMapTrackStack, bpf.PwruMapPayloadSeen, bpf.PwruMapTrackIds,
	bpf.PwruMapCurProg, bpf.PwruMapBpfmapStash, bpf.PwruMapChain, bpf.PwruMapProbeAddrs,
}

// load loads the kernel program: the spec with the recording's
// configuration and filters, and the programs of the chosen backend.
func (s *session) load(d *discovery, backend string, ifindex uint32) error {
	cfg := s.cfg
	spec, err := bpf.LoadPwru()
	if err != nil {
		return fmt.Errorf("load kernel program spec: %w", err)
	}
	var specs struct {
		bpf.PwruMapSpecs
		bpf.PwruVariableSpecs
	}
	if err := spec.Assign(&specs); err != nil {
		return fmt.Errorf("load kernel program spec: %w", err)
	}
	specs.Events.MaxEntries = uint32(cfg.RingbufSize)
	if !cfg.TrackSKBByStackID {
		// Stack ids only key --filter-track-skb-by-stackid (--output-stack
		// copies the stack into the record): no need for the 4 MiB map.
		specs.Stacks.MaxEntries = 1
	}
	s.noCookie = !d.caps.attachCookie
	if s.noCookie {
		// Kprobes find their cookie by address (probe_addrs).
		specs.ProbeAddrs.MaxEntries = uint32(max(1, len(s.probes)+len(s.mapProbes)))
	}
	if len(d.nonSKB) == 0 {
		// Caller chains only serve --filter-non-skb-funcs; an LRU map
		// is allocated whole at creation.
		specs.Chain.MaxEntries = 128
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
	kc.TriggerPcap = b2u(cfg.TriggerPcap != "")
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
	var metas []metaField
	for _, m := range cfg.OutputSKBMetadata {
		mf, err := resolveMetadata(kernel, m)
		if err != nil {
			return fmt.Errorf("%w: --output-skb-metadata: %w", ErrConfig, err)
		}
		metas = append(metas, mf)
	}
	var xdpMetas []metaField
	for _, m := range cfg.OutputXDPMetadata {
		mf, err := resolveXDPMetadata(kernel, m)
		if err != nil {
			return fmt.Errorf("%w: --output-xdp-metadata: %w", ErrConfig, err)
		}
		xdpMetas = append(xdpMetas, mf)
	}
	if err := metaConfig(&kc, metas, xdpMetas); err != nil {
		return fmt.Errorf("%w: --output-skb-metadata, --output-xdp-metadata: %w", ErrConfig, err)
	}
	if err := specs.CFG.Set(kc); err != nil {
		return fmt.Errorf("set kernel program config: %w", err)
	}
	if cfg.Ablate != 0 {
		if err := specs.ABLATE.Set(cfg.Ablate); err != nil {
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
	keep := map[string]bool{bpf.PwruProgRawTpKfreeSkb: true, bpf.PwruProgKprobeKfreeSkbmem: true}
	if cfg.TrackSKB {
		// The clone tracking fallback (see attachCopyTracking).
		keep[bpf.PwruProgKprobeSkbCopyEntry] = true
		keep[bpf.PwruProgKretprobeSkbCopyReturn] = true
	}
	prefix := "kprobe_skb_"
	nonSKB := "kprobe_non_skb"
	if backend == BackendKprobeMulti {
		prefix = "kprobe_multi_skb_"
		nonSKB = "kprobe_multi_non_skb"
	}
	if s.fentry == nil {
		for i := 1; i <= maxSKBArg; i++ {
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
		var vars bpf.PwruVariableSpecs
		if err := spec.Assign(&vars); err != nil {
			return nil, fmt.Errorf("read kernel program config: %w", err)
		}
		var kc bpf.PwruConfig
		if err := vars.CFG.Get(&kc); err != nil {
			return nil, fmt.Errorf("read kernel program config: %w", err)
		}
		kc.ProgProbeId = probeID
		if err := vars.CFG.Set(kc); err != nil {
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
