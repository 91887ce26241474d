package tracer

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
)

// errInterrupted is the error of a probe not attached because the
// recording was interrupted while attaching.
const errInterrupted = "not attached: interrupted"

// attachProbes attaches every probe, counts those that failed, and writes
// the probes (and the BPF symbols --output-stack needs) to the capture.
// It fails when no probe attached.
func (s *session) attachProbes(ctx context.Context) error {
	cfg, res := s.cfg, s.res
	if err := s.attach(ctx, s.disc, s.backend); err != nil {
		return err
	}
	s.clock.mark("attach")
	res.Startup = s.clock.phases
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
		return fmt.Errorf("%w (%d tried; first: %s)", ErrNoneAttached, res.ProbesFailed, strings.Join(res.FailedSamples[:min(1, len(res.FailedSamples))], ""))
	}
	if err := s.w.AddProbes(s.probes); err != nil {
		return fmt.Errorf("store probes: %w", err)
	}
	if cfg.OutputStack {
		// The stacks of tracepoint and fentry/fexit events start in our
		// programs, loaded after the kallsyms snapshot: name them too.
		if err := addBPFKallsyms(s.w, s.bpfSyms); err != nil {
			fmt.Fprintf(s.log, "warning: BPF program symbols for --output-stack: %v\n", err)
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
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

	bar := newProgress(cfg, total)
	// An interrupt during attach stops attaching; the recording then
	// completes at once with what is attached.
	// fentry takes every skb function at once: one program (in
	// fentryAnyShards instances) for all positions on the multi-link
	// (attachFentry groups them itself).
	byFentry := func(g *group) bool { return s.fentry != nil && strings.HasPrefix(s.progOf[g.idx[0]], "skb_") }
	var fentryIdx []int
	for _, g := range groups {
		if byFentry(g) {
			fentryIdx = append(fentryIdx, g.idx...)
		}
	}
	if len(fentryIdx) > 0 {
		s.attachFentry(ctx, fentryIdx, backend, bar)
	}
	for _, g := range groups {
		if byFentry(g) {
			continue
		}
		if backend == BackendKprobeMulti {
			s.attachMulti(g.prog, g.idx, false, bar)
		} else {
			s.attachSingle(ctx, g.prog, g.idx, bar)
		}
	}
	bar.done()

	// Drop reasons.
	tp := &s.probes[len(s.probes)-1]
	if l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "kfree_skb", Program: s.coll.Programs[bpf.PwruProgRawTpKfreeSkb]}); err != nil {
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
		l, err := link.Kprobe("kfree_skbmem", s.coll.Programs[bpf.PwruProgKprobeKfreeSkbmem], nil)
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
	return s.attachMapFuncs(ctx, backend)
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
		ret, err := link.Kretprobe(fn, s.coll.Programs[bpf.PwruProgKretprobeSkbCopyReturn], nil)
		if err != nil {
			return nil, err
		}
		entry, err := link.Kprobe(fn, s.coll.Programs[bpf.PwruProgKprobeSkbCopyEntry], nil)
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

// attachSingle attaches one kprobe of prog per function of idx.
func (s *session) attachSingle(ctx context.Context, prog *ebpf.Program, idx []int, bar *progress) {
	s.attachBatched(ctx, s.probes, idx, func(i int) (link.Link, error) {
		p := &s.probes[i]
		opts, err := s.kprobeOpts(p, uint64(p.ID))
		if err != nil {
			return nil, err
		}
		return link.Kprobe(p.Name, prog, opts)
	}, bar.add)
}

// probeCookie is the attach cookie of p: its probe id and, withArg, the
// skb argument position above it (read by the *_skb_any programs).
func probeCookie(p *format.Probe, withArg bool) uint64 {
	cookie := uint64(p.ID)
	if withArg {
		cookie |= uint64(p.SKBArg) << 32
	}
	return cookie
}

// attachMulti attaches the functions of idx with kprobe.multi links of
// prog; withArg, their cookies carry the skb argument position
// (probeCookie).
func (s *session) attachMulti(prog *ebpf.Program, idx []int, withArg bool, bar *progress) {
	s.attachHalving(s.probes, idx, func(part []int) (link.Link, error) {
		syms := make([]string, len(part))
		cookies := make([]uint64, len(part))
		for k, i := range part {
			syms[k] = s.probes[i].Name
			cookies[k] = probeCookie(&s.probes[i], withArg)
		}
		return link.KprobeMulti(prog, link.KprobeMultiOptions{Symbols: syms, Cookies: cookies})
	}, bar.add)
}

// attachBatched attaches the probes of idx (indexes into probes) with
// attach, KprobeBatch at a time: each attach waits for the kernel, a
// batch overlaps the waits. A probe that failed before (its Error set) is
// skipped; a failure goes to the probe's Error. Once ctx is done no
// further batch starts and the probes left are marked not attached.
// done, when set, is told after each batch how many probes it covered.
func (s *session) attachBatched(ctx context.Context, probes []format.Probe, idx []int, attach func(i int) (link.Link, error), done func(n int)) {
	batch := max(1, s.cfg.KprobeBatch)
	var mu sync.Mutex // s.links, probes
	for start := 0; start < len(idx); start += batch {
		if ctx.Err() != nil {
			for _, i := range idx[start:] {
				if probes[i].Error == "" {
					probes[i].Error = errInterrupted
				}
			}
			return
		}
		end := min(start+batch, len(idx))
		var wg sync.WaitGroup
		for _, i := range idx[start:end] {
			if probes[i].Error != "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := attach(i)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					probes[i].Error = err.Error()
					return
				}
				s.links = append(s.links, l)
			}()
		}
		wg.Wait()
		if done != nil {
			done(end - start)
		}
	}
}

// attachHalving attaches the probes of idx (indexes into probes) with one
// multi-link made by attach, splitting a group that fails in halves until
// the failing probes are isolated; their error goes to the probe's Error.
// A probe that failed before is skipped. done, when set, is told how many
// probes each attempt settled.
func (s *session) attachHalving(probes []format.Probe, idx []int, attach func(part []int) (link.Link, error), done func(n int)) {
	var use []int
	for _, i := range idx {
		if probes[i].Error == "" {
			use = append(use, i)
		}
	}
	var try func(part []int)
	try = func(part []int) {
		if len(part) == 0 {
			return
		}
		l, err := attach(part)
		switch {
		case err == nil:
			s.links = append(s.links, l)
		case len(part) == 1:
			probes[part[0]].Error = err.Error()
		default:
			try(part[:len(part)/2])
			try(part[len(part)/2:])
			return
		}
		if done != nil {
			done(len(part))
		}
	}
	try(use)
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
			entry, exit = bpf.PwruProgFentryTc, bpf.PwruProgFexitTc
		case ebpf.XDP:
			if !s.cfg.TraceXDP {
				p.Close()
				continue
			}
			entry, exit, kind = bpf.PwruProgFentryXdp, bpf.PwruProgFexitXdp, format.ProbeXDP
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
