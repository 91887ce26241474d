package analyze

import (
	"cmp"
	"slices"
)

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
