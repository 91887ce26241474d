package tracer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/tracingmulti"
)

// fentryBatch is the number of per-function fentry programs loaded as one
// collection (one verifier pass each, but one BTF decode for all).
const fentryBatch = 32

// fentryWorkers load and attach batches side by side.
const fentryWorkers = 2

// fentryState is what --backend fentry keeps beside the main collection:
// the fentry_skb_N program specs, the programs it loaded (for their run
// statistics) and the multi-link layout when the kernel has one.
type fentryState struct {
	specs map[int]*ebpf.ProgramSpec // skb argument position -> fentry_skb_N
	any   *ebpf.ProgramSpec         // fentry_skb_any: every position on one multi-link
	// The kprobe programs of the skb functions (kprobe_skb_N or
	// kprobe_multi_skb_N and kprobe_multi_skb_any) for the functions fentry cannot attach, loaded
	// only then (attachFentry).
	kprobeSpecs map[string]*ebpf.ProgramSpec
	maps        map[string]*ebpf.MapSpec // the object's map specs, for the batch collections
	types       *btf.Spec
	multi       *tracingmulti.Layout // nil: one fentry link per function

	mu    sync.Mutex
	progs []*ebpf.Program

	took fentryTimes
}

// fentryTimes is where attachFentry's time went, logged once it is done.
type fentryTimes struct {
	load      time.Duration // the multi-link programs (verifier)
	ids       time.Duration // BTF type ids of the functions
	link      time.Duration // BPF_LINK_CREATE of the multi-links, failed ones included
	links     int           // multi-links created
	refused   int           // BPF_LINK_CREATE calls the kernel refused
	linked    int           // functions on the multi-links
	skipped   int           // functions whose prototype no trampoline takes
	each      time.Duration // one program and link per function
	eachN     int
	fallback  time.Duration // the kprobe fallback (its programs' load included)
	fallbackN int
}

// String renders the times, e.g. "multi-link program load 1.2s, BTF ids
// 20ms, link_create 3s (1500 functions on 1 links, 12 calls refused)".
func (t fentryTimes) String() string {
	ms := func(d time.Duration) time.Duration { return d.Truncate(time.Millisecond) }
	return fmt.Sprintf("multi-link program load %s, BTF ids %s (%d functions no trampoline takes), link_create %s (%d functions on %d links, %d calls refused), %d one by one %s, %d kprobe fallback %s",
		ms(t.load), ms(t.ids), t.skipped, ms(t.link), t.linked, t.links, t.refused, t.eachN, ms(t.each), t.fallbackN, ms(t.fallback))
}

// fentryProbe says whether one fentry program with an attach cookie loads
// and attaches on this kernel: a trivial program on kfree_skbmem (every
// kernel that has sk_buffs has it), detached at once.
func fentryProbe(cache *btf.Cache) error {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"probe": {
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceFEntry,
		AttachTo:     "kfree_skbmem",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return fmt.Errorf("load fentry program: %w", err)
	}
	defer coll.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs["probe"], AttachType: ebpf.AttachTraceFEntry, Cookie: 1})
	if err != nil {
		return fmt.Errorf("attach fentry program with cookie: %w", err)
	}
	return l.Close()
}

// multiProbe returns the kernel's multi-link layout when a multi-link of a
// trivial program on kfree_skbmem can be created, else why not.
func multiProbe(cache *btf.Cache) (*tracingmulti.Layout, error) {
	kernel, err := cache.Kernel()
	if err != nil {
		return nil, fmt.Errorf("load kernel BTF: %w", err)
	}
	lay, err := tracingmulti.Probe(kernel)
	if err != nil {
		return nil, err
	}
	var fn *btf.Func
	if err := kernel.TypeByName("kfree_skbmem", &fn); err != nil {
		return nil, fmt.Errorf("find kfree_skbmem: %w", err)
	}
	id, err := kernel.TypeID(fn)
	if err != nil {
		return nil, err
	}
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"probe": {
		Type:         ebpf.Tracing,
		AttachType:   lay.FentryMulti,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("load fentry multi program: %w", err)
	}
	defer coll.Close()
	l, err := lay.Attach(coll.Programs["probe"], lay.FentryMulti, []tracingmulti.Target{{ID: id, Cookie: 1}})
	if err != nil {
		return nil, err
	}
	return lay, l.Close()
}

// keepFentry takes the fentry_skb_N programs out of spec (before the main
// collection drops them) for attachFentry.
func (s *session) keepFentry(spec *ebpf.CollectionSpec, kprobePrefix string) {
	f := s.fentry
	f.specs = make(map[int]*ebpf.ProgramSpec)
	f.kprobeSpecs = make(map[string]*ebpf.ProgramSpec)
	if ps := spec.Programs["fentry_skb_any"]; ps != nil {
		f.any = ps.Copy()
	}
	for n := 1; n <= maxSKBArg; n++ {
		if ps := spec.Programs[fmt.Sprintf("fentry_skb_%d", n)]; ps != nil {
			f.specs[n] = ps.Copy()
		}
		name := fmt.Sprintf("%s%d", kprobePrefix, n)
		if ps := spec.Programs[name]; ps != nil {
			f.kprobeSpecs[name] = ps.Copy()
		}
	}
	if ps := spec.Programs[kprobePrefix+"any"]; ps != nil {
		// kprobe_multi_skb_any (kprobe.multi: every position on one link).
		f.kprobeSpecs[kprobePrefix+"any"] = ps.Copy()
	}
	f.maps = make(map[string]*ebpf.MapSpec, len(spec.Maps))
	for name, m := range spec.Maps {
		f.maps[name] = m.Copy()
	}
	f.types = spec.Types
}

// fentryAnyShards is how many instances of fentry_skb_any share the
// functions of the multi-link, each on its own link. The trampoline skips
// a program already running on the CPU (a recursion miss), and a task
// preempted inside it keeps it running, so with one program every traced
// function the other tasks of that CPU run is missed until the task
// resumes; with k programs, only the functions of its program. In the
// instruction-counted vmbench flood on 7.2 (one vCPU): 1 program 2,910
// misses, 4: 774 (attach 3.5 -> 4.1 s, kprobe-multi 4.2 s), 8: 418
// (4.8 s); ns per run unchanged. Each instance is verified on its own.
// (Disabling preemption inside the program does not help: the pending
// preemption is taken at bpf_preempt_enable, still inside the program.)
const fentryAnyShards = 4

// shardProbes deals idx out to k parts (k >= 1), the j-th of idx to part
// j mod k, so that functions near each other in idx (the kernel's order)
// land in different parts.
func shardProbes(idx []int, k int) [][]int {
	parts := make([][]int, k)
	for j, i := range idx {
		parts[j%k] = append(parts[j%k], i)
	}
	return parts
}

// attachFentry attaches the skb functions of idx (indexes into s.probes)
// with fentry: fentry_skb_any on multi-links for every vmlinux function
// (fentryAnyShards instances, the functions dealt out among them) when the
// kernel has them (one per skb argument position if that program
// does not load), else one program and link per function, fentryBatch
// programs per collection, fentryWorkers batches at a time. A function
// fentry cannot attach (more arguments than the trampoline takes, varargs,
// a module the multi-link cannot take, ...) falls back to a kprobe of
// kprobeBackend (with kprobe-multi one kprobe_multi_skb_any link for all
// of them): its probe kind says which, and the reasons are logged.
func (s *session) attachFentry(ctx context.Context, idx []int, kprobeBackend string, bar *progress) {
	byArg := make(map[int][]int)
	for _, i := range idx {
		n := int(s.probes[i].SKBArg)
		byArg[n] = append(byArg[n], i)
	}
	fallback := make(map[int]string) // probe index -> why fentry failed
	var mu sync.Mutex
	fail := func(i int, err error) {
		mu.Lock()
		fallback[i] = err.Error()
		mu.Unlock()
	}
	var multi map[int]*ebpf.Program
	if s.fentry.multi != nil {
		// One program for every vmlinux function, the skb argument
		// position in the cookie, in fentryAnyShards instances; by
		// position if it fails to load.
		t0 := time.Now()
		var progs []*ebpf.Program
		for range min(fentryAnyShards, len(idx)) {
			prog := s.loadFentryAny()
			if prog == nil {
				break
			}
			progs = append(progs, prog)
		}
		s.fentry.took.load += time.Since(t0)
		if len(progs) > 0 {
			parts := shardProbes(idx, len(progs))
			var rest []int
			for k, prog := range progs {
				rest = append(rest, s.attachFentryMulti(prog, parts[k], true, bar, fail)...)
			}
			if kprobeBackend == BackendKprobeMulti && s.fentry.kprobeSpecs[bpf.PwruProgKprobeMultiSkbAny] != nil {
				// What the multi-link cannot take (module functions where
				// it takes no module BTF, functions without BTF) joins the
				// kprobe.multi fallback, one program for all, rather than
				// a program verified per function.
				for _, i := range rest {
					why := "no BTF for the multi-link"
					if s.probes[i].Module != "" {
						why = "module function: this kernel's multi-link takes no module BTF"
					}
					fail(i, errors.New(why))
					bar.add(1)
				}
				rest = nil
			}
			byArg = make(map[int][]int)
			for _, i := range rest {
				n := int(s.probes[i].SKBArg)
				byArg[n] = append(byArg[n], i)
			}
		} else {
			t0 := time.Now()
			multi = s.loadFentryMulti(byArg)
			s.fentry.took.load += time.Since(t0)
		}
	}
	for n := 1; n <= maxSKBArg; n++ {
		group := byArg[n]
		if len(group) == 0 {
			continue
		}
		rest := group
		if prog := multi[n]; prog != nil {
			rest = s.attachFentryMulti(prog, group, false, bar, fail)
		}
		t0 := time.Now()
		s.attachFentryEach(ctx, n, rest, bar, fail)
		s.fentry.took.each += time.Since(t0)
		s.fentry.took.eachN += len(rest)
	}
	if s.fentry.multi != nil {
		defer func() { fmt.Fprintf(s.log, "fentry: %v\n", s.fentry.took) }()
	}
	if len(fallback) == 0 {
		return
	}
	t0 := time.Now()
	defer func() {
		s.fentry.took.fallback = time.Since(t0)
		s.fentry.took.fallbackN = len(fallback)
	}()
	// The kprobe fallback, by skb argument position.
	var first string
	kind := format.ProbeKprobe
	prefix := "kprobe_skb_"
	if kprobeBackend == BackendKprobeMulti {
		kind, prefix = format.ProbeKprobeMulti, "kprobe_multi_skb_"
	}
	back := make(map[int][]int)
	for _, i := range idx {
		why, ok := fallback[i]
		if !ok {
			continue
		}
		if first == "" {
			first = s.probes[i].Name + ": " + why
		}
		s.probes[i].Kind = kind
		s.probes[i].Error = ""
		n := int(s.probes[i].SKBArg)
		back[n] = append(back[n], i)
	}
	fmt.Fprintf(s.log, "fentry: %d functions attached as %s instead (first: %s)\n", len(fallback), kprobeBackend, first)
	if kprobeBackend == BackendKprobeMulti && s.attachKprobeAny(back) {
		return
	}
	for n := 1; n <= maxSKBArg; n++ {
		if len(back[n]) == 0 {
			continue
		}
		name := fmt.Sprintf("%s%d", prefix, n)
		progs, err := s.loadFentrySpecs(map[string]*ebpf.ProgramSpec{name: s.fentry.kprobeSpecs[name]})
		if err != nil {
			for _, i := range back[n] {
				s.probes[i].Error = fmt.Sprintf("not attached: load %s: %v", name, shortErr(err))
			}
			continue
		}
		prog := progs[name]
		if kprobeBackend == BackendKprobeMulti {
			s.attachMulti(prog, back[n], false, &progress{})
		} else {
			s.attachSingle(ctx, prog, back[n], &progress{})
		}
	}
}

// attachKprobeAny attaches the fallback functions of back (by skb
// argument position) with one kprobe.multi link of kprobe_multi_skb_any,
// the position in the cookies above the probe id: one program verified
// instead of one per position. false: the program did not load (nothing
// attached; the caller goes by position).
func (s *session) attachKprobeAny(back map[int][]int) bool {
	ps := s.fentry.kprobeSpecs[bpf.PwruProgKprobeMultiSkbAny]
	if ps == nil {
		return false
	}
	progs, err := s.loadFentrySpecs(map[string]*ebpf.ProgramSpec{"any": ps})
	if err != nil {
		fmt.Fprintf(s.log, "warning: kprobe.multi program for every skb argument: %v; one program per argument position\n", shortErr(err))
		return false
	}
	var idx []int
	for n := 1; n <= maxSKBArg; n++ {
		idx = append(idx, back[n]...)
	}
	// The fallback functions were counted on the bar when they failed.
	s.attachMulti(progs["any"], idx, true, &progress{})
	return true
}

// attachFentryEach attaches every function of group with its own
// fentry_skb_n program and link.
func (s *session) attachFentryEach(ctx context.Context, n int, group []int, bar *progress, fail func(int, error)) {
	work := make(chan []int)
	var wg sync.WaitGroup
	var mu sync.Mutex // s.links, bar
	for range fentryWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				progs := s.loadFentryEach(n, batch, fail)
				for _, i := range batch {
					prog := progs[i]
					if prog == nil {
						continue
					}
					l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceFEntry, Cookie: uint64(s.probes[i].ID)})
					if err != nil {
						fail(i, err)
						continue
					}
					mu.Lock()
					s.links = append(s.links, l)
					mu.Unlock()
				}
				mu.Lock()
				bar.add(len(batch))
				mu.Unlock()
			}
		}()
	}
	for start := 0; start < len(group); start += fentryBatch {
		batch := group[start:min(start+fentryBatch, len(group))]
		if ctx.Err() != nil {
			for _, i := range batch {
				s.probes[i].Error = "not attached: interrupted"
			}
			continue
		}
		work <- batch
	}
	close(work)
	wg.Wait()
}

// loadFentryEach loads fentry_skb_n for every function of batch, as one
// collection; a batch that fails is split in halves until the functions
// the kernel refuses are isolated (their error goes to fail).
func (s *session) loadFentryEach(n int, batch []int, fail func(int, error)) map[int]*ebpf.Program {
	out := make(map[int]*ebpf.Program)
	var load func(part []int)
	load = func(part []int) {
		if len(part) == 0 {
			return
		}
		specs := make(map[string]*ebpf.ProgramSpec, len(part))
		for _, i := range part {
			ps := s.fentry.specs[n].Copy()
			ps.AttachTo = s.probes[i].Name
			specs[fmt.Sprint(i)] = ps
		}
		progs, err := s.loadFentrySpecs(specs)
		if err == nil {
			for _, i := range part {
				out[i] = progs[fmt.Sprint(i)]
			}
			return
		}
		if len(part) == 1 {
			fail(part[0], shortErr(err))
			return
		}
		load(part[:len(part)/2])
		load(part[len(part)/2:])
	}
	load(batch)
	return out
}

// loadFentrySpecs loads programs as one collection that shares the main
// collection's maps (.rodata included: the same configuration).
func (s *session) loadFentrySpecs(progs map[string]*ebpf.ProgramSpec) (map[string]*ebpf.Program, error) {
	f := s.fentry
	maps := make(map[string]*ebpf.MapSpec)
	repl := make(map[string]*ebpf.Map)
	for name, m := range s.coll.Maps {
		if ms := f.maps[name]; ms != nil {
			maps[name] = ms
			repl[name] = m
		}
	}
	spec := &ebpf.CollectionSpec{Maps: maps, Programs: progs, Types: f.types}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: s.cache, MapReplacements: repl})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*ebpf.Program, len(coll.Programs))
	for name, p := range coll.Programs {
		out[name] = p
		delete(coll.Programs, name)
	}
	coll.Close()
	f.mu.Lock()
	for _, p := range out {
		f.progs = append(f.progs, p)
	}
	f.mu.Unlock()
	return out, nil
}

// shortErr keeps the verifier's conclusion of a load error (the last log
// line before its statistics), not the whole log.
func shortErr(err error) error {
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		return err
	}
	for i := len(verr.Log) - 1; i >= 0; i-- {
		line := strings.TrimSpace(verr.Log[i])
		if line == "" || strings.HasPrefix(line, "processed ") || strings.HasPrefix(line, "verification time") ||
			strings.HasPrefix(line, "stack depth") {
			continue
		}
		return fmt.Errorf("verifier: %s", line)
	}
	return err
}

// close releases the programs (their links hold them while attached).
func (f *fentryState) close() {
	if f == nil {
		return
	}
	for _, p := range f.progs {
		p.Close()
	}
	f.progs = nil
}
