package analyze

import (
	"github.com/pwru-record/pwru-record/format"
)

// The recorder takes drop reasons from the skb:kfree_skb tracepoint, which
// the kernel fires inside the dropping function (kfree_skb_reason on 6.1,
// sk_skb_reason_drop on 6.12), right after that function's own probe hit
// on the same CPU. pwru prints the reason on the function's line
// ("kfree_skb_reason(SKB_DROP_REASON_NETFILTER_DROP)"); so does every view
// of the analyzer: dropIter moves the tracepoint's reason onto the
// function's event of the same skb and CPU, and the tracepoint event
// disappears. A tracepoint hit without its function's event (the function
// was not probed, or the hit was lost) stays, named "skb:kfree_skb"
// ([Capture.ProbeName]). The capture itself is never changed: slice writes
// the events as recorded.

// dropLookahead bounds how far (events, ns) a dropping function's event
// waits for its tracepoint hit.
const (
	dropLookahead     = 64
	dropLookaheadTime = 1_000_000
)

// dropFuncNames are the functions that fire skb:kfree_skb.
var dropFuncNames = map[string]bool{
	"kfree_skb_reason":      true,
	"sk_skb_reason_drop":    true,
	"kfree_skb":             true,
	"kfree_skb_list_reason": true,
	"__kfree_skb_reason":    true,
}

// dropRoles returns, by probe id, which probes are dropping functions and
// which are the drop tracepoint; nil when the capture has no tracepoint
// (nothing to merge).
func dropRoles(c *Capture) (fn, tp []bool) {
	for id, p := range c.probes {
		if p == nil {
			continue
		}
		if p.Kind == format.ProbeTracepoint {
			if tp == nil {
				tp = make([]bool, len(c.probes))
			}
			tp[id] = true
		}
	}
	if tp == nil {
		return nil, nil
	}
	fn = make([]bool, len(c.probes))
	for id, p := range c.probes {
		if p != nil && p.Kind != format.ProbeTracepoint && p.Kind != format.ProbeFexit && dropFuncNames[p.Name] {
			fn[id] = true
		}
	}
	return fn, tp
}

// eventSource is what the scanner reads events from.
type eventSource interface {
	NextShared() *format.Event
	Err() error
	Skipped() int   // corrupt chunks skipped (SkipCorrupt)
	SkipErr() error // the first one's error
}

// dropIter is an [eventSource] that merges drop tracepoint hits into
// the dropping function's event. Events come out in the order they came
// in (minus the merged tracepoint hits); a dropping function's event and
// the events after it are held back until its tracepoint hit is found, or
// an event of the same CPU shows it will not come, or the lookahead
// bounds pass.
type dropIter struct {
	c      *Capture
	it     *format.EventIter
	fn, tp []bool
	q      []pendingEvent // held back events, in order
	head   int
	out    format.Event
	eof    bool
}

type pendingEvent struct {
	e       format.Event
	waiting bool // a dropping function's event still looking for its reason
	n       int  // events read since it was queued
}

func newDropIter(c *Capture, it *format.EventIter) eventSource {
	fn, tp := dropRoles(c)
	if tp == nil {
		return it
	}
	c.triggerAlias = 0
	return &dropIter{c: c, it: it, fn: fn, tp: tp}
}

func (d *dropIter) Err() error { return d.it.Err() }

// Skipped returns the corrupt chunks the underlying iterator skipped.
func (d *dropIter) Skipped() int { return d.it.Skipped() }

// SkipErr returns the first skipped chunk's error.
func (d *dropIter) SkipErr() error { return d.it.SkipErr() }

func (d *dropIter) isFn(e *format.Event) bool {
	return int(e.ProbeID) < len(d.fn) && d.fn[e.ProbeID] && e.Flags&format.FlagExit == 0
}

func (d *dropIter) isTP(e *format.Event) bool {
	return int(e.ProbeID) < len(d.tp) && d.tp[e.ProbeID]
}

// NextShared returns the next event; it is valid until the next call.
func (d *dropIter) NextShared() *format.Event {
	for {
		if d.head < len(d.q) && !d.q[d.head].waiting {
			d.out = d.q[d.head].e
			d.q[d.head] = pendingEvent{}
			d.head++
			if d.head == len(d.q) {
				d.q, d.head = d.q[:0], 0
			}
			return &d.out
		}
		if d.eof {
			if d.head < len(d.q) {
				// Unresolved at the end: shown as recorded.
				d.q[d.head].waiting = false
				continue
			}
			return nil
		}
		e := d.it.NextShared()
		if e == nil {
			d.eof = true
			continue
		}
		if d.head == len(d.q) && !d.isFn(e) {
			// Nothing held back: the fast path.
			return e
		}
		d.push(e)
	}
}

// push adds e to the queue, resolving the waiting events it decides.
func (d *dropIter) push(e *format.Event) {
	tp := d.isTP(e) && e.Flags&format.FlagDropReason != 0
	for i := len(d.q) - 1; i >= d.head; i-- {
		p := &d.q[i]
		if !p.waiting {
			continue
		}
		p.n++
		switch {
		case tp && p.e.SKB == e.SKB && p.e.CPU == e.CPU:
			p.waiting = false
			if d.c.isTrigger(e) {
				d.c.triggerAlias = p.e.Time // the trigger is shown on this event
			}
			if p.e.Flags&format.FlagDropReason == 0 {
				p.e.Flags |= format.FlagDropReason
				p.e.DropReason = e.DropReason
			}
			// Later waiting events are older than the matched one's
			// tracepoint hit: their own will not come after it.
			return
		case p.e.CPU == e.CPU, p.n > dropLookahead, e.Time > p.e.Time+dropLookaheadTime:
			p.waiting = false
		}
	}
	d.q = append(d.q, pendingEvent{e: *e, waiting: d.isFn(e)})
}
