package tracer

import (
	"context"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// drain decodes the ring buffer into the capture until ctx is done or a
// limit is reached.
func (s *session) drain(ctx context.Context) error {
	cfg, res := s.cfg, s.res
	freeing := make(map[uint32]bool)
	for _, p := range s.probes {
		if p.Name == "kfree_skbmem" && p.Error == "" {
			freeing[p.ID] = true
		}
	}
	s.dr = &drainer{
		ring:   s.rd,
		dec:    newDecoder(s.w, freeing),
		losses: s.losses,
		opts: drainOptions{
			MaxEvents:    cfg.MaxEvents,
			MaxSize:      cfg.MaxSize,
			Duration:     cfg.Duration,
			ProbesFailed: uint32(res.ProbesFailed),
			Status:       statusEvents(cfg.Progress, res.Probes),
			RotateSize:   cfg.RotateSize,
			NextFile:     s.nextFile,
			Flight:       s.fo,
		},
	}
	st, err := s.dr.run(ctx)
	res.Stats = st
	if s.statsOn != nil {
		for _, p := range s.allPrograms() {
			if ps, err := p.Stats(); err == nil {
				res.ProgRuns += ps.RunCount
				res.ProgRuntime += ps.Runtime
			}
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(ProgressEvent{Kind: ProgressEnd})
	}
	return err
}

// statusEvents returns the drain's status callback: a ProgressStatus
// event per tick for progress (nil: no callback).
func statusEvents(progress func(ProgressEvent), probes int) func(Stats) {
	if progress == nil {
		return nil
	}
	return func(st Stats) {
		progress(ProgressEvent{Kind: ProgressStatus, Stats: st, Probes: probes, At: time.Now()})
	}
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
