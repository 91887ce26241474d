//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf/features"

	"github.com/pwru-record/pwru-record/vmtest/vmbench/benchres"
)

// Lean scenario settings: the traffic of issue 12's comparison with
// cilium/pwru (1,000 paced datagrams, then a 3 s unpaced flood, filter
// "udp and port 9000").
const (
	leanPort    = 9000
	leanPaced   = 1000
	leanRate    = 500
	leanFlood   = 3 * time.Second
	leanMaxSent = 400000
)

// scenarioLean runs pwru-record with the defaults, with each part of its
// kernel program left out in turn (--debug-ablate), and cilium/pwru,
// each over the same paced datagrams and flood, reading bpf_stats and the
// ring buffer loss counter around each phase; the untraced traffic runs
// before and after them.
func scenarioLean(e *env) error {
	var cfg benchres.LeanConfig
	if b, err := os.ReadFile(benchres.LeanConfigPath); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("lean config: %w", err)
		}
	}
	f, stop, err := startFlooder(e, "lean", leanPort)
	if err != nil {
		return err
	}
	defer stop()
	backend := "kprobe"
	if features.HaveBPFLinkKprobeMulti() == nil {
		backend = "kprobe-multi"
	}
	filter := fmt.Sprintf("udp and port %d", leanPort)
	res := &benchres.LeanResults{Kernel: e.rep.Kernel, Filter: filter, Backend: backend,
		PacedPackets: leanPaced, PacedRate: leanRate, FloodTime: leanFlood}
	phases := func(objs *recorderObjects, between func()) (benchres.LeanPhases, error) {
		var ph benchres.LeanPhases
		var err error
		if ph.Paced, err = f.phase(leanRate, leanPaced, time.Minute, objs); err != nil {
			return ph, err
		}
		if between != nil {
			between()
		}
		ph.Flood, err = f.phase(0, leanMaxSent, leanFlood, objs)
		return ph, err
	}
	untraced := func() error {
		ph, err := phases(nil, nil)
		if err != nil {
			return err
		}
		res.Untraced = append(res.Untraced, ph)
		e.logf("untraced: flood %.0f packets/s", float64(ph.Flood.Sent)/ph.Flood.Flood.Seconds())
		return nil
	}
	if err := untraced(); err != nil {
		return err
	}
	e.step("untraced")

	type leanRun struct {
		name, tool string
		args       []string
		bin        string
	}
	backends := cfg.Backends
	if len(backends) == 0 {
		backends = []string{backend}
	}
	rec := func(b, name string, args ...string) leanRun {
		if len(backends) > 1 {
			name = b + ": " + name
		}
		return leanRun{name, "pwru-record", append([]string{"--backend", b, "--kmods", "veth"}, args...), ""}
	}
	pwru := leanRun{"cilium/pwru", "pwru", []string{"--backend", backend, "--kmods", "veth"}, ""}
	var runs []leanRun
	for _, b := range backends {
		if cfg.Baseline {
			r := rec(b, "pwru-record (baseline build)")
			r.bin = benchBaseline
			runs = append(runs, r)
		}
		runs = append(runs, rec(b, "pwru-record"))
	}
	if cfg.Pwru {
		runs = append(runs, pwru)
	}
	for _, b := range backends {
		for _, a := range cfg.Ablate {
			runs = append(runs, rec(b, "pwru-record -"+a, "--debug-ablate", a))
		}
	}
	if len(cfg.Ablate) > 0 || cfg.Pwru {
		// Again at the end: the drift of the boot.
		for _, b := range backends {
			runs = append(runs, rec(b, "pwru-record (again)"))
		}
		if cfg.Pwru {
			pwru.name += " (again)"
			runs = append(runs, pwru)
		}
	}
	if cfg.Concurrent {
		// The ablations run side by side instead, below.
		var seq []leanRun
		for _, r := range runs {
			if !strings.Contains(strings.Join(r.args, " "), "--debug-ablate") && !strings.Contains(r.name, "(again)") {
				seq = append(seq, r)
			}
		}
		runs = seq
	}
	for i, run := range runs {
		lr := benchres.LeanRun{Name: run.name, Tool: run.tool, Args: run.args, Bin: run.bin}
		t, err := e.leanStart(i, &lr, filter)
		if err == nil {
			lr.LeanPhases, err = phases(t.objs, t.between)
			err = errors.Join(err, t.stop())
		}
		if err != nil {
			lr.Error = err.Error()
			e.logf("%s: %v", run.name, err)
			if e.ctx.Err() != nil {
				return err
			}
		}
		res.Runs = append(res.Runs, lr)
		e.step(run.name)
	}
	if cfg.Concurrent {
		// Every tracer attached at once, the same packets through all of
		// them: each program's bpf_stats, in the same instants. The
		// defaults come first and last (the order of the programs on a
		// function shows as their difference).
		var group []leanRun
		for _, b := range backends {
			if cfg.Baseline {
				r := rec(b, "pwru-record (baseline build)")
				r.bin = benchBaseline
				group = append(group, r)
			}
			group = append(group, rec(b, "pwru-record"))
			for _, a := range cfg.Ablate {
				group = append(group, rec(b, "pwru-record -"+a, "--debug-ablate", a))
			}
		}
		if cfg.Pwru {
			group = append(group, pwru)
		}
		for _, b := range backends {
			group = append(group, rec(b, "pwru-record (again)"))
		}
		var ts []*leanTracer
		var lrs []*benchres.LeanRun
		var err error
		for i, run := range group {
			lr := &benchres.LeanRun{Name: run.name, Tool: run.tool, Args: run.args, Bin: run.bin}
			t, serr := e.leanStart(100+i, lr, filter)
			if serr != nil {
				lr.Error = serr.Error()
				res.Concurrent = append(res.Concurrent, *lr)
				continue
			}
			ts = append(ts, t)
			lrs = append(lrs, lr)
		}
		e.step("concurrent attach")
		var paced, flood []benchres.Step
		if paced, err = phaseAll(f, leanRate, leanPaced, time.Minute, ts); err == nil {
			for _, t := range ts {
				if t.between != nil {
					t.between()
				}
			}
			flood, err = phaseAll(f, 0, leanMaxSent, leanFlood, ts)
		}
		for i, t := range ts {
			serr := t.stop()
			lr := lrs[i]
			if err == nil {
				lr.Paced, lr.Flood = paced[i], flood[i]
			} else {
				lr.Error = err.Error()
			}
			if serr != nil && lr.Error == "" {
				lr.Error = serr.Error()
			}
			res.Concurrent = append(res.Concurrent, *lr)
		}
		e.step("concurrent")
	}
	if err := untraced(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lean results: %w", err)
	}
	return os.WriteFile(filepath.Join(e.dir, benchres.LeanFile), b, 0o644)
}

// leanTracer is a started tracer of the lean scenario: its programs, what
// to do between the phases, and how to stop it.
type leanTracer struct {
	objs    *recorderObjects
	between func()
	stop    func() error
}

// leanStart starts the tracer of lr (pwru-record or cilium/pwru) and waits
// until it is attached.
func (e *env) leanStart(i int, lr *benchres.LeanRun, filter string) (*leanTracer, error) {
	if lr.Tool == "pwru" {
		return e.leanPwru(i, lr, filter)
	}
	name := fmt.Sprintf("run%d", i)
	lr.Output = name + ".pwru"
	recorder := e.recorder
	if lr.Bin != "" {
		e.recorder = lr.Bin
	}
	rec, err := e.startRecorder(name, append(append([]string{"--bpf-stats", "--ringbuf-size", benchRing}, lr.Args...), filter)...)
	e.recorder = recorder
	if err != nil {
		return nil, err
	}
	lr.Ready = rec.run.Ready
	objs, err := openRecorderObjects(rec.cmd.Process.Pid)
	if err != nil {
		rec.kill()
		return nil, err
	}
	return &leanTracer{objs: objs, stop: func() error {
		objs.close()
		err := rec.stop(syscall.SIGINT)
		lr.Stderr = rec.run.Stderr
		return err
	}}, nil
}

// phaseAll is one phase with every tracer of ts attached: the kernel
// counters of each, read around the same traffic.
func phaseAll(f *flooder, rate int, limit uint64, d time.Duration, ts []*leanTracer) ([]benchres.Step, error) {
	before := make([]counterSnapshot, len(ts))
	ok := make([]bool, len(ts))
	for i, t := range ts {
		before[i], ok[i] = t.objs.snapshot()
	}
	st, err := f.phase(rate, limit, d, nil)
	if err != nil {
		return nil, err
	}
	out := make([]benchres.Step, len(ts))
	for i, t := range ts {
		after, aok := t.objs.snapshot()
		s := st
		s.Counted = ok[i] && aok && t.objs.counters != nil
		after.since(before[i], &s)
		out[i] = s
	}
	return out, nil
}

// leanPwru starts cilium/pwru for the lean scenario: its text output goes
// to a file whose lines with the filtered tuple are counted after each
// phase (pwru writes each event as it reads it).
func (e *env) leanPwru(i int, lr *benchres.LeanRun, filter string) (*leanTracer, error) {
	lr.Output = fmt.Sprintf("run%d.txt", i)
	out := filepath.Join(e.dir, lr.Output)
	logPath := filepath.Join(e.dir, fmt.Sprintf("run%d.stderr", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create pwru log: %w", err)
	}
	cmd := exec.Command(benchres.LeanPwruPath, append(append([]string{"--output-file", out}, lr.Args...), filter)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start pwru: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	stderr := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	kill := func() { cmd.Process.Kill(); <-done; lr.Stderr = stderr() }
	for !strings.Contains(stderr(), "Listening for events") {
		select {
		case err := <-done:
			lr.Stderr = stderr()
			return nil, fmt.Errorf("pwru exited before it was ready: %v: %s", err, lastLines(stderr(), 5))
		case <-time.After(readyTimeout - time.Since(start)):
			kill()
			return nil, fmt.Errorf("pwru not ready after %v: %s", readyTimeout, lastLines(stderr(), 5))
		case <-e.ctx.Done():
			kill()
			return nil, e.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	lr.Ready = time.Since(start)
	e.logf("pwru ready after %.2fs", lr.Ready.Seconds())
	objs, err := openProgs(cmd.Process.Pid)
	if err != nil {
		kill()
		return nil, err
	}
	count := func() uint64 {
		b, _ := os.ReadFile(out)
		return uint64(bytes.Count(b, []byte(fmt.Sprintf(":%d(udp)", leanPort))))
	}
	return &leanTracer{objs: objs, between: func() { lr.LinesPaced = count() }, stop: func() error {
		objs.close()
		lr.LinesFlood = count() - lr.LinesPaced
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			lr.Stderr = stderr()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				return fmt.Errorf("pwru: %w", err)
			}
		case <-time.After(6 * time.Minute):
			kill()
			return errors.New("pwru did not exit within 6m of SIGINT")
		}
		return nil
	}}, nil
}
