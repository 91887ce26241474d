package tracer

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pwru-record/pwru-record/bpf"
)

// TestSharedMaps: a tracing program the tracer loads on its own, once per
// target (fentry/fexit on tc and XDP programs and on the skb copy
// functions, see session.loadTracing), must use
// the main collection's maps, else what it stores is invisible to the
// kprobe programs and the drain (cur_prog for --filter-track-bpf-helpers,
// track_skb, the ring buffer). Only the config (.rodata) is per copy.
func TestSharedMaps(t *testing.T) {
	spec, err := bpf.LoadPwru()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, ps := range spec.Programs {
		if ps.Type == ebpf.Tracing {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, want := range []string{"fentry_tc", "fexit_tc", "fentry_xdp", "fexit_xdp", "fexit_skb_clone"} {
		if !slices.Contains(names, want) {
			t.Errorf("no tracing program %s in the spec (tracing programs: %v)", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ps := spec.Programs[name]
			used := map[string]bool{}
			for _, ins := range ps.Instructions {
				if ins.IsLoadFromMap() && ins.Reference() != "" {
					used[ins.Reference()] = true
				}
			}
			var private []string
			for m := range used {
				if !strings.HasPrefix(m, ".") && !slices.Contains(sharedMaps, m) {
					private = append(private, m)
				}
			}
			sort.Strings(private)
			if len(private) > 0 {
				t.Errorf("%s uses maps that each loaded copy would get for itself: %v (add them to sharedMaps)", name, private)
			}
			if len(used) == 0 {
				t.Errorf("%s references no maps: the instruction scan found nothing", name)
			}
		})
	}
}

// TestCounterNames: every per-CPU counter of the kernel program (enum
// counter in bpf/pwru.c, the size of the counters map) has a name, else
// mapLosses reports them as counter_N.
func TestCounterNames(t *testing.T) {
	spec, err := bpf.LoadPwru()
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Maps["counters"]
	if m == nil {
		t.Fatal("no counters map in the spec")
	}
	if m.MaxEntries != uint32(bpf.PwruCounterNUM_COUNTERS) {
		t.Errorf("counters map has %d entries, enum counter %d", m.MaxEntries, bpf.PwruCounterNUM_COUNTERS)
	}
	seen := map[string]bool{}
	for c := range bpf.PwruCounterNUM_COUNTERS {
		n, ok := counterNames[c]
		if !ok {
			t.Errorf("counter %d has no name in counterNames", c)
		}
		if seen[n] {
			t.Errorf("counter name %q twice", n)
		}
		seen[n] = true
	}
}
