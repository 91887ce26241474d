package analyze

import (
	"cmp"
	"io"
	"slices"
	"strconv"

	"github.com/pwru-record/pwru-record/format"
)

// PathsOptions tune [Paths].
type PathsOptions struct {
	Filter Filter
	// NoGroup lists every skb's journey instead of grouping identical ones.
	NoGroup bool
	// Limit stops after this many journeys or groups (0 = all).
	Limit int
	// MaxSteps bounds the functions kept per skb (0 = 512).
	MaxSteps int
	// JSON writes one JSON object per journey or group (see JSON.md).
	JSON bool
}

// step is one function of a journey.
type step struct {
	probe  uint32
	netns  uint32
	ifidx  uint32
	reason uint32
	flags  format.EventFlags
	dt     uint64 // ns since the previous step
}

// journey is the per-skb state of Paths, stored in life.ext.
type journey struct {
	steps     []step
	tuple     format.Tuple
	last      uint64
	truncated int
	parent    uint64 // skb address of the skb this one was cloned from
	// fired: one of its events fired the flight recorder capture;
	// firedStep is that step's index + 1 (0 when past the step limit).
	fired     bool
	firedStep int
	// Export only: the address as text, and the first decoded payload.
	addr   string
	pkt    pktInfo
	hasPkt bool
}

// journeyBuilder builds the journey of every selected skb (the steps of
// [Paths] and the path of the export's skbs table) in life.ext.
type journeyBuilder struct {
	maxSteps   int
	trackFirst map[uint64]uint64 // track id -> addr of the first skb with it
	capture    *Capture          // marks the journey of its flight recorder trigger (nil: none)
	free       []*journey        // released journeys, reused with their steps' memory
}

func newJourneyBuilder(maxSteps int) *journeyBuilder {
	return &journeyBuilder{maxSteps: maxSteps, trackFirst: map[uint64]uint64{}}
}

// event adds a selected event to its skb's journey (nothing for events
// without an skb) and returns the journey.
func (b *journeyBuilder) event(e *format.Event, l *life) *journey {
	if l == nil {
		return nil
	}
	j, _ := l.ext.(*journey)
	if j == nil {
		if n := len(b.free); n > 0 {
			j = b.free[n-1]
			b.free = b.free[:n-1]
			*j = journey{steps: j.steps[:0], tuple: e.Tuple}
		} else {
			j = &journey{tuple: e.Tuple}
		}
		if l.track != 0 {
			if a, ok := b.trackFirst[l.track]; ok && a != l.addr {
				j.parent = a
			} else if !ok {
				b.trackFirst[l.track] = l.addr
			}
		}
		l.ext = j
	}
	if betterTuple(&j.tuple, &e.Tuple) {
		j.tuple = e.Tuple
	}
	var dt uint64
	if len(j.steps) > 0 {
		dt = e.Time - j.last
	}
	j.last = e.Time
	fired := b.capture != nil && b.capture.isTrigger(e)
	j.fired = j.fired || fired
	if len(j.steps) >= b.maxSteps {
		j.truncated++
		return j
	}
	if fired {
		j.firedStep = len(j.steps) + 1
	}
	j.steps = append(j.steps, step{probe: e.ProbeID, netns: e.Netns, ifidx: e.Ifindex, reason: e.DropReason, flags: e.Flags, dt: dt})
	return j
}

// end returns the journey of an ended lifetime (nil when none of its
// events was selected).
func (b *journeyBuilder) end(l *life) *journey {
	j, _ := l.ext.(*journey)
	if j == nil {
		return nil
	}
	if l.track != 0 && b.trackFirst[l.track] == l.addr {
		delete(b.trackFirst, l.track)
	}
	return j
}

// release gives back the journey of an ended lifetime that nothing
// references any more: a later lifetime reuses it and its steps' memory.
func (b *journeyBuilder) release(j *journey) {
	b.free = append(b.free, j)
}

// pathGroup aggregates identical journeys.
type pathGroup struct {
	key     string
	first   *journey
	firstL  life
	count   int
	dtSum   []uint64
	order   int
	flows   map[format.Tuple]struct{}
	members []member // up to maxMembers distinct addresses, in order of appearance
	others  int      // journeys at addresses not in members
}

// member is one distinct skb address of a group and how many of the
// group's journeys it carried (addresses are reused once an skb is freed).
type member struct {
	addr  uint64
	count int
}

// maxMembers bounds the distinct addresses a group lists.
const maxMembers = 3

// add counts one journey at addr.
func (g *pathGroup) add(addr uint64) {
	for i := range g.members {
		if g.members[i].addr == addr {
			g.members[i].count++
			return
		}
	}
	if len(g.members) < maxMembers {
		g.members = append(g.members, member{addr: addr, count: 1})
		return
	}
	g.others++
}

// Paths writes each selected skb's journey: its functions in order with
// time deltas, netns and interface changes, its fate, and the skb it was
// cloned from. Identical journeys (same functions, interfaces and fate)
// are grouped with a count and mean deltas, in order of first appearance;
// a group lists up to three distinct skb addresses, each once with the
// number of its journeys (freed addresses are reused). Without grouping,
// journeys are written as the skbs end.
func Paths(w io.Writer, c *Capture, o *PathsOptions) error {
	if o == nil {
		o = &PathsOptions{}
	}
	maxSteps := o.MaxSteps
	if maxSteps <= 0 {
		maxSteps = 512
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return err
	}
	groups := map[string]*pathGroup{}
	var ordered []*pathGroup
	var werr error
	shown := 0
	emit := func(l *life, j *journey) {
		if werr != nil || (o.Limit > 0 && shown >= o.Limit) {
			return
		}
		if o.NoGroup {
			shown++
			werr = writeJourney(w, journeyJSON(c, l, j, 1, nil, nil), o.JSON)
			return
		}
		key := journeyKey(l, j)
		g := groups[key]
		if g == nil {
			if o.Limit > 0 && len(groups) >= o.Limit {
				return
			}
			g = &pathGroup{key: key, first: j, firstL: *l, dtSum: make([]uint64, len(j.steps)), order: len(ordered), flows: map[format.Tuple]struct{}{}}
			groups[key] = g
			ordered = append(ordered, g)
		}
		g.count++
		if len(g.flows) < 64 {
			g.flows[j.tuple] = struct{}{}
		}
		g.add(l.addr)
		for i := range j.steps {
			if i < len(g.dtSum) {
				g.dtSum[i] += j.steps[i].dt
			}
		}
	}
	jb := newJourneyBuilder(maxSteps)
	jb.capture = c
	err = s.run(func(e *format.Event, l *life) error {
		jb.event(e, l)
		return nil
	}, func(l *life) {
		if j := jb.end(l); j != nil {
			emit(l, j)
		}
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if !o.NoGroup {
		slices.SortFunc(ordered, func(a, b *pathGroup) int { return cmp.Compare(a.firstL.id, b.firstL.id) })
		for _, g := range ordered {
			if err := writeJourney(w, journeyJSON(c, &g.firstL, g.first, g.count, g.dtSum, g), o.JSON); err != nil {
				return err
			}
		}
	}
	return nil
}

// journeyKey identifies identical journeys: functions, interface changes,
// fate and drop reason, and whether the skb is a clone.
func journeyKey(l *life, j *journey) string {
	var b []byte
	var ns, ifi uint32
	for i, st := range j.steps {
		b = strconv.AppendUint(b, uint64(st.probe), 36)
		known := st.netns != 0 || st.ifidx != 0
		if i == 0 || (known && (st.netns != ns || st.ifidx != ifi)) {
			b = append(b, '@')
			b = strconv.AppendUint(b, uint64(st.netns), 36)
			b = append(b, '/')
			b = strconv.AppendUint(b, uint64(st.ifidx), 36)
			ns, ifi = st.netns, st.ifidx
		}
		b = append(b, ',')
	}
	b = append(b, byte('0'+l.fate))
	if l.hasRsn {
		b = strconv.AppendUint(b, uint64(l.reason), 10)
	}
	if j.parent != 0 {
		b = append(b, 'c')
	}
	if j.fired {
		b = append(b, 'T') // the journey that fired the capture stands alone
	}
	return string(b)
}
