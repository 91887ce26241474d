package analyze

// Streaming packet matching for [Diff].
//
// Both captures are read at once; each finished skb journey becomes a
// diffRec that is handed to a pairer as soon as its lifetime ends. The
// pairer matches it against the other capture's packets still waiting,
// first by identity (flow and IP ID / TCP seq / ICMP id+seq, first come
// first served among equal identities), else by order within the flow, and
// keeps only the packets that have no partner yet. A waiting packet gives
// up on a partner (see [pairer.expired]) once the other capture can no
// longer plausibly deliver it; then it pairs by order with the other
// side's oldest packet free to do so (one without identity, or one that
// gave up as well), or counts as only in its capture.

// Matching windows (see pairer.expired), in packets.
const (
	// diffFlowWindow: the other capture completed this many more packets of
	// the flow than the waiting packet's position in its own flow.
	diffFlowWindow = 256
	// diffOwnWindow: the packet's own capture completed this many packets
	// of the flow after it (the other capture is far behind, or has fewer
	// packets in the flow).
	diffOwnWindow = 1024
	// diffIdleWindow: the other capture completed this many packets, none
	// of the packet's flow, since the packet arrived (a flow the other
	// capture lacks, or has ended).
	diffIdleWindow = 8192
	// diffMaxWaiting caps the packets of one capture waiting at once
	// (many flows each within its windows): beyond it, those that arrived
	// diffMaxWaiting/2 of the other capture's packets ago give up.
	diffMaxWaiting = 1 << 16
	// diffSweepEvery is how often (in packets of both captures) the flows
	// with waiting packets are checked for diffIdleWindow.
	diffSweepEvery = 1024
	// diffPaceCap bounds what one flow adds to a side's lead (pairer.next).
	diffPaceCap = 64
)

// diffRec is one finished skb journey, reduced to what the diff needs.
type diffRec struct {
	flow     int32  // index in the shared flow table
	shape    int32  // index in the shared shape table (function sequence)
	ident    uint64 // packet identity within the flow (pktInfo.ident)
	first    uint64 // time of the first selected event
	reason   uint32
	hasIdent bool
	hasRsn   bool
	fate     Fate
}

// waitRec is a packet waiting for its partner.
type waitRec struct {
	diffRec
	n    int64 // position in its flow in its capture (0-based)
	mark int64 // the other capture's packet count when it arrived
	next int32 // next waiting packet with the same identity key (-1: none)
	dead bool  // matched by identity; a tombstone in its flow's queue
}

type identKey struct {
	flow  int32
	ident uint64
}

// identChain lists the waiting packets of one identity key, oldest first.
type identChain struct{ head, tail int32 }

// pairSide is the pairer's state for one capture.
type pairSide struct {
	recs    []waitRec // slab; free lists the unused slots
	free    []int32
	ident   map[identKey]identChain
	total   int64 // packets received
	waiting int   // packets waiting (not tombstones)
	pace    int   // sum over flows the other capture has seen of min(waiting, diffPaceCap)
	ended   bool
	peak    int // largest waiting seen (tests)
}

// recQueue is a flow's waiting packets of one capture in arrival order.
// Packets matched by identity stay as tombstones until they reach the
// head.
type recQueue struct {
	idx  []int32
	head int
}

// pairFlow is the pairer's state for one flow.
type pairFlow struct {
	done    [2]int64 // packets of the flow received per capture
	last    [2]int64 // the capture's total before its latest packet of the flow (-1: none)
	waiting [2]int
	q       [2]recQueue
	active  bool // listed in pairer.active
}

// pairer matches the packets of two captures as they complete. It is
// used by one goroutine. Side 0 is the good capture, side 1 the bad one.
type pairer struct {
	side   [2]pairSide
	flows  []pairFlow
	active []int32 // flows with waiting packets (may list emptied ones)
	since  int     // packets since the last sweep
	// pair is called for every matched pair, only for every packet
	// without a partner; the records are only valid during the call.
	pair func(g, b *diffRec, byID bool)
	only func(side int, r *diffRec)
}

func newPairer(pair func(g, b *diffRec, byID bool), only func(side int, r *diffRec)) *pairer {
	p := &pairer{pair: pair, only: only}
	for s := range p.side {
		p.side[s].ident = map[identKey]identChain{}
	}
	return p
}

// next returns the side to read next: the one behind. A capture whose
// packets wait in flows the other capture has seen is ahead in those
// flows; each flow counts up to diffPaceCap so that one flow with more
// packets in one capture does not let the other run far ahead in the
// remaining flows. Ties alternate.
func (p *pairer) next() int {
	g, b := &p.side[0], &p.side[1]
	switch {
	case g.ended:
		return 1
	case b.ended:
		return 0
	case g.pace != b.pace:
		if g.pace < b.pace {
			return 0
		}
		return 1
	case b.total < g.total:
		return 1
	}
	return 0
}

func (p *pairer) flow(f int32) *pairFlow {
	for int(f) >= len(p.flows) {
		p.flows = append(p.flows, pairFlow{last: [2]int64{-1, -1}})
	}
	return &p.flows[f]
}

// setWaiting changes the number of packets of side s waiting in fl by d,
// keeping the pace in step.
func (p *pairer) setWaiting(s int, fl *pairFlow, d int) {
	old := fl.waiting[s]
	fl.waiting[s] += d
	p.side[s].waiting += d
	if fl.done[1-s] > 0 {
		p.side[s].pace += min(fl.waiting[s], diffPaceCap) - min(old, diffPaceCap)
	}
	p.side[s].peak = max(p.side[s].peak, p.side[s].waiting)
}

// add takes the next finished packet of side s.
func (p *pairer) add(s int, r *diffRec) {
	o := 1 - s
	fl := p.flow(r.flow)
	n := fl.done[s]
	if n == 0 && fl.waiting[o] > 0 {
		// The other side's packets in this flow now count as a lead.
		p.side[o].pace += min(fl.waiting[o], diffPaceCap)
	}
	fl.done[s]++
	fl.last[s] = p.side[s].total
	p.side[s].total++
	if r.hasIdent {
		if i, ok := p.popIdent(o, identKey{r.flow, r.ident}); ok {
			w := &p.side[o].recs[i]
			w.dead = true
			p.setWaiting(o, fl, -1)
			if s == 0 {
				p.pair(r, &w.diffRec, true)
			} else {
				p.pair(&w.diffRec, r, true)
			}
			p.settle(r.flow)
			p.tick()
			return
		}
	}
	sd := &p.side[s]
	var i int32
	if k := len(sd.free); k > 0 {
		i = sd.free[k-1]
		sd.free = sd.free[:k-1]
	} else {
		i = int32(len(sd.recs))
		sd.recs = append(sd.recs, waitRec{})
	}
	sd.recs[i] = waitRec{diffRec: *r, n: n, mark: p.side[o].total, next: -1}
	fl.q[s].idx = append(fl.q[s].idx, i)
	p.setWaiting(s, fl, 1)
	if r.hasIdent {
		k := identKey{r.flow, r.ident}
		if c, ok := sd.ident[k]; ok {
			sd.recs[c.tail].next = i
			c.tail = i
			sd.ident[k] = c
		} else {
			sd.ident[k] = identChain{i, i}
		}
	}
	if !fl.active {
		fl.active = true
		p.active = append(p.active, r.flow)
	}
	p.settle(r.flow)
	p.tick()
}

// popIdent removes and returns the oldest waiting packet of side s with
// key k.
func (p *pairer) popIdent(s int, k identKey) (int32, bool) {
	sd := &p.side[s]
	c, ok := sd.ident[k]
	if !ok {
		return 0, false
	}
	i := c.head
	if nx := sd.recs[i].next; nx >= 0 {
		c.head = nx
		sd.ident[k] = c
	} else {
		delete(sd.ident, k)
	}
	return i, true
}

// end records that side s has no more packets.
func (p *pairer) end(s int) {
	p.side[s].ended = true
	p.sweep()
}

// tick runs a sweep every diffSweepEvery packets.
func (p *pairer) tick() {
	p.since++
	if p.since >= diffSweepEvery {
		p.sweep()
	}
}

// sweep settles every flow with waiting packets and forgets the emptied
// ones.
func (p *pairer) sweep() {
	p.since = 0
	keep := p.active[:0]
	for _, f := range p.active {
		p.settle(f)
		fl := &p.flows[f]
		if fl.waiting[0] > 0 || fl.waiting[1] > 0 {
			keep = append(keep, f)
		} else {
			// Flows outlive their packets: release the queues.
			fl.active = false
			fl.q = [2]recQueue{}
		}
	}
	p.active = keep
}

// head returns the oldest waiting packet of side s in fl, dropping
// tombstones.
func (p *pairer) head(s int, fl *pairFlow) (int32, bool) {
	q := &fl.q[s]
	sd := &p.side[s]
	for q.head < len(q.idx) {
		i := q.idx[q.head]
		if !sd.recs[i].dead {
			return i, true
		}
		sd.free = append(sd.free, i)
		q.head++
	}
	q.idx, q.head = q.idx[:0], 0
	return 0, false
}

// pop removes the head returned by head.
func (p *pairer) pop(s int, fl *pairFlow) {
	q := &fl.q[s]
	sd := &p.side[s]
	i := q.idx[q.head]
	q.head++
	if q.head > 64 && q.head*2 > len(q.idx) {
		n := copy(q.idx, q.idx[q.head:])
		q.idx, q.head = q.idx[:n], 0
	}
	w := &sd.recs[i]
	if w.hasIdent {
		// The oldest waiting packet of the flow is the oldest of its
		// identity too.
		p.popIdent(s, identKey{w.flow, w.ident})
	}
	sd.free = append(sd.free, i)
	p.setWaiting(s, fl, -1)
}

// expired reports whether waiting packet w of side s (flow fl) gives up
// on a partner arriving from the other capture, because that capture
//   - has ended, or
//   - has completed diffFlowWindow packets of the flow beyond w's position
//     in it (an identity partner would have come by now), or
//   - has completed diffIdleWindow packets, none of them of the flow, since
//     w arrived (the flow is missing there, or ended earlier);
//
// or because w's own capture has completed diffOwnWindow packets of the
// flow after w (the other capture has fewer packets in the flow), or has
// more than diffMaxWaiting packets waiting and w is old.
func (p *pairer) expired(s int, w *waitRec, fl *pairFlow) bool {
	o := 1 - s
	od := &p.side[o]
	return od.ended ||
		fl.done[o] >= w.n+diffFlowWindow ||
		fl.done[s] >= w.n+diffOwnWindow ||
		od.total-max(w.mark, fl.last[o]+1) >= diffIdleWindow ||
		p.side[s].waiting > diffMaxWaiting && od.total-w.mark >= diffMaxWaiting/2
}

// ready reports whether w may pair by order: it has no identity, or gave
// up waiting for its identity partner.
func (p *pairer) ready(s int, w *waitRec, fl *pairFlow) bool {
	return !w.hasIdent || p.expired(s, w, fl)
}

// settle pairs the heads of flow f's queues by order while both are
// ready, and reports a lone head as only in its capture once it expired.
func (p *pairer) settle(f int32) {
	fl := &p.flows[f]
	for {
		gi, gok := p.head(0, fl)
		bi, bok := p.head(1, fl)
		switch {
		case gok && bok:
			g, b := &p.side[0].recs[gi], &p.side[1].recs[bi]
			if !p.ready(0, g, fl) || !p.ready(1, b, fl) {
				return
			}
			p.pair(&g.diffRec, &b.diffRec, false)
			p.pop(0, fl)
			p.pop(1, fl)
		case gok:
			g := &p.side[0].recs[gi]
			if !p.expired(0, g, fl) {
				return
			}
			p.only(0, &g.diffRec)
			p.pop(0, fl)
		case bok:
			b := &p.side[1].recs[bi]
			if !p.expired(1, b, fl) {
				return
			}
			p.only(1, &b.diffRec)
			p.pop(1, fl)
		default:
			return
		}
	}
}
