package tracer

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

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

// maxTrampolineArgs is the most arguments a BPF trampoline takes
// (MAX_BPF_FUNC_ARGS of the kernel's BTF checks).
const maxTrampolineArgs = 12

// trampolineRefuses says why the kernel refuses a trampoline on a function
// of prototype proto ("" when it does not): the checks the kernel makes of
// every fentry target's BTF (at most maxTrampolineArgs arguments, no
// variable arguments, no struct or union returned, no struct or union
// argument over 16 bytes). Functions it names never reach BPF_LINK_CREATE:
// one of them in a multi-link fails the whole link, and finding it by
// halving costs a link (and its fixed kernel time) per half that succeeds.
func trampolineRefuses(proto *btf.FuncProto) string {
	if len(proto.Params) > maxTrampolineArgs {
		return fmt.Sprintf("%d arguments (a trampoline takes at most %d)", len(proto.Params), maxTrampolineArgs)
	}
	if n := len(proto.Params); n > 0 {
		last := proto.Params[n-1]
		if _, ok := last.Type.(*btf.Void); ok && last.Name == "" {
			return "variable arguments"
		}
	}
	switch btf.UnderlyingType(proto.Return).(type) {
	case *btf.Struct, *btf.Union:
		return "returns a struct or union"
	}
	for _, a := range proto.Params {
		switch btf.UnderlyingType(a.Type).(type) {
		case *btf.Struct, *btf.Union:
			if size, err := btf.Sizeof(a.Type); err != nil || size > 16 {
				return fmt.Sprintf("argument %s: struct or union over 16 bytes", a.Name)
			}
		}
	}
	return ""
}

// moduleBTF returns the BTF object of every module of group the
// multi-link can take (its layout has the BTF object fds and the kernel
// has the module's BTF loaded), keyed by module name.
func (s *session) moduleBTF(group []int) map[string]*btf.Handle {
	out := make(map[string]*btf.Handle)
	if !s.fentry.multi.TakesModules() {
		return out
	}
	want := make(map[string]bool)
	for _, i := range group {
		if m := s.probes[i].Module; m != "" {
			want[m] = true
		}
	}
	if len(want) == 0 {
		return out
	}
	it := new(btf.HandleIterator)
	for it.Next() {
		info, err := it.Handle.Info()
		if err != nil || !info.IsModule() || !want[info.Name] || out[info.Name] != nil {
			continue
		}
		out[info.Name] = it.Take()
	}
	return out
}

// attachFentryMulti attaches the functions of group with one multi-link
// of prog (fentry_skb_n loaded by loadFentryMulti, or with withArg
// fentry_skb_any: the cookies carry the skb argument position above the
// probe id). A function whose prototype the kernel refuses for any
// trampoline (trampolineRefuses) goes to fail at once. vmlinux has one
// link, each module another (when the layout takes modules). Should the kernel
// still refuse the link, it is split in halves to isolate the functions
// it refuses. It returns the functions left for per-function links
// (module functions the multi-link cannot take, functions without BTF).
func (s *session) attachFentryMulti(prog *ebpf.Program, group []int, withArg bool, bar *progress, fail func(int, error)) []int {
	kernel, err := s.cache.Kernel()
	if err != nil {
		return group
	}
	f := s.fentry
	t0 := time.Now()
	mods := s.moduleBTF(group)
	defer func() {
		for _, h := range mods {
			h.Close()
		}
	}()
	var rest []int
	byObj := make(map[string][]int) // "" (vmlinux) or the module -> functions
	targets := make(map[int]tracingmulti.Target)
	for _, i := range group {
		p := &s.probes[i]
		spec := kernel
		var h *btf.Handle
		if p.Module != "" {
			if h = mods[p.Module]; h == nil {
				rest = append(rest, i)
				continue
			}
			if spec, err = s.cache.Module(p.Module); err != nil {
				rest = append(rest, i)
				continue
			}
		}
		var fn *btf.Func
		if spec.TypeByName(p.Name, &fn) != nil {
			rest = append(rest, i)
			continue
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok {
			rest = append(rest, i)
			continue
		}
		if why := trampolineRefuses(proto); why != "" {
			f.took.skipped++
			fail(i, fmt.Errorf("no trampoline: %s", why))
			bar.add(1)
			continue
		}
		id, err := spec.TypeID(fn)
		if err != nil {
			rest = append(rest, i)
			continue
		}
		targets[i] = tracingmulti.Target{ID: id, Module: h, Cookie: probeCookie(p, withArg)}
		byObj[p.Module] = append(byObj[p.Module], i)
	}
	f.took.ids += time.Since(t0)
	var attach func(part []int)
	attach = func(part []int) {
		if len(part) == 0 {
			return
		}
		ts := make([]tracingmulti.Target, len(part))
		for k, i := range part {
			ts[k] = targets[i]
		}
		t0 := time.Now()
		l, err := f.multi.Attach(prog, f.multi.FentryMulti, ts)
		f.took.link += time.Since(t0)
		if err == nil {
			f.took.links++
			f.took.linked += len(part)
			s.links = append(s.links, l)
			bar.add(len(part))
			return
		}
		f.took.refused++
		if len(part) == 1 {
			fail(part[0], err)
			bar.add(1)
			return
		}
		attach(part[:len(part)/2])
		attach(part[len(part)/2:])
	}
	// One link per BTF object: vmlinux, then each module.
	attach(byObj[""])
	for _, m := range slices.Sorted(maps.Keys(byObj)) {
		if m != "" {
			attach(byObj[m])
		}
	}
	return rest
}
