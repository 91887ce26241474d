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

// lostData is one section whose data could not be read.
type lostData struct {
	err  error  // the first error, located in its section when known
	what string // "payload", "stack" or "blob"
	n    int    // failed lookups
}

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

// Problems returns the errors met so far loading the capture's kallsyms
// and BTF (the commands go on without them: addresses stay hex, drop
// reasons numbers).
func (c *Capture) Problems() []error {
	var errs []error
	if c.symsErr != nil {
		errs = append(errs, fmt.Errorf("read kallsyms: %w", c.symsErr))
	}
	if c.specErr != nil {
		errs = append(errs, fmt.Errorf("read btf: %w", c.specErr))
	}
	for _, k := range c.lostOrder {
		l := c.lost[k]
		plural := "s"
		if l.n == 1 {
			plural = ""
		}
		if l.what == "events chunk" {
			errs = append(errs, fmt.Errorf("%w (%d events chunk%s skipped; the answer lacks them)", l.err, l.n, plural))
			continue
		}
		errs = append(errs, fmt.Errorf("%w (%d %s lookup%s failed; the answer lacks them)", l.err, l.n, l.what, plural))
	}
	return errs
}

// Incomplete reports whether an answer was computed without data the
// capture should have had: a payload, stack, blob, kallsyms or BTF
// section that is corrupt or cut short. [Capture.Problems] says which.
// The commands then exit non-zero unless the user asked to skip corrupt
// sections.
func (c *Capture) Incomplete() bool {
	if len(c.lostOrder) > 0 {
		return true
	}
	var se *format.SectionError
	return errors.As(c.symsErr, &se) || errors.As(c.specErr, &se)
}

// noteLost records a failed lookup of what (payload, stack, blob): once
// per section, with a count.
func (c *Capture) noteLost(what string, err error) {
	key := err.Error()
	var se *format.SectionError
	if errors.As(err, &se) {
		err = se // "packets section at offset N: cause", without "read packet 7: "
		key = fmt.Sprintf("%s@%d", se.Type, se.Offset)
	}
	if c.lost == nil {
		c.lost = map[string]*lostData{}
	}
	l := c.lost[key]
	if l == nil {
		if len(c.lostOrder) >= 64 {
			key = "more"
			if l = c.lost[key]; l == nil {
				l = &lostData{err: errors.New("more sections could not be read"), what: what}
				c.lost[key] = l
				c.lostOrder = append(c.lostOrder, key)
			}
		} else {
			l = &lostData{err: err, what: what}
			c.lost[key] = l
			c.lostOrder = append(c.lostOrder, key)
		}
	}
	l.n++
}

// noteSkippedChunks records the events chunks an iteration skipped
// (SkipCorrupt); passes over the same capture skip the same chunks, so
// the largest count is kept.
func (c *Capture) noteSkippedChunks(it eventSource) {
	n := it.Skipped()
	if n == 0 {
		return
	}
	c.noteLost("events chunk", it.SkipErr())
	for _, k := range c.lostOrder {
		if l := c.lost[k]; l.what == "events chunk" {
			l.n = max(l.n-1, n) // noteLost counted one
		}
	}
}

// packet returns payload id, or nil when it cannot be read (the failure
// is recorded: [Capture.Incomplete]).
func (c *Capture) packet(id uint32) *format.Packet {
	pk, err := c.File.Packet(id)
	if err != nil {
		c.noteLost("payload", err)
		return nil
	}
	return pk
}

// stack returns the addresses of stack id, or nil when they cannot be
// read (recorded).
func (c *Capture) stack(id uint32) []uint64 {
	ips, err := c.File.Stack(id)
	if err != nil {
		c.noteLost("stack", err)
		return nil
	}
	return ips
}

// blob returns blob id; a failure is recorded and returned.
func (c *Capture) blob(id uint32) (int, []byte, error) {
	kind, data, err := c.File.Blob(id)
	if err != nil {
		c.noteLost("blob", err)
	}
	return kind, data, err
}

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

// DropReason returns the name of an enum skb_drop_reason value without
// its SKB_DROP_REASON_ prefix ("NO_SOCKET"), and false when the capture's
// BTF has no name for it.
func (c *Capture) DropReason(v uint32) (string, bool) {
	if v == NoReason && c.noReasons {
		return NoReasonText, true
	}
	c.loadReasons()
	n, ok := c.reasons[v]
	return n, ok
}

// NoReason is the drop reason of a drop recorded on a kernel that reports
// none (format.LackDropReason); [Capture.DropReason] names it NoReasonText.
const NoReason = ^uint32(0)

// NoReasonText names NoReason: "dropped (this kernel reports no reason)".
const NoReasonText = "this kernel reports no reason"

// reasonlessDrop tells whether e is an event of the drop tracepoint
// (skb:kfree_skb) on a kernel that reports no drop reasons: where newer
// kernels give the reason.
func (c *Capture) reasonlessDrop(e *format.Event) bool {
	if !c.noReasons || e.Flags&format.FlagDropReason != 0 {
		return false
	}
	p := c.Probe(e.ProbeID)
	return p != nil && p.Kind == format.ProbeTracepoint && classifyName(p.Name) == classDrop
}

// DropReasonFull returns the kernel's name of an enum skb_drop_reason
// value ("SKB_DROP_REASON_NO_SOCKET", "SKB_CONSUMED"), as pwru prints it,
// and false when the capture's BTF has no name for it.
func (c *Capture) DropReasonFull(v uint32) (string, bool) {
	c.loadReasons()
	n, ok := c.full[v]
	return n, ok
}

func (c *Capture) loadReasons() {
	if !c.reasonsOK {
		c.reasonsOK = true
		c.reasons, c.full = dropReasons(c.BTF())
	}
}

// DropReasonValue looks a drop reason up by name: "NO_SOCKET",
// "no_socket" and "SKB_DROP_REASON_NO_SOCKET" are the same; a number is
// accepted too.
func (c *Capture) DropReasonValue(name string) (uint32, bool) {
	if v, err := strconv.ParseUint(name, 0, 32); err == nil {
		return uint32(v), true
	}
	c.DropReason(0)
	want := normReason(name)
	for v, n := range c.reasons {
		if normReason(n) == want {
			return v, true
		}
	}
	return 0, false
}

func normReason(s string) string {
	s = strings.ToUpper(s)
	s = strings.TrimPrefix(s, "SKB_DROP_REASON_")
	return strings.TrimPrefix(s, "SKB_")
}

// dropReasons reads enum skb_drop_reason from spec: the names without
// their SKB_DROP_REASON_ prefix, and as they are.
func dropReasons(spec *btf.Spec) (short, full map[uint32]string) {
	short, full = map[uint32]string{}, map[uint32]string{}
	if spec == nil {
		return short, full
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return short, full
	}
	for _, v := range e.Values {
		short[uint32(v.Value)] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		full[uint32(v.Value)] = v.Name
	}
	return short, full
}

// StructType finds a struct by name in the capture's BTF (vmlinux first,
// then modules).
func (c *Capture) StructType(name string) btf.Type {
	spec := c.BTF()
	if spec == nil {
		return nil
	}
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err == nil {
		return s
	}
	return nil
}

// isTrigger says whether e is the event that fired the flight recorder
// capture, or the dropping function's event it was merged into.
func (c *Capture) isTrigger(e *format.Event) bool {
	t := c.trigger
	return t != nil && e.SKB == t.SKB && (e.Time == t.Time || (c.triggerAlias != 0 && e.Time == c.triggerAlias))
}
