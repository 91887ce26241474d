package analyze

import (
	"fmt"

	"github.com/pwru-record/pwru-record/format"
)

// scanner streams a capture's events through a compiled filter. When the
// filter has skb predicates it reads the capture twice: the first pass
// records, one bit per skb lifetime, which skbs match; the second pass
// numbers lifetimes identically and yields the events of matching ones.
type scanner struct {
	c *Capture
	m *matcher

	matched []uint64            // bitset by lifetime id (first pass)
	tracks  map[uint64]struct{} // matching track ids (Track)

	// raw keeps the drop tracepoint's events as recorded instead of
	// merging them into the dropping function's (dropIter): slice writes
	// what was recorded.
	raw bool

	// fields is the projection the consumer asked for (0 = every field);
	// see project.
	fields format.Fields
	// keepFates also yields, for a lifetime with selected events, the
	// events that decide or end it (drop, consume, free) although the
	// event filter rejects them (slice: the kept skbs keep their
	// boundaries and fates); fates counts them.
	keepFates bool
	fates     uint64
	inFate    bool // fn is called with such an event
}

// trackerFields are the event fields the skb tracker reads (besides Time,
// SKB and ProbeID, which are always there), the tuple the scanner keeps
// per lifetime, and the CPU the drop reason merge (dropIter) matches on.
const trackerFields = format.FieldTrackID | format.FieldFlags | format.FieldDropReason | format.FieldTuple | format.FieldCPU

// project makes the scan decode only the fields fs of each event (plus
// Time, SKB, ProbeID and what the filter and the skb tracker read): the
// consumer must not read the others, which are zero. Without a call every
// field is decoded.
func (s *scanner) project(fs format.Fields) {
	s.fields = fs | trackerFields | s.m.fields()
}

func newScanner(c *Capture, flt *Filter) (*scanner, error) {
	if flt == nil {
		flt = &Filter{}
	}
	m, err := flt.compile(c)
	if err != nil {
		return nil, err
	}
	return &scanner{c: c, m: m}, nil
}

func (s *scanner) iter() eventSource {
	it := s.c.File.Events(&format.IterOptions{Since: s.m.since, Until: s.m.until, Fields: s.fields})
	if s.raw {
		return it
	}
	return newDropIter(s.c, it)
}

// prepass runs the first pass when needed.
func (s *scanner) prepass() error {
	if !s.m.skbLevel() {
		return nil
	}
	s.tracks = map[uint64]struct{}{}
	tr := newTracker(s.c, s.m.window, func(l *life) {
		if !s.m.lifeMatches(l) {
			return
		}
		w := l.id / 64
		for uint64(len(s.matched)) <= w {
			s.matched = append(s.matched, 0)
		}
		s.matched[w] |= 1 << (l.id % 64)
		if s.m.track && l.track != 0 {
			s.tracks[l.track] = struct{}{}
		}
	})
	it := s.iter()
	for e := it.NextShared(); e != nil; e = it.NextShared() {
		l := tr.observe(e)
		s.m.observePayload(e, l)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read events of %s: %w", s.c.Path, err)
	}
	s.c.noteSkippedChunks(it)
	tr.flush()
	tr.release()
	return nil
}

// selected reports whether lifetime l passed the skb predicates.
func (s *scanner) selected(l *life) bool {
	if !s.m.skbLevel() {
		return true
	}
	if l == nil {
		return false
	}
	if w := l.id / 64; w < uint64(len(s.matched)) && s.matched[w]&(1<<(l.id%64)) != 0 {
		return true
	}
	if s.m.track && l.track != 0 {
		_, ok := s.tracks[l.track]
		return ok
	}
	return false
}

// run calls fn for every selected event in time order, and end for every
// lifetime when it ends (selected or not; end may be nil). Both run on the
// caller's goroutine; e and l are only valid during the call. fn returning
// errStop ends the scan without error.
func (s *scanner) run(fn func(e *format.Event, l *life) error, end func(l *life)) error {
	return s.runLives(true, fn, end)
}

// runEvents is run for consumers that need no skb lifetimes: unless the
// filter judges whole skbs, l is always nil and no per-skb state is kept.
func (s *scanner) runEvents(fn func(e *format.Event, l *life) error) error {
	return s.runLives(s.m.skbLevel(), fn, nil)
}

func (s *scanner) runLives(lives bool, fn func(e *format.Event, l *life) error, end func(l *life)) error {
	if err := s.prepass(); err != nil {
		return err
	}
	tr := newTracker(s.c, s.m.window, end)
	it := s.iter()
	// The events are the iterator's own (NextShared): the consumers only
	// read them during the call, as the run contract says.
	anyEvent, skbLevel := s.m.anyEvent, s.m.skbLevel()
	filtered := !anyEvent || skbLevel
	for e := it.NextShared(); e != nil; e = it.NextShared() {
		var l *life
		if lives {
			l = tr.observe(e)
		}
		if filtered && ((!anyEvent && !s.m.event(e)) || (skbLevel && !s.selected(l))) {
			if s.keepFates && l != nil && l.sel > 0 && (!skbLevel || s.selected(l)) && s.endsLife(tr, e) {
				s.fates++
				s.inFate = true
				err := fn(e, l)
				s.inFate = false
				if err != nil {
					if err == errStop {
						return nil
					}
					return err
				}
			}
			continue
		}
		if l != nil {
			if l.sel == 0 {
				l.selFirst = e.Time
			}
			if !l.tupleFull && betterTuple(&l.selTuple, &e.Tuple) {
				l.selTuple = e.Tuple
				// No later tuple is better (betterTuple) once it has
				// addresses and ports.
				l.tupleFull = e.Tuple.Sport|e.Tuple.Dport != 0
			}
			l.sel++
			l.prevSel, l.selLast = l.selLast, e.Time
		}
		if err := fn(e, l); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read events of %s: %w", s.c.Path, err)
	}
	s.c.noteSkippedChunks(it)
	if lives {
		tr.flush()
	}
	tr.release()
	return nil
}

// endsLife reports whether e decides or ends its skb's fate (see
// tracker.observe).
func (s *scanner) endsLife(tr *tracker, e *format.Event) bool {
	cl, final := tr.class(e.ProbeID)
	return cl > classRelease || final || e.Flags&format.FlagDropReason != 0
}

// betterTuple reports whether t describes the skb's flow better than
// cur: cur has no addresses, or t adds the ports cur lacks (the first
// events of a locally sent packet have no transport header yet).
func betterTuple(cur, t *format.Tuple) bool {
	if !t.Src.IsValid() {
		return false
	}
	if !cur.Src.IsValid() {
		return true
	}
	// cur has no ports and t has some, tested in one branch (which is
	// almost never taken, while each test alone flips unpredictably):
	// (p-1)>>31 is 1 exactly when p is 0.
	have, add := uint32(cur.Sport)|uint32(cur.Dport), uint32(t.Sport)|uint32(t.Dport)
	if have|(add-1)>>31 != 0 {
		return false
	}
	return cur.Src == t.Src && cur.Dst == t.Dst && cur.Proto == t.Proto
}

// errStop ends a scan early (--output-limit-lines).
var errStop = stopError{}

type stopError struct{}

func (stopError) Error() string { return "stop" }
