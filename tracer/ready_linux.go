package tracer

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/bpf"
)

// ready prepares the drain (rotation or the flight recorder, the ring
// buffer, the loss counters), then calls Config.Started: from there on
// the recording has begun. The ready file follows.
func (s *session) ready() error {
	cfg, res, log := s.cfg, s.res, s.log
	if s.prefix != nil {
		s.out.(*teeWriter).tee = nil
		var err error
		if s.flight() {
			s.fo, err = s.flightOptions(cfg, s.prefix.Bytes(), s.hdr, s.reasons, s.notDropped)
		} else {
			s.nextFile, err = rotator(s.prefix.Bytes(), &s.hdr, cfg.Rotate)
		}
		if err != nil {
			return err
		}
		s.prefix = nil
	}
	// What startup needed (kernel BTF decoded, kallsyms, the injected
	// spec) is not needed while recording: let it go.
	s.cache, s.spec, s.kernel = nil, nil, nil
	s.disc = nil
	debug.FreeOSMemory()

	rd, err := ringbuf.NewReader(s.coll.Maps[bpf.PwruMapEvents])
	if err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	s.rd = rd
	s.losses = &mapLosses{m: s.coll.Maps[bpf.PwruMapCounters], progs: s.allPrograms()}
	if cfg.Started != nil {
		if err := cfg.Started(); err != nil {
			return err
		}
		// Without privileges a kernel may refuse bpf() map lookups
		// (kernel.unprivileged_bpf_disabled before the checks moved to
		// program load): record without loss counters, and say so.
		if _, _, err := s.losses.Losses(false); err != nil {
			res.LossCounters = err.Error()
			s.losses = unreadableLosses{}
			fmt.Fprintf(log, "warning: loss counters unreadable now (%v): the capture counts them as loss_counters_unreadable\n", err)
		}
	}
	res.Recording = true
	if cfg.ReadyFile != "" {
		// On failure the capture is in place: it is completed, empty.
		if err := writeReadyFile(cfg.ReadyFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "attached %d probes (%s), %d failed; recording\n", res.Probes, res.Backend, res.ProbesFailed)
	s.clock.mark("ring buffer")
	res.Startup = s.clock.phases
	return nil
}

// close detaches everything, saying so when it takes a while.
// Closing again does nothing.
func (s *session) close() {
	t0 := time.Now()
	if len(s.links) > 100 {
		fmt.Fprintf(s.log, "capture complete; detaching %d probes (this takes a while with one link per function: single kprobes or fentry)\n", len(s.links))
	}
	// Closing a kprobe or fentry link waits for the kernel (RCU grace periods,
	// ftrace updates); a few at a time overlap those waits.
	var wg sync.WaitGroup
	work := make(chan link.Link)
	for range min(8, len(s.links)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				l.Close()
			}
		}()
	}
	for _, l := range s.links {
		work <- l
	}
	close(work)
	wg.Wait()
	s.fentry.close()
	if s.coll != nil {
		s.coll.Close()
	}
	s.res.Detach = time.Since(t0)
	s.links, s.coll = nil, nil
}

// writeReadyFile announces that every probe is attached: a new file,
// mode 0600 whatever the umask, never through a symlink.
func writeReadyFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write ready file: %w", err)
	}
	if _, err := f.WriteString("ready\n"); err != nil {
		f.Close()
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}
