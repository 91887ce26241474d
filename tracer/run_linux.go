package tracer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// ErrNoFunctions: no kernel function matched the selection.
var ErrNoFunctions = errors.New("no function matches")

// ErrNoneAttached: every probe failed to attach.
var ErrNoneAttached = errors.New("no probe could be attached")

// Result summarises a recording.
type Result struct {
	Stats
	Files         int    // capture files written (more than 1 with rotation)
	Backend       string // of the skb functions: kprobe, kprobe-multi, fentry, or fentry-multi (fentry on tracing multi-links)
	CopyTracking  string // --filter-track-skb: how clones inherit track ids (copyTracking.describe), "" = off
	Probes        int    // probes attached
	ProbesFailed  int
	FailedSamples []string      // a few "name: error" lines of failed probes
	Startup       Phases        // what startup spent, phase by phase
	Detach        time.Duration // detaching the probes at the end
	// With Config.BPFStats: what the kernel program cost.
	ProgRuns    uint64        // program runs (probe hits, before filtering)
	ProgRuntime time.Duration // total time spent in the programs
	// Memory when the capture was complete; Memory.Peak is the peak RSS
	// of the whole recording.
	Memory Memory
	// Planned is the number of probes the recording tried to attach;
	// Recording says that recording began (Config.Started was called).
	// A Result with Recording false describes a start that failed: the
	// output holds no usable capture.
	Planned   int
	Recording bool
	// LossCounters is empty when the kernel's loss counters were read;
	// otherwise why they could not be (after Config.Started dropped the
	// privileges on a kernel whose bpf() needs CAP_BPF for map lookups).
	LossCounters string
}

// session holds the state of one recording, stage by stage: what
// discovery found, the capture writer, the loaded objects and links.
type session struct {
	cfg   *Config
	log   io.Writer
	res   *Result
	clock *phaseClock
	cache *btf.Cache

	// discoverHost
	disc    *discovery
	ksyms   *procfs.Kallsyms
	hdr     format.Header
	ifs     []format.Interface
	nss     []format.Netns
	ifindex uint32            // --filter-ifname resolved (0 = any)
	backend string            // the kprobe backend of everything fentry does not attach
	addrs   map[string]uint64 // kallsyms name -> address (first), until the probes are planned
	// The flight recorder's drop trigger: reason values that fire (nil =
	// any), and those that are not drops.
	reasons    map[uint32]string
	notDropped map[uint32]bool

	// openCapture
	opened bool // the capture was started in out: Run returns a Result
	out    io.Writer
	prefix *bytes.Buffer // with rotation or the flight recorder: the first file up to the first event
	w      *format.Writer

	// snapshot, load, attach
	bpfSyms      map[uint64]bool      // BPF code symbolized by the snapshot
	kernel       *btf.Spec            // the --kernel-btf types (nil = the running kernel's)
	spec         *ebpf.CollectionSpec // after injection, for the per-target copies
	coll         *ebpf.Collection
	links        []link.Link
	probes       []format.Probe
	progOf       []string // per function probe: program suffix (skb_N, non_skb, bpf_helper)
	statsOn      io.Closer
	fentry       *fentryState   // --backend fentry: its programs; nil for the kprobe backends
	mapFuncs     []mapFunc      // --output-bpfmap functions
	mapProbes    []format.Probe // their probes, appended to probes when attached
	noCookie     bool           // no bpf_get_attach_cookie: kprobes find their cookie in probe_addrs
	copyTracking string         // how clones inherit track ids, for Result.CopyTracking

	// ready, drain
	nextFile func() (*format.Writer, error) // rotation
	fo       *flightOptions
	rd       *ringbuf.Reader
	losses   lossSource
	dr       *drainer
}

// Run records into out until ctx is done or a limit is reached. The
// capture is completed (trailer written, and fsync'ed when out is an
// *os.File) before the probes are detached. Once the capture is started
// the Result is never nil; with Result.Recording false the start failed
// and out holds no usable capture.
func Run(ctx context.Context, cfg *Config, out io.Writer) (*Result, error) {
	s := &session{cfg: cfg, res: &Result{}, clock: newPhaseClock(), cache: btf.NewCache()}
	return s.finish(s.run(ctx, out))
}

// run is the sequence of stages; the first error ends it.
func (s *session) run(ctx context.Context, out io.Writer) error {
	if err := s.preflight(); err != nil {
		return err
	}
	if err := s.discoverHost(); err != nil {
		return err
	}
	if err := s.openCapture(out); err != nil {
		return err
	}
	if err := s.snapshot(); err != nil {
		return err
	}
	if err := s.loadProgram(); err != nil {
		return err
	}
	if err := s.attachProbes(ctx); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	return s.drain(ctx)
}

// finish is the one way out of Run: it completes the capture of a
// recording that began (a start that failed leaves out without a trailer:
// no capture), detaches, and returns the Result (nil when the capture was
// never started in out).
func (s *session) finish(err error) (*Result, error) {
	res := s.res
	var cerr error
	if s.w != nil && res.Recording {
		cerr = s.completeCapture()
	}
	if s.rd != nil {
		s.rd.Close()
	}
	if s.statsOn != nil {
		s.statsOn.Close()
	}
	s.close()
	if !s.opened {
		return nil, err
	}
	if err != nil {
		if cerr != nil && s.dr == nil {
			// The ready file failed: the capture was completed, empty.
			err = errors.Join(err, fmt.Errorf("complete capture: %w", cerr))
		}
		return res, err
	}
	if cerr != nil {
		return res, fmt.Errorf("complete capture: %w", cerr)
	}
	return res, nil
}

// completeCapture writes the trailer of the last file, fsyncs a file
// written in one piece and fills in the Result's sizes.
func (s *session) completeCapture() error {
	res := s.res
	w, rotated, files := s.w, 0, 1
	var prevBytes int64
	if s.dr != nil {
		w = s.dr.dec.w // the last file's writer when rotating
		rotated, prevBytes, files = s.dr.files, s.dr.prevBytes, s.dr.files+1
	}
	err := w.Close()
	out := s.out
	if t, ok := out.(*teeWriter); ok {
		out = t.w
	}
	if f, ok := out.(*os.File); ok && err == nil && rotated == 0 {
		// Pipes and terminals cannot be synced (EINVAL): nothing to do.
		if serr := f.Sync(); serr != nil && !errors.Is(serr, syscall.EINVAL) {
			err = fmt.Errorf("sync capture: %w", serr)
		}
	}
	res.Stats.Bytes = prevBytes + w.Stats().Bytes
	res.Files = files
	if s.fo != nil && s.dr != nil {
		res.Files = s.dr.flight.files
		if s.dr.flight.capturing {
			res.Files++
		}
	}
	res.Memory = sampleMemory()
	return err
}
