package tracer

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/internal/tracingmulti"
)

// loadFentryAny loads fentry_skb_any as a multi-link program (nil, logged,
// when it does not load).
func (s *session) loadFentryAny() *ebpf.Program {
	f := s.fentry
	if f.any == nil {
		return nil
	}
	ps := f.any.Copy()
	ps.AttachType = f.multi.FentryMulti
	ps.AttachTo = ""
	progs, err := s.loadFentrySpecs(map[string]*ebpf.ProgramSpec{"any": ps})
	if err != nil {
		fmt.Fprintf(s.log, "warning: fentry multi-link program for every skb argument: %v; one program per argument position\n", shortErr(err))
		return nil
	}
	return progs["any"]
}

// loadFentryMulti loads fentry_skb_n as a multi-link program for every
// skb argument position n of byArg, fentryWorkers at a time (each is
// verified on its own: the verifier's time is most of fentry's startup).
// A position whose program fails to load is missing from the result (its
// functions get one link each).
func (s *session) loadFentryMulti(byArg map[int][]int) map[int]*ebpf.Program {
	f := s.fentry
	out := make(map[int]*ebpf.Program)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, fentryWorkers)
	for n := 1; n <= maxSKBArg; n++ {
		if len(byArg[n]) == 0 || f.specs[n] == nil {
			continue
		}
		ps := f.specs[n].Copy()
		ps.AttachType = f.multi.FentryMulti
		ps.AttachTo = ""
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			prog, err := s.loadFentrySpecs(map[string]*ebpf.ProgramSpec{"m": ps})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Fprintf(s.log, "warning: fentry multi-link program for skb argument %d: %v; attaching one by one\n", n, shortErr(err))
				return
			}
			out[n] = prog["m"]
		}()
	}
	wg.Wait()
	return out
}

// attachFentryMulti attaches the vmlinux functions of group with one
// multi-link of prog (fentry_skb_n loaded by loadFentryMulti, or with
// withArg fentry_skb_any: the cookies carry the skb argument position
// above the probe id), splitting the group in halves on failure to
// isolate the functions the kernel refuses. It returns the functions left
// for per-function links (module functions).
func (s *session) attachFentryMulti(prog *ebpf.Program, group []int, withArg bool, bar *progress, fail func(int, error)) []int {
	kernel, err := s.cache.Kernel()
	if err != nil {
		return group
	}
	f := s.fentry
	var rest, vm []int
	targets := make(map[int]tracingmulti.Target)
	for _, i := range group {
		p := &s.probes[i]
		var fn *btf.Func
		if p.Module != "" || kernel.TypeByName(p.Name, &fn) != nil {
			rest = append(rest, i)
			continue
		}
		id, err := kernel.TypeID(fn)
		if err != nil {
			rest = append(rest, i)
			continue
		}
		cookie := uint64(p.ID)
		if withArg {
			cookie |= uint64(p.SKBArg) << 32
		}
		targets[i] = tracingmulti.Target{ID: id, Cookie: cookie}
		vm = append(vm, i)
	}
	var attach func(part []int)
	attach = func(part []int) {
		if len(part) == 0 {
			return
		}
		ts := make([]tracingmulti.Target, len(part))
		for k, i := range part {
			ts[k] = targets[i]
		}
		l, err := f.multi.Attach(prog, f.multi.FentryMulti, ts)
		if err == nil {
			s.links = append(s.links, l)
			bar.add(len(part))
			return
		}
		if len(part) == 1 {
			fail(part[0], err)
			bar.add(1)
			return
		}
		attach(part[:len(part)/2])
		attach(part[len(part)/2:])
	}
	attach(vm)
	return rest
}
