//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// readyTimeout bounds how long the recorder may take to attach.
const readyTimeout = 10 * time.Minute

// recording is a running recorder.
type recording struct {
	e      *env
	run    report.Run
	cmd    *exec.Cmd
	stderr bytes.Buffer
	start  time.Time
	done   chan struct{}
	err    error
}

// startRecorder starts pwru-record with args plus --ready-file and
// -o <dir>/<name>.pwru, and waits until the ready file appears. A
// recorder that exits before becoming ready is reported in the run and
// returned as an error.
func (e *env) startRecorder(name string, args ...string) (*recording, error) {
	return e.startRecorderAt(name, filepath.Join(e.dir, name+".pwru"), args...)
}

// startRecorderAt is startRecorder writing the capture to path; the run's
// capture is still named <name>.pwru in the scenario directory (the
// scenario copies it there).
func (e *env) startRecorderAt(name, path string, args ...string) (*recording, error) {
	capture := name + ".pwru"
	ready := filepath.Join("/tmp", e.rep.Name+"-"+name+".ready")
	os.Remove(ready)
	full := append([]string{"--ready-file", ready, "-o", path}, e.withBackend(name, args)...)
	r := &recording{e: e, run: report.Run{Name: name, Args: full, Capture: capture}, done: make(chan struct{})}
	r.cmd = exec.Command(e.recorder, full...)
	r.cmd.Stderr = &r.stderr
	r.cmd.Stdout = &r.stderr
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		r.run.Error = err.Error()
		e.rep.Runs = append(e.rep.Runs, r.run)
		return nil, fmt.Errorf("start recorder %s: %w", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	e.cleanup(func() { r.kill() })
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(readyTimeout)
	for {
		if _, err := os.Stat(ready); err == nil {
			r.run.Ready = time.Since(r.start)
			e.logf("recorder %s ready after %.2fs", name, r.run.Ready.Seconds())
			return r, nil
		}
		select {
		case <-r.done:
			r.finish()
			return nil, fmt.Errorf("recorder %s exited before it was ready: %s; stderr: %s", name, r.run.Signal+exitText(r.run.ExitCode), lastLines(r.run.Stderr, 5))
		case <-limit:
			r.cmd.Process.Kill()
			<-r.done
			r.finish()
			return nil, fmt.Errorf("recorder %s not ready after %v; stderr: %s", name, readyTimeout, lastLines(r.run.Stderr, 5))
		case <-e.ctx.Done():
			r.cmd.Process.Kill()
			<-r.done
			r.finish()
			return nil, fmt.Errorf("recorder %s: %w", name, e.ctx.Err())
		case <-tick.C:
		}
	}
}

// withBackend adds --backend e.backend (the -backend flag) to a recorder
// run's args (startRecorderAt, runRecorder), unless the flag is unset or the run keeps its own choice:
// it passes --backend itself, or an option the fentry backend refuses
// (tracer fentryRefuses: --filter-non-skb-funcs), which is logged.
func (e *env) withBackend(name string, args []string) []string {
	if e.backend == "" {
		return args
	}
	for _, a := range args {
		opt, _, _ := strings.Cut(a, "=")
		switch opt {
		case "--backend":
			e.logf("recorder %s: keeps its own --backend (-backend %s not applied)", name, e.backend)
			return args
		case "--filter-non-skb-funcs":
			e.logf("recorder %s: %s, which --backend fentry refuses: keeps the default backend (-backend %s not applied)", name, opt, e.backend)
			return args
		}
	}
	return append([]string{"--backend", e.backend}, args...)
}

func exitText(code int) string {
	if code < 0 {
		return ""
	}
	return fmt.Sprintf("exit status %d", code)
}

func lastLines(s string, n int) string {
	b := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.Join(b, []byte(" | ")))
}

// stop sends sig and waits (bounded) for the recorder to exit.
func (r *recording) stop(sig syscall.Signal) error {
	select {
	case <-r.done:
		r.finish()
		return fmt.Errorf("recorder %s exited before it was stopped: %s%s; stderr: %s", r.run.Name, r.run.Signal, exitText(r.run.ExitCode), lastLines(r.run.Stderr, 5))
	default:
	}
	r.run.PeakRSS = peakRSS(r.cmd.Process.Pid)
	// Where the memory is, mapping by mapping, for diagnosis (kept with
	// the capture; vmtest -keep copies it out).
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", r.cmd.Process.Pid)); err == nil {
		os.WriteFile(filepath.Join(r.e.dir, r.run.Name+".smaps"), b, 0o644)
	}
	t := time.Now()
	r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(6 * time.Minute):
		r.cmd.Process.Kill()
		<-r.done
		r.run.Error = fmt.Sprintf("did not exit within 6m of %v", sig)
	}
	r.run.Stop = time.Since(t)
	r.finish()
	r.e.logf("recorder %s stopped with %v in %.2fs: %s%s", r.run.Name, sig, r.run.Stop.Seconds(), r.run.Signal, exitText(r.run.ExitCode))
	if r.run.Error != "" {
		return fmt.Errorf("recorder %s %s", r.run.Name, r.run.Error)
	}
	return nil
}

// kill ends a recorder that is still running (cleanup path).
func (r *recording) kill() {
	select {
	case <-r.done:
	default:
		r.cmd.Process.Kill()
		<-r.done
		r.finish()
	}
}

// finish fills the run's exit fields and appends it to the report once.
func (r *recording) finish() {
	if r.run.Wall != 0 {
		return
	}
	r.run.Wall = time.Since(r.start)
	r.run.Stderr = r.stderr.String()
	r.run.ExitCode = r.cmd.ProcessState.ExitCode()
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.run.Signal = ws.Signal().String()
	}
	r.e.rep.Runs = append(r.e.rep.Runs, r.run)
}

// runRecorder runs the recorder to completion (for invocations expected to
// fail at once) with the given credentials (nil = root).
func (e *env) runRecorder(name string, cred *syscall.Credential, args ...string) report.Run {
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	args = e.withBackend(name, args)
	run := report.Run{Name: name, Args: args}
	cmd := exec.CommandContext(ctx, e.recorder, args...)
	var out bytes.Buffer
	cmd.Stderr = &out
	cmd.Stdout = &out
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	start := time.Now()
	err := cmd.Run()
	run.Wall = time.Since(start)
	run.Stderr = out.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		run.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			run.Signal = ws.Signal().String()
		}
	default:
		run.Error = err.Error()
		run.ExitCode = -1
	}
	e.logf("recorder %s: exit %d in %.2fs: %s", name, run.ExitCode, run.Wall.Seconds(), lastLines(run.Stderr, 2))
	e.rep.Runs = append(e.rep.Runs, run)
	return run
}

// peakRSS reads the VmHWM of process pid in bytes (0 if unreadable).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
