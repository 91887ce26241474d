package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// Capture is an opened capture plus the lookup tables the analyzer builds
// from it once: probes by id, interface and netns names, drop reason names,
// lazily loaded kallsyms and BTF. It is not safe for concurrent use.
type Capture struct {
	// Path is the name the capture was opened as (for messages).
	Path string
	// File is the underlying reader.
	File *format.File

	probes  []*format.Probe // by ID
	ifaces  map[ifKey]*format.Interface
	netns   map[uint32]string
	reasons map[uint32]string // enum skb_drop_reason, prefix stripped
	full    map[uint32]string // enum skb_drop_reason, as the kernel names them
	order   binary.ByteOrder

	syms      *format.Symbols
	symsErr   error
	symsDone  bool
	spec      *btf.Spec
	specErr   error
	specDone  bool
	reasonsOK bool
	noReasons bool // the kernel reported no drop reasons (format.LackDropReason)

	// lost counts, per section, the lookups of data the capture should
	// hold (payloads, stacks, blobs) that failed: the answer was
	// computed without them ([Capture.Incomplete]).
	lost      map[string]*lostData
	lostOrder []string
	// unusable counts recorded data that could not be used (a short
	// blob, a BTF type that does not resolve), by message.
	unusable      map[string]*lostData
	unusableOrder []string

	// spareTracker is the skb tracker of the last finished pass, whose
	// memory the next pass reuses.
	spareTracker *tracker

	// trigger is the event that fired a flight recorder capture (nil:
	// none named); triggerAlias the time of the dropping function's
	// event the trigger (a drop tracepoint hit) was merged into by the
	// current pass (dropmerge.go), 0 when it was not.
	trigger      *FlightTriggerEvent
	triggerAlias uint64
}

type ifKey struct{ netns, ifindex uint32 }

// Open opens the capture at path. Errors name the path:
// "open x.pwru: not a capture file".
func Open(path string) (*Capture, error) {
	return OpenWith(path, nil)
}

// OpenWith is [Open] with reader options (e.g. skipping corrupt sections).
func OpenWith(path string, opts *format.ReaderOptions) (*Capture, error) {
	f, err := format.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, openCause(err))
	}
	c := NewCapture(f)
	c.Path = path
	return c, nil
}

// openCause drops the path an *fs.PathError repeats.
func openCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// NewCapture wraps an already opened file.
func NewCapture(f *format.File) *Capture {
	c := &Capture{
		File:   f,
		ifaces: map[ifKey]*format.Interface{},
		netns:  map[uint32]string{},
		order:  binary.LittleEndian,
	}
	for _, p := range f.Probes() {
		p := p
		if int(p.ID) >= len(c.probes) {
			if p.ID > 1<<20 {
				continue
			}
			n := make([]*format.Probe, p.ID+1)
			copy(n, c.probes)
			c.probes = n
		}
		c.probes[p.ID] = &p
	}
	ifs := f.Interfaces()
	for i := range ifs {
		c.ifaces[ifKey{ifs[i].Netns, ifs[i].Ifindex}] = &ifs[i]
	}
	for _, n := range f.Netns() {
		c.netns[n.Inode] = n.Name
	}
	if h := f.Header(); h != nil {
		c.noReasons = h.Lacks(format.LackDropReason)
		if t, ok := FlightTriggerOf(h); ok {
			c.trigger = &t
		}
		switch h.Uname.Machine {
		case "s390x", "ppc64", "mips", "mips64", "sparc64":
			c.order = binary.BigEndian
		}
	}
	return c
}

// Close closes the underlying file.
func (c *Capture) Close() error {
	c.spareTracker = nil
	return c.File.Close()
}

// Probe returns the probe with the given id, or nil.
func (c *Capture) Probe(id uint32) *format.Probe {
	if int(id) < len(c.probes) {
		return c.probes[id]
	}
	return nil
}

// ProbeName returns the probe's function or program name, or "probe#N"
// when the capture does not describe it. A tracepoint is named with its
// category ("skb:kfree_skb"), so that it is never taken for the kernel
// function of the same name.
func (c *Capture) ProbeName(id uint32) string {
	if p := c.Probe(id); p != nil {
		if p.Kind == format.ProbeTracepoint && !strings.Contains(p.Name, ":") {
			return "skb:" + p.Name
		}
		return p.Name
	}
	return "probe#" + strconv.FormatUint(uint64(id), 10)
}

// Interface returns the interface (netns, ifindex), or nil.
func (c *Capture) Interface(netns, ifindex uint32) *format.Interface {
	return c.ifaces[ifKey{netns, ifindex}]
}

// IfName returns the interface name or "" when unknown.
func (c *Capture) IfName(netns, ifindex uint32) string {
	if i := c.ifaces[ifKey{netns, ifindex}]; i != nil {
		return i.Name
	}
	return ""
}

// NetnsName returns the recorded name of a network namespace ("" if none).
func (c *Capture) NetnsName(inode uint32) string { return c.netns[inode] }

// ByteOrder is the recording host's byte order (from uname machine).
func (c *Capture) ByteOrder() binary.ByteOrder { return c.order }

// Symbols returns the capture's kallsyms (loaded on first use). A capture
// without kallsyms yields nil and no error.
func (c *Capture) Symbols() *format.Symbols {
	if !c.symsDone {
		c.symsDone = true
		c.syms, c.symsErr = c.File.Symbols()
	}
	if c.symsErr != nil {
		return nil
	}
	return c.syms
}

// Sym formats a kernel address with the capture's kallsyms:
// "symbol+0x1c [module]", or the hex address when it cannot be resolved.
func (c *Capture) Sym(addr uint64) string {
	if s := c.Symbols(); s != nil {
		return s.Format(addr)
	}
	return "0x" + strconv.FormatUint(addr, 16)
}

// BTF returns the capture's vmlinux BTF (loaded on first use), or nil.
func (c *Capture) BTF() *btf.Spec {
	if !c.specDone {
		c.specDone = true
		c.spec, c.specErr = c.File.BTF()
	}
	if c.specErr != nil {
		return nil
	}
	return c.spec
}

// StructType finds a struct by name in the capture's BTF (vmlinux first,
// then modules).
func (c *Capture) StructType(name string) btf.Type {
	spec := c.BTF()
	if spec == nil {
		return nil
	}
	var s *btf.Struct
	err := spec.TypeByName(name, &s)
	if err == nil {
		return s
	}
	if !errors.Is(err, btf.ErrNotFound) {
		c.noteUnusable(fmt.Errorf("find struct %s in btf: %w", name, err))
	}
	return nil
}

// isTrigger says whether e is the event that fired the flight recorder
// capture, or the dropping function's event it was merged into.
func (c *Capture) isTrigger(e *format.Event) bool {
	t := c.trigger
	return t != nil && e.SKB == t.SKB && (e.Time == t.Time || (c.triggerAlias != 0 && e.Time == c.triggerAlias))
}
