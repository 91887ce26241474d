//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/internal/tracingmulti"
	"github.com/pwru-record/pwru-record/vmtest/vmbench/benchres"
)

// Bench settings: every flood step lasts benchStep, then benchSettle for
// the receiver and the recorder to catch up. The unpaced step sends at most
// benchMaxPackets. The paced steps offer fractions of what the sender
// managed without a recorder.
const (
	benchPort       = 6002
	benchPayload    = 64
	benchStep       = 2 * time.Second
	benchSettle     = 700 * time.Millisecond
	benchMaxPackets = 200000
	benchRing       = "8M"
	benchCalibrate  = 3
)

// benchFractions are the paced steps' offered rates as fractions (1/n) of
// the unpaced rate without a recorder, lowest first; the last step is
// unpaced.
var benchFractions = []int{256, 64, 16}

// benchRun is one recording of the bench: a backend and the options
// beyond the defaults.
type benchRun struct {
	name    string // row name: the backend, then the options
	backend string
	args    []string
	bin     string // recorder binary ("" = the one under test)
}

// benchBaseline is where vmbench -baseline puts another recorder build
// (e.g. of the main branch): it runs first with the defaults, so that the
// same boot measures both.
const benchBaseline = "/bin/pwru-record-base"

// benchRuns are tried in order; a backend the kernel lacks is reported
// with the recorder's error. The kernel's best kprobe backend (kprobe-multi,
// else kprobe) runs with the defaults, with a payload on every event and
// with stacks; fentry too where the kernel has the tracing multi-link.
// Without it fentry takes one program per function, whose verification
// makes attaching every sk_buff function last tens of minutes under TCG:
// there fentry and the kprobe backend are measured on the net functions
// of the scenarios (netFuncs) instead, side by side.
func benchRuns() []benchRun {
	kp := "kprobe"
	if features.HaveBPFLinkKprobeMulti() == nil {
		kp = "kprobe-multi"
	}
	multi := false
	if kernel, err := btf.LoadKernelSpec(); err == nil {
		_, err := tracingmulti.Probe(kernel)
		multi = err == nil
	}
	var runs []benchRun
	if _, err := os.Stat(benchBaseline); err == nil {
		runs = append(runs, benchRun{kp + " (baseline build)", kp, nil, benchBaseline})
	}
	runs = append(runs, benchRun{kp, kp, nil, ""})
	backends := []string{kp}
	if multi {
		runs = append(runs, benchRun{"fentry", "fentry", nil, ""})
		backends = append(backends, "fentry")
	} else {
		net := []string{"--filter-func", netFuncs}
		runs = append(runs, benchRun{"fentry (net functions)", "fentry", net, ""}, benchRun{kp + " (net functions)", kp, net, ""})
	}
	for _, b := range backends {
		runs = append(runs,
			benchRun{b + " +payload every", b, []string{"--payload", "every"}, ""},
			benchRun{b + " +stack", b, []string{"--output-stack"}, ""})
	}
	return runs
}

// startFlooder sets up what the bench scenarios flood through: the
// namespace pair name, a UDP socket pair to port with a 4 MiB send buffer,
// bpf_stats on, and a flooder whose receiver runs; stop ends the receiver
// and closes the sockets.
func startFlooder(e *env, name string, port uint16) (f *flooder, stop func(), err error) {
	p, err := e.newPair(name)
	if err != nil {
		return nil, nil, err
	}
	rx, tx, err := p.udpPair(port, 40010)
	if err != nil {
		return nil, nil, err
	}
	unix.SetsockoptInt(tx.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := sysctl("kernel/bpf_stats_enabled", "1"); err != nil {
		tx.Close()
		rx.Close()
		return nil, nil, err
	}
	f = &flooder{fd: tx.fd, rx: rx.fd, buf: payload(name, 0, benchPayload),
		dst: unix.SockaddrInet4{Addr: ip4(addrB), Port: int(port)}}
	go f.receive()
	return f, func() {
		f.stop.Store(true)
		tx.Close()
		rx.Close()
	}, nil
}

// scenarioBench measures the recorder for `make vmbench`: a bounded UDP
// flood between two namespaces at stepped rates, without a recorder and
// then under each backend tracing every sk_buff function, with the
// kernel's ring buffer loss counter and bpf_stats read around each step.
func scenarioBench(e *env) error {
	f, stop, err := startFlooder(e, "bench", benchPort)
	if err != nil {
		return err
	}
	defer stop()
	filter := fmt.Sprintf("udp and dst port %d", benchPort)
	res := &benchres.Results{Kernel: e.rep.Kernel, RingbufSize: benchRing, Filter: filter,
		Payload: benchPayload, StepTime: benchStep}
	e.step("topology")

	// Without a recorder: the unpaced step first, to calibrate the rates,
	// benchCalibrate times; the fastest is kept (the host running qemu may
	// be busy with other work for a while).
	var top benchres.Step
	rate := 0.0
	for range benchCalibrate {
		st, err := f.run(0, nil)
		if err != nil {
			return err
		}
		r := float64(st.Sent) / st.Flood.Seconds()
		e.logf("untraced unpaced flood: %.0f packets/s", r)
		if r > rate {
			top, rate = st, r
		}
	}
	var rates []int
	for _, n := range benchFractions {
		rates = append(rates, max(int(rate)/n, 10))
	}
	for _, r := range rates {
		st, err := f.run(r, nil)
		if err != nil {
			return err
		}
		res.Baseline = append(res.Baseline, st)
	}
	res.Baseline = append(res.Baseline, top)
	rates = append(rates, 0)
	e.logf("untraced: %.0f packets/s unpaced; paced steps %v", rate, rates[:len(rates)-1])
	e.step("baseline")

	for i, run := range benchRuns() {
		name := run.name
		file := fmt.Sprintf("run%d", i)
		b := benchres.Backend{Name: name, Capture: file + ".pwru"}
		args := append([]string{"--backend", run.backend, "--bpf-stats", "--kmods", "veth",
			"--ringbuf-size", benchRing}, run.args...)
		recorder := e.recorder
		if run.bin != "" {
			e.recorder = run.bin
		}
		rec, err := e.startRecorder(file, append(args, filter)...)
		e.recorder = recorder
		if err != nil {
			b.Error = err.Error()
			b.Capture = ""
			res.Backends = append(res.Backends, b)
			e.logf("%s: %v", name, err)
			continue
		}
		b.Ready = rec.run.Ready
		e.step(name + " attach")
		objs, err := openRecorderObjects(rec.cmd.Process.Pid)
		if err != nil {
			b.StatsError = err.Error()
			e.logf("%s: %v", name, err)
		}
		for _, r := range rates {
			st, err := f.run(r, objs)
			if err != nil {
				objs.close()
				rec.kill()
				return err
			}
			b.Steps = append(b.Steps, st)
		}
		objs.close()
		e.step(name + " flood")
		if err := rec.stop(syscall.SIGINT); err != nil {
			b.Error = err.Error()
		}
		b.Stop = rec.run.Stop
		b.PeakRSS = rec.run.PeakRSS
		b.Stderr = rec.run.Stderr
		res.Backends = append(res.Backends, b)
		e.step(name + " stop")
	}
	return benchres.Write(filepath.Join(e.dir, benchres.FileName), res)
}

// flooder sends the bench datagrams and counts what arrives.
type flooder struct {
	fd, rx   int
	buf      []byte
	dst      unix.SockaddrInet4
	received atomic.Uint64
	stop     atomic.Bool
}

// receive counts datagrams until stop is set (the socket's receive
// timeout lets it notice).
func (f *flooder) receive() {
	buf := make([]byte, 2048)
	for !f.stop.Load() {
		if _, _, err := unix.Recvfrom(f.rx, buf, 0); err == nil {
			f.received.Add(1)
		} else if errors.Is(err, unix.EBADF) {
			return
		}
	}
}

// run floods for benchStep at rate packets/s (0 = unpaced, at most
// benchMaxPackets), waits benchSettle and reads the recorder's kernel
// counters around it (objs may be nil).
func (f *flooder) run(rate int, objs *recorderObjects) (benchres.Step, error) {
	return f.phase(rate, benchMaxPackets, benchStep, objs)
}

// phase sends at most limit datagrams for at most d at rate packets/s
// (0 = unpaced), waits benchSettle and reads the recorder's kernel
// counters around it (objs may be nil).
func (f *flooder) phase(rate int, limit uint64, d time.Duration, objs *recorderObjects) (benchres.Step, error) {
	st := benchres.Step{Offered: rate}
	var before counterSnapshot
	if objs != nil {
		before, st.Counted = objs.snapshot()
	}
	r0 := f.received.Load()
	st.Start = monotonic()
	t0 := time.Now()
	for st.Sent < limit {
		el := time.Since(t0)
		if el >= d {
			break
		}
		if rate > 0 && st.Sent >= uint64(el.Seconds()*float64(rate))+1 {
			time.Sleep(time.Millisecond)
			continue
		}
		err := unix.Sendto(f.fd, f.buf, 0, &f.dst)
		switch {
		case err == nil:
			st.Sent++
		case errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			return st, fmt.Errorf("bench flood: send: %w", err)
		}
	}
	st.Flood = time.Since(t0)
	time.Sleep(benchSettle)
	st.Received = f.received.Load() - r0
	st.End = monotonic()
	if st.Counted {
		after, ok := objs.snapshot()
		st.Counted = ok
		after.since(before, &st)
	}
	return st, nil
}

func monotonic() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// recorderObjects are the recorder's BPF programs and its per-CPU counters
// map (index 0: ring buffer reservations that failed), opened by ID from
// the file descriptors the recorder process holds.
type recorderObjects struct {
	progs    []*ebpf.Program
	counters *ebpf.Map // nil for another tool (no loss counter)
}

type counterSnapshot struct{ lost, runs, runtime, misses uint64 }

// since sets st's kernel counters to what they grew by from before to s.
func (s counterSnapshot) since(before counterSnapshot, st *benchres.Step) {
	st.Lost = s.lost - before.lost
	st.ProgRuns = s.runs - before.runs
	st.ProgRuntime = s.runtime - before.runtime
	st.Misses = s.misses - before.misses
}

func openRecorderObjects(pid int) (*recorderObjects, error) {
	o, err := openProgs(pid)
	if err == nil && o.counters == nil {
		o.close()
		return nil, fmt.Errorf("recorder pid %d: found %d BPF programs and no counters map", pid, len(o.progs))
	}
	return o, err
}

// openProgs opens the BPF programs process pid holds, and the counters
// map when it holds one.
func openProgs(pid int) (*recorderObjects, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list recorder fds: %w", err)
	}
	o := &recorderObjects{}
	progs, maps := map[uint64]bool{}, map[uint64]bool{}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			key, v, ok := strings.Cut(line, ":")
			if !ok || (key != "prog_id" && key != "map_id") {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch {
			case key == "prog_id" && !progs[id]:
				progs[id] = true
				p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
				if err != nil {
					o.close()
					return nil, fmt.Errorf("open recorder program %d: %w", id, err)
				}
				o.progs = append(o.progs, p)
			case key == "map_id" && !maps[id] && o.counters == nil:
				maps[id] = true
				m, err := ebpf.NewMapFromID(ebpf.MapID(id))
				if err != nil {
					continue
				}
				if info, err := m.Info(); err == nil && info.Name == "counters" && info.Type == ebpf.PerCPUArray {
					o.counters = m
				} else {
					m.Close()
				}
			}
		}
	}
	if len(o.progs) == 0 {
		o.close()
		return nil, fmt.Errorf("pid %d: holds no BPF programs", pid)
	}
	return o, nil
}

// snapshot reads the counters; ok is false when any read failed.
func (o *recorderObjects) snapshot() (s counterSnapshot, ok bool) {
	if o == nil {
		return s, false
	}
	if o.counters != nil {
		var per []uint64
		if err := o.counters.Lookup(uint32(0), &per); err != nil {
			return s, false
		}
		for _, v := range per {
			s.lost += v
		}
	}
	for _, p := range o.progs {
		st, err := p.Stats()
		if err != nil {
			return s, false
		}
		s.runs += st.RunCount
		s.runtime += uint64(st.Runtime.Nanoseconds())
		s.misses += st.RecursionMisses
	}
	return s, true
}

func (o *recorderObjects) close() {
	if o == nil {
		return
	}
	for _, p := range o.progs {
		p.Close()
	}
	if o.counters != nil {
		o.counters.Close()
	}
}
