package analyze

import (
	"cmp"
	"slices"
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// Fate is what finally happened to an skb.
type Fate uint8

// Fates, in increasing order of precedence.
const (
	// FateUnknown: the capture ends (or the skb went quiet) before any
	// freeing function was seen.
	FateUnknown Fate = iota
	// FateFreed: the skb was freed (kfree_skbmem, __kfree_skb) without a
	// consume or drop event.
	FateFreed
	// FateDelivered: the skb was consumed (consume_skb, SKB_CONSUMED,
	// skb_consume_udp), or it was queued to a socket
	// (__udp_enqueue_schedule_skb, sock_queue_rcv_skb, tcp_queue_rcv) and
	// then freed without a drop, or the capture ended while it waited
	// there: the normal end of a packet that reached its destination.
	FateDelivered
	// FateDropped: kfree_skb / kfree_skb_reason / sk_skb_reason_drop with
	// a drop reason.
	FateDropped
)

// String returns "unknown", "freed", "delivered" or "dropped".
func (f Fate) String() string {
	switch f {
	case FateFreed:
		return "freed"
	case FateDelivered:
		return "delivered"
	case FateDropped:
		return "dropped"
	}
	return "unknown"
}

// probeClass says what a probed function means for an skb's fate. The
// classes that change nothing without a drop reason come first: observe
// tests cl > classRelease.
type probeClass uint8

const (
	classNone    probeClass = iota
	classRelease            // part of the freeing path (does not start a new skb)
	classFreed              // final free
	classConsume            // consumed (delivered)
	classDrop               // dropped
	classQueue              // queued to a socket: a later plain free is a delivery
)

// classify a function by name.
func classifyName(name string) probeClass {
	switch name {
	case "kfree_skb_reason", "sk_skb_reason_drop", "kfree_skb", "kfree_skb_list_reason", "__kfree_skb_reason":
		return classDrop
	case "consume_skb", "napi_consume_skb", "__consume_stateless_skb", "dev_consume_skb_any", "skb_consume_udp":
		return classConsume
	case "__udp_enqueue_schedule_skb", "sock_queue_rcv_skb", "sock_queue_rcv_skb_reason", "__sock_queue_rcv_skb", "tcp_queue_rcv":
		// The kernel put the skb on a socket's receive queue; it is
		// freed plainly (skb_release_data, kfree_skbmem, __kfree_skb)
		// once the application read it.
		return classQueue
	case "kfree_skbmem", "__kfree_skb", "skb_free_head", "__napi_kfree_skb", "kfree_skb_partial":
		return classFreed
	}
	if strings.Contains(name, "free") || strings.Contains(name, "release") ||
		strings.Contains(name, "consume") || strings.Contains(name, "destruct") ||
		strings.Contains(name, "drop") || strings.Contains(name, "unref") {
		return classRelease
	}
	return classNone
}

// DefaultWindow is how long (ns) an skb may stay silent before its state is
// dropped and its next event starts a new journey.
const DefaultWindow = 1_000_000_000

// freedLinger is how long (ns) a freed skb's state is kept for the events
// of the freeing path that follow the fate event.
const freedLinger = 10_000_000

// minGCLive is the live-skb count below which no size-triggered sweep runs.
const minGCLive = 1024

// life is one lifetime of an skb address: from its first event to its
// fate. Lifetimes are numbered 1, 2, ... in order of first event, so two
// passes over the same capture number them identically.
type life struct {
	// The fields every event reads or writes come first, within one
	// cache line.
	addr  uint64
	last  uint64
	gen   uint64 // 1 + the generation listing this lifetime (tracker.gens)
	track uint64
	// sel counts the events of this lifetime that passed the filters;
	// selFirst/selLast are their times and selTuple the first valid tuple.
	selLast  uint64
	prevSel  uint64 // selLast before the current event
	events   uint32
	sel      uint32
	fate     Fate
	dead     bool // ended (possibly waiting in the free list)
	queued   bool // reached a socket receive queue
	hasRsn   bool
	pktMatch bool // the skb-level filter verdict accumulated so far
	// tupleFull: selTuple has addresses and ports, so no later tuple
	// replaces it (betterTuple).
	tupleFull bool
	id        uint64
	selTuple  format.Tuple
	selFirst  uint64
	first     uint64
	fateAt    uint64
	reason    uint32
	payload   uint32 // last payload id checked for the pcap filter
	// ext is per-consumer state (paths, diff).
	ext any
	// The size is a multiple of the cache line, so that the first line
	// of every lifetime in a block (tracker.slab) holds its hot fields.
	_ [16]byte
}

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
// itself (kfree_skbmem).
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
			if p.Name == "kfree_skbmem" {
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

// numGens is the number of generations tracked at once: a sweep runs at
// least once a generation (window/4) and a generation is emptied once it
// is older than the window, so at most 6 are in use.
const numGens = 16

// generation lists the lifetimes whose last event fell in one period.
type generation struct {
	ep   uint64 // generation number: event time / period
	refs []genRef
}

// genRef is an entry of a generation; it is stale when the lifetime ended
// (l.id changed or l.dead) or moved to a later generation (l.gen).
type genRef struct {
	l  *life
	id uint64
}

func (r genRef) valid(ep uint64) bool {
	return r.l.id == r.id && !r.l.dead && r.l.gen == ep+1
}

// enlist records that l's last event fell in generation ep: once per
// lifetime and generation, so the cost per event is a comparison.
func (t *tracker) enlist(l *life, ep uint64) {
	g := &t.gens[ep%numGens]
	if g.ep != ep && len(g.refs) > 0 {
		// Not emptied yet (cannot happen: gc runs every period and
		// empties generations older than the window); keep its
		// lifetimes by moving them to ep, which only delays their end.
		for _, r := range g.refs {
			if r.valid(g.ep) {
				r.l.gen = ep + 1
			}
		}
		g.refs = slices.DeleteFunc(g.refs, func(r genRef) bool { return r.l.gen != ep+1 || r.l.id != r.id || r.l.dead })
	} else if g.ep != ep {
		g.refs = g.refs[:0]
		if cap(g.refs) == 0 && len(t.spare) > 0 {
			// A new generation takes the list of an emptied one.
			g.refs = t.spare[len(t.spare)-1]
			t.spare = t.spare[:len(t.spare)-1]
		}
	}
	g.ep = ep
	g.refs = append(g.refs, genRef{l, l.id})
	l.gen = ep + 1
}

// gc ends lifetimes that stayed silent for the window, in id order. Only
// the generations that may hold such lifetimes are visited.
func (t *tracker) gc(now uint64) {
	t.lastGC = now
	t.gcDue = now + t.gcEvery
	done := t.expired[:0]
	for i := range t.gens {
		g := &t.gens[i]
		if len(g.refs) == 0 {
			continue
		}
		switch {
		case (g.ep+1)*t.period+t.window < now:
			// Every lifetime still listed here was last seen before
			// (ep+1)*period: all expired.
			for _, r := range g.refs {
				if r.valid(g.ep) {
					done = append(done, r.l)
				}
			}
			// Its list goes to the next new generation (slots are reused
			// only numGens periods later).
			clear(g.refs)
			t.spare = append(t.spare, g.refs[:0])
			g.refs = nil
		case g.ep*t.period+t.window < now:
			// Partly expired: check each, keep the others.
			keep := g.refs[:0]
			for _, r := range g.refs {
				if !r.valid(g.ep) {
					continue
				}
				if now > r.l.last+t.window {
					done = append(done, r.l)
				} else {
					keep = append(keep, r)
				}
			}
			clear(g.refs[len(keep):])
			g.refs = keep
		}
	}
	sortLives(done)
	for _, l := range done {
		t.end(l)
	}
	clear(done)
	t.expired = done[:0]
	t.gcLimit = max(minGCLive, 2*t.live.len())
}

// flush ends every remaining lifetime (end of capture), in id order.
func (t *tracker) flush() {
	done := t.live.appendAll(t.expired[:0])
	sortLives(done)
	t.live.clear()
	for _, l := range done {
		t.finish(l)
	}
	clear(done)
	t.expired = done[:0]
}

func sortLives(ls []*life) {
	slices.SortFunc(ls, func(a, b *life) int { return cmp.Compare(a.id, b.id) })
}
