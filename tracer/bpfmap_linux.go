package tracer

import (
	"context"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
)

// Kernel programs of --output-bpfmap (bpf/pwru.c) per backend: the entry
// probe of every map function and the return probe of the lookups.
var mapProgs = map[string][2]string{
	BackendKprobe:      {bpf.PwruProgKprobeBpfmap, bpf.PwruProgKretprobeBpfmap},
	BackendKprobeMulti: {bpf.PwruProgKprobeMultiBpfmap, bpf.PwruProgKretprobeMultiBpfmap},
}

// planMapProbes describes a probe for every map function; their ids are
// given when they are attached (after the tc/XDP program probes).
func (s *session) planMapProbes(d *discovery, backend string) {
	kind := format.ProbeKprobe
	if backend == BackendKprobeMulti {
		kind = format.ProbeKprobeMulti
	}
	s.mapFuncs = d.mapFuncs
	s.mapProbes = make([]format.Probe, len(d.mapFuncs))
	for i, f := range d.mapFuncs {
		s.mapProbes[i] = format.Probe{Name: f.Name, Addr: s.addrs[f.Name], Kind: kind}
	}
}

// attachMapFuncs attaches the --output-bpfmap probes: an entry probe on
// every map function and a return probe on the lookups, with the probe id
// and the operation in the attach cookie. A function whose probe fails
// keeps the error in its Probe; once ctx is done no more are attached.
func (s *session) attachMapFuncs(ctx context.Context, backend string) error {
	if len(s.mapFuncs) == 0 {
		return nil
	}
	progs := mapProgs[backend]
	entry, ret := s.coll.Programs[progs[0]], s.coll.Programs[progs[1]]
	if entry == nil || ret == nil {
		return fmt.Errorf("attach BPF map probes: programs %s and %s not loaded", progs[0], progs[1])
	}
	first := len(s.probes)
	for i := range s.mapProbes {
		s.mapProbes[i].ID = uint32(first + i + 1)
	}
	s.probes = append(s.probes, s.mapProbes...)
	probes := s.probes[first:]

	var all, lookups []int
	for i, f := range s.mapFuncs {
		all = append(all, i)
		if f.Op == format.BPFMapLookup {
			lookups = append(lookups, i)
		}
	}
	for _, g := range []struct {
		prog *ebpf.Program
		idx  []int
		ret  bool
	}{{entry, all, false}, {ret, lookups, true}} {
		if backend == BackendKprobeMulti {
			s.attachHalving(probes, g.idx, func(part []int) (link.Link, error) {
				return s.attachMapMulti(g.prog, part, g.ret, probes)
			}, nil)
			continue
		}
		s.attachBatched(ctx, probes, g.idx, func(i int) (link.Link, error) {
			return s.attachMapSingle(g.prog, i, g.ret, probes)
		}, nil)
	}
	return nil
}

// attachMapSingle attaches one kprobe (or kretprobe) of prog to map
// function i.
func (s *session) attachMapSingle(prog *ebpf.Program, i int, ret bool, probes []format.Probe) (link.Link, error) {
	opts, err := s.kprobeOpts(&probes[i], s.mapFuncs[i].cookie(probes[i].ID))
	if err != nil {
		return nil, err
	}
	if ret {
		return link.Kretprobe(probes[i].Name, prog, opts)
	}
	return link.Kprobe(probes[i].Name, prog, opts)
}

// attachMapMulti attaches the map functions part with one kprobe.multi
// (or kretprobe.multi) link of prog.
func (s *session) attachMapMulti(prog *ebpf.Program, part []int, ret bool, probes []format.Probe) (link.Link, error) {
	syms := make([]string, len(part))
	cookies := make([]uint64, len(part))
	for k, i := range part {
		syms[k] = probes[i].Name
		cookies[k] = s.mapFuncs[i].cookie(probes[i].ID)
	}
	opts := link.KprobeMultiOptions{Symbols: syms, Cookies: cookies}
	if ret {
		return link.KretprobeMulti(prog, opts)
	}
	return link.KprobeMulti(prog, opts)
}
