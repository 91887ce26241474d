package analyze

import (
	"slices"

	"github.com/pwru-record/pwru-record/format"
)

// tracker splits the event stream into skb lifetimes and reports each
// lifetime once when it ends. Memory is bounded by the skbs alive within
// the window, not by the length of the capture.
type tracker struct {
	cap     *Capture
	live    lifeTable
	nextID  uint64
	window  uint64
	lastGC  uint64
	gcEvery uint64 // window/4: sweep when an event is that much after lastGC
	gcDue   uint64 // lastGC + gcEvery
	// due is a time from which an event must run housekeep: at most
	// the time of the next sweep or fated expiry, 0 when a lifetime is
	// pending or the live table grew past gcLimit. Most events compare
	// their time with it and nothing else.
	due     uint64
	gcLimit int // sweep when the live table grows past this
	// period is the length of a generation (window/4): gens[ep%len]
	// lists the lifetimes whose last event fell in generation ep, so a
	// sweep visits the old generations only, not every live skb.
	period uint64
	gens   [numGens]generation
	spare  [][]genRef // lists of emptied generations, for new ones
	// curGen is 1 + the generation of [genStart, genEnd), the times of
	// the latest events (0: none yet).
	curGen           uint64
	genStart, genEnd uint64
	expired          []*life // scratch of gc
	maxLive          int     // largest number of live skbs seen (tests, stats)
	// classes holds, by probe id, the probeClass of the function, with
	// finalBit set when the function frees the sk_buff itself.
	classes []probeClass
	onEnd   func(*life)
	// free holds the ended lifetimes for reuse, slab the lifetimes not
	// handed out yet: lifetimes are allocated in blocks, so a pass
	// allocates a few blocks rather than one object per live skb.
	free []*life
	slab []life
	// fated queues the lifetimes whose fate is known, oldest first; they
	// end freedLinger after their last event. fatedHead indexes the front.
	fated     []fatedRef
	fatedHead int
	// fatedFront is the lifetime of the front of fated and fatedDue the
	// first time at which it may expire, or 0 when the front must be
	// looked at (it ended): the check of every event reads no lifetime.
	fatedFront *life
	fatedDue   uint64
	// pending is a lifetime whose last event (kfree_skbmem: the sk_buff
	// went back to the slab) was the previous one; it ends before the next
	// event is observed.
	pending *life
	// recent is a direct-mapped cache in front of live: most events belong
	// to one of the few skbs in flight.
	recent [64]*life
}

func recentSlot(addr uint64) int { return int((addr * 0x9e3779b97f4a7c15) >> 58) }

// finalBit marks, in tracker.classes, a function that frees the sk_buff
// itself (kfree_skbmem, or napi_skb_cache_put into the per-CPU cache).
const finalBit probeClass = 0x80

// newTracker returns a tracker for a pass over c. It reuses the memory
// of the tracker of c's previous pass, if that pass ended (release).
func newTracker(c *Capture, window uint64, onEnd func(*life)) *tracker {
	if window == 0 {
		window = DefaultWindow
	}
	old := c.spareTracker
	c.spareTracker = nil
	if old == nil {
		old = &tracker{}
	}
	spare := old.spare
	for i := range old.gens {
		if refs := old.gens[i].refs; cap(refs) > 0 {
			spare = append(spare, refs[:0])
		}
	}
	t := old
	*t = tracker{
		cap: c, window: window, onEnd: onEnd, gcLimit: minGCLive, period: max(window/4, 1), gcEvery: window / 4, gcDue: window / 4,
		live: old.live, free: old.free, slab: old.slab, spare: spare,
		fated: old.fated[:0], expired: old.expired[:0], classes: old.classes[:0],
	}
	t.classes = slices.Grow(t.classes, len(c.probes))[:len(c.probes)]
	for i, p := range c.probes {
		t.classes[i] = classNone
		if p != nil {
			t.classes[i] = classifyName(p.Name)
			if p.Name == "kfree_skbmem" || p.Name == "napi_skb_cache_put" {
				t.classes[i] |= finalBit
			}
		}
	}
	return t
}

// release hands the memory of t, whose pass ended (flush), to its
// capture's next pass. Every lifetime ended, so none is referenced.
func (t *tracker) release() {
	for i := range t.gens {
		clear(t.gens[i].refs)
	}
	for i := range t.spare {
		clear(t.spare[i][:cap(t.spare[i])])
	}
	clear(t.fated)
	clear(t.expired[:cap(t.expired)])
	t.recent = [64]*life{}
	t.pending = nil
	t.fatedFront = nil
	t.onEnd = nil
	t.cap.spareTracker = t
}

// class returns the class of probe and whether it frees the sk_buff
// itself.
func (t *tracker) class(probe uint32) (probeClass, bool) {
	if int(probe) < len(t.classes) {
		c := t.classes[probe]
		return c &^ finalBit, c&finalBit != 0
	}
	return classNone, false
}

// observe assigns e to a lifetime (nil for events without an skb) and
// updates its fate.
func (t *tracker) observe(e *format.Event) *life {
	if e.Time >= t.due {
		t.housekeep(e.Time)
	}
	if e.SKB == 0 {
		return nil
	}
	cl, final := t.class(e.ProbeID)
	slot := recentSlot(e.SKB)
	l := t.recent[slot]
	if l == nil || l.addr != e.SKB || l.dead {
		l = t.live.get(e.SKB)
	}
	if l != nil && (e.Time > l.last+t.window || (l.fate != FateUnknown && cl == classNone)) {
		t.end(l)
		l = nil
	}
	if l == nil {
		l = t.alloc()
		t.nextID++
		l.id = t.nextID
		l.addr = e.SKB
		l.first = e.Time
		t.live.put(e.SKB, l)
		if t.live.len() > t.maxLive {
			t.maxLive = t.live.len()
		}
		if t.live.len() > t.gcLimit {
			t.due = 0
		}
	}
	if t.recent[slot] != l {
		// Written only when it changes: a pointer write costs a write
		// barrier while the GC marks.
		t.recent[slot] = l
	}
	if e.TrackID != 0 && l.track == 0 {
		l.track = e.TrackID
	}
	l.last = e.Time
	if e.Time >= t.genEnd || e.Time < t.genStart {
		ep := e.Time / t.period
		t.genStart, t.genEnd = ep*t.period, (ep+1)*t.period
		t.curGen = ep + 1
	}
	if l.gen != t.curGen {
		t.enlist(l, t.curGen-1)
	}
	l.events++
	if cl > classRelease || e.Flags&format.FlagDropReason != 0 {
		t.fateEvent(l, cl, e)
	}
	if final {
		t.pending = l
		t.due = 0
	}
	return l
}

// fateEvent updates l's fate after e, of class cl: the events of other
// classes than classNone and classRelease, and those with a drop reason.
func (t *tracker) fateEvent(l *life, cl probeClass, e *format.Event) {
	switch {
	case e.Flags&format.FlagDropReason != 0 && (cl == classDrop || cl == classNone || cl == classRelease || cl == classConsume):
		name, _ := t.cap.DropReason(e.DropReason)
		if name == "SKB_CONSUMED" || name == "CONSUMED" || e.DropReason == 0 && name == "" && cl == classConsume {
			t.setFate(l, FateDelivered, e)
		} else {
			t.setFate(l, FateDropped, e)
			l.reason, l.hasRsn = e.DropReason, true
		}
	case cl == classDrop:
		t.setFate(l, FateDropped, e)
		if t.cap.noReasons && l.fate == FateDropped {
			// The kernel reports no reason: say so, not nothing.
			l.reason, l.hasRsn = NoReason, true
		}
	case cl == classConsume:
		t.setFate(l, FateDelivered, e)
	case cl == classFreed:
		t.setFate(l, FateFreed, e)
	case cl == classQueue:
		l.queued = true
	}
}

// housekeep ends the pending lifetime, the fated lifetimes that lingered
// long enough and, when a sweep is due, the silent ones, before the event
// at now is observed; then it sets due.
func (t *tracker) housekeep(now uint64) {
	if t.pending != nil {
		if !t.pending.dead {
			t.end(t.pending)
		}
		t.pending = nil
	}
	// expireFated stops at once when the front is alive and recent:
	// spare the call.
	if t.fatedHead < len(t.fated) && now >= t.fatedDue {
		t.expireFated(now)
	}
	if now > t.gcDue || t.live.len() > t.gcLimit {
		t.gc(now)
	}
	t.due = t.gcDue + 1
	if t.fatedHead < len(t.fated) {
		t.due = min(t.due, t.fatedDue)
	}
}

func (t *tracker) setFate(l *life, f Fate, e *format.Event) {
	if f == FateFreed && l.queued {
		f = FateDelivered
	}
	if l.fate == FateUnknown {
		t.fated = append(t.fated, fatedRef{l, l.id, e.Time})
		if t.fatedHead == len(t.fated)-1 {
			t.fatedChanged()
		}
	}
	if f > l.fate {
		l.fate = f
		l.fateAt = e.Time
	}
}

func (t *tracker) alloc() *life {
	if n := len(t.free); n > 0 {
		l := t.free[n-1]
		t.free = t.free[:n-1]
		*l = life{}
		return l
	}
	if len(t.slab) == 0 {
		// Blocks grow with the number of lifetimes allocated so far.
		t.slab = make([]life, min(max(64, len(t.free)+t.live.len()), 4096))
	}
	l := &t.slab[0]
	t.slab = t.slab[1:]
	return l
}

func (t *tracker) end(l *life) {
	t.live.del(l.addr)
	t.finish(l)
}

// finish reports l's end; the caller removed it from t.live.
func (t *tracker) finish(l *life) {
	l.dead = true
	if l == t.fatedFront {
		t.fatedDue, t.due = 0, 0
	}
	if l.fate == FateUnknown && l.queued {
		// Still on the socket's queue when the capture (or the
		// window) ended: the kernel delivered it.
		l.fate = FateDelivered
		l.fateAt = l.last
	}
	if t.onEnd != nil {
		t.onEnd(l)
	}
	// Every lifetime goes back to the free list: the lifetimes allocated
	// are at most the most ever live at once (maxLive).
	l.ext = nil
	t.free = append(t.free, l)
}

type fatedRef struct {
	l  *life
	id uint64 // l.id when queued (l may be recycled since)
	at uint64 // time it was queued
}

// expireFated ends the lifetimes whose fate is known and that have been
// quiet for freedLinger: O(1) amortized per event.
func (t *tracker) expireFated(now uint64) {
	for t.fatedHead < len(t.fated) {
		r := &t.fated[t.fatedHead]
		if r.l.dead || r.l.id != r.id {
			t.fatedHead++
			continue
		}
		if now <= r.at+freedLinger {
			break
		}
		if now <= r.l.last+freedLinger {
			// Events after the fate: look again later.
			r.at = r.l.last
			t.fated = append(t.fated, *r)
			t.fatedHead++
			continue
		}
		t.fatedHead++
		t.end(r.l)
	}
	if t.fatedHead > 1024 && t.fatedHead*2 > len(t.fated) {
		n := copy(t.fated, t.fated[t.fatedHead:])
		t.fated = t.fated[:n]
		t.fatedHead = 0
	}
	t.fatedChanged()
}

// fatedChanged sets fatedFront and fatedDue after the front of fated
// changed.
func (t *tracker) fatedChanged() {
	t.fatedFront, t.fatedDue = nil, 0
	if t.fatedHead < len(t.fated) {
		r := &t.fated[t.fatedHead]
		t.fatedFront = r.l
		if !r.l.dead && r.l.id == r.id {
			t.fatedDue = r.at + freedLinger + 1
		}
		t.due = min(t.due, t.fatedDue)
	}
}
