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
	"golang.org/x/sys/unix"

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
	p, err := e.newPair("lean")
	if err != nil {
		return err
	}
	rx, tx, err := p.udpPair(leanPort, 40010)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	unix.SetsockoptInt(tx.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := sysctl("kernel/bpf_stats_enabled", "1"); err != nil {
		return err
	}
	f := &flooder{fd: tx.fd, rx: rx.fd, buf: payload("lean", 0, benchPayload),
		dst: unix.SockaddrInet4{Addr: ip4(addrB), Port: leanPort}}
	go f.receive()
	defer f.stop.Store(true)
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
	for i, run := range runs {
		lr := benchres.LeanRun{Name: run.name, Tool: run.tool, Args: run.args, Bin: run.bin}
		var err error
		if run.tool == "pwru" {
			err = e.leanPwru(i, &lr, filter, phases)
		} else {
			err = e.leanRecorder(i, &lr, filter, phases)
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
	if err := untraced(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lean results: %w", err)
	}
	return os.WriteFile(filepath.Join(e.dir, benchres.LeanFile), b, 0o644)
}

type leanPhasesFunc func(objs *recorderObjects, between func()) (benchres.LeanPhases, error)

// leanRecorder is one pwru-record run of the lean scenario.
func (e *env) leanRecorder(i int, lr *benchres.LeanRun, filter string, phases leanPhasesFunc) error {
	name := fmt.Sprintf("run%d", i)
	lr.Output = name + ".pwru"
	recorder := e.recorder
	if lr.Bin != "" {
		e.recorder = lr.Bin
	}
	rec, err := e.startRecorder(name, append(append([]string{"--bpf-stats", "--ringbuf-size", benchRing}, lr.Args...), filter)...)
	e.recorder = recorder
	if err != nil {
		return err
	}
	lr.Ready = rec.run.Ready
	objs, err := openRecorderObjects(rec.cmd.Process.Pid)
	if err != nil {
		rec.kill()
		return err
	}
	lr.LeanPhases, err = phases(objs, nil)
	objs.close()
	if err != nil {
		rec.kill()
		return err
	}
	err = rec.stop(syscall.SIGINT)
	lr.Stderr = rec.run.Stderr
	return err
}

// leanPwru is one cilium/pwru run of the lean scenario: its text output
// goes to a file whose lines with the filtered tuple are counted after
// each phase (pwru writes each event as it reads it).
func (e *env) leanPwru(i int, lr *benchres.LeanRun, filter string, phases leanPhasesFunc) error {
	lr.Output = fmt.Sprintf("run%d.txt", i)
	out := filepath.Join(e.dir, lr.Output)
	logPath := filepath.Join(e.dir, fmt.Sprintf("run%d.stderr", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create pwru log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(benchres.LeanPwruPath, append(append([]string{"--output-file", out}, lr.Args...), filter)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pwru: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stderr := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	defer func() { lr.Stderr = stderr() }()
	kill := func() { cmd.Process.Kill(); <-done }
	for !strings.Contains(stderr(), "Listening for events") {
		select {
		case err := <-done:
			return fmt.Errorf("pwru exited before it was ready: %v: %s", err, lastLines(stderr(), 5))
		case <-time.After(readyTimeout - time.Since(start)):
			kill()
			return fmt.Errorf("pwru not ready after %v: %s", readyTimeout, lastLines(stderr(), 5))
		case <-e.ctx.Done():
			kill()
			return e.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	lr.Ready = time.Since(start)
	e.logf("pwru ready after %.2fs", lr.Ready.Seconds())
	objs, err := openProgs(cmd.Process.Pid)
	if err != nil {
		kill()
		return err
	}
	count := func() uint64 {
		b, _ := os.ReadFile(out)
		return uint64(bytes.Count(b, []byte(fmt.Sprintf(":%d(udp)", leanPort))))
	}
	lr.LeanPhases, err = phases(objs, func() { lr.LinesPaced = count() })
	objs.close()
	lr.LinesFlood = count() - lr.LinesPaced
	if err != nil {
		kill()
		return err
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("pwru: %w", err)
		}
	case <-time.After(6 * time.Minute):
		kill()
		return errors.New("pwru did not exit within 6m of SIGINT")
	}
	// Lines written after the flood's settle time (pwru still draining).
	if n := count(); n > lr.LinesPaced+lr.LinesFlood {
		e.logf("pwru: %d lines written after the flood's settle time", n-lr.LinesPaced-lr.LinesFlood)
	}
	return nil
}
