package tracer

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/format"
)

// Kernel programs of --output-bpfmap (bpf/pwru.c) per backend: the entry
// probe of every map function and the return probe of the lookups.
var mapProgs = map[string][2]string{
	BackendKprobe:      {"kprobe_bpfmap", "kretprobe_bpfmap"},
	BackendKprobeMulti: {"kprobe_multi_bpfmap", "kretprobe_multi_bpfmap"},
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
// keeps the error in its Probe.
func (s *session) attachMapFuncs(backend string) error {
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
			s.attachMapMulti(g.prog, g.idx, g.ret, probes)
			continue
		}
		s.attachMapSingles(g.prog, g.idx, g.ret, probes)
	}
	return nil
}

// attachMapSingles attaches one kprobe (or kretprobe) per function of idx,
// KprobeBatch at a time (each attach waits for the kernel; a batch
// overlaps the waits).
func (s *session) attachMapSingles(prog *ebpf.Program, idx []int, ret bool, probes []format.Probe) {
	var mu sync.Mutex
	for start := 0; start < len(idx); start += s.cfg.KprobeBatch {
		var wg sync.WaitGroup
		for _, i := range idx[start:min(start+s.cfg.KprobeBatch, len(idx))] {
			if probes[i].Error != "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.attachMapSingle(prog, i, ret, probes)
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
	}
}

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

// attachMapMulti attaches the functions idx with one kprobe.multi (or
// kretprobe.multi) link, halving a group that fails until the failing
// functions are isolated.
func (s *session) attachMapMulti(prog *ebpf.Program, idx []int, ret bool, probes []format.Probe) {
	var syms []string
	var cookies []uint64
	var use []int
	for _, i := range idx {
		if probes[i].Error == "" {
			syms = append(syms, probes[i].Name)
			cookies = append(cookies, s.mapFuncs[i].cookie(probes[i].ID))
			use = append(use, i)
		}
	}
	if len(use) == 0 {
		return
	}
	opts := link.KprobeMultiOptions{Symbols: syms, Cookies: cookies}
	var l link.Link
	var err error
	if ret {
		l, err = link.KretprobeMulti(prog, opts)
	} else {
		l, err = link.KprobeMulti(prog, opts)
	}
	if err == nil {
		s.links = append(s.links, l)
		return
	}
	if len(use) == 1 {
		probes[use[0]].Error = err.Error()
		return
	}
	half := len(use) / 2
	s.attachMapMulti(prog, use[:half], ret, probes)
	s.attachMapMulti(prog, use[half:], ret, probes)
}
