package analyze

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/pwru-record/pwru-record/format"
)

// diffBatch is how many finished journeys a capture reader hands over at
// once; diffQueue is how many batches it may run ahead of the pairer.
const (
	diffBatch = 256
	diffQueue = 2
)

// diffPktCache is how many decoded payloads a capture reader keeps for
// the skbs that share one (clones): recent ones only, so that memory does
// not grow with the capture.
const diffPktCache = 256

// shapeTable interns function-name sequences shared by both sides.
type shapeTable struct {
	ids   map[string]int32
	names [][]string
}

func (t *shapeTable) intern(names []string) int32 {
	key := strings.Join(names, "\x00")
	if id, ok := t.ids[key]; ok {
		return id
	}
	id := int32(len(t.names))
	t.ids[key] = id
	t.names = append(t.names, slices.Clone(names))
	return id
}

type flowTable struct {
	ids   map[format.Tuple]int32
	tuple []format.Tuple
}

func (t *flowTable) intern(tp format.Tuple) int32 {
	if id, ok := t.ids[tp]; ok {
		return id
	}
	id := int32(len(t.tuple))
	t.ids[tp] = id
	t.tuple = append(t.tuple, tp)
	return id
}

// diffTables are the flow and shape tables both capture readers intern
// into. Each reader keeps its own cache in front, so the lock is taken
// once per new flow or journey shape, not per packet.
type diffTables struct {
	mu     sync.Mutex
	shapes shapeTable
	flows  flowTable
}

func newDiffTables() *diffTables {
	return &diffTables{
		shapes: shapeTable{ids: map[string]int32{}},
		flows:  flowTable{ids: map[format.Tuple]int32{}},
	}
}

type hopKey struct {
	flow     int32
	from, to string
}

// shapeHops sums the hop latencies of the packets of one flow that took
// one path: sums[i] is the total time from function i to i+1.
type shapeHops struct {
	sums []uint64
	n    int
}

type hopAgg struct {
	sum uint64
	n   int
}

// diffJourney is per-skb state while reading one side.
type diffJourney struct {
	probes []uint32
	dts    []uint64
	last   uint64
	pkt    pktInfo
	hasPkt bool
}

// diffReader turns one capture's skb lifetimes into diffRecs as they end
// and sends them in batches. It runs on its own goroutine; after out is
// closed, err and hops hold the result.
type diffReader struct {
	c      *Capture
	flt    *Filter
	tables *diffTables
	out    chan []diffRec
	quit   <-chan struct{}

	err  error
	hops map[hopKey]*hopAgg // mean hop latency per flow, by function names

	flowIDs  map[format.Tuple]int32
	shapeIDs map[string]int32 // probe id sequence (little endian) -> shape
	key      []byte
	names    []string
	batch    []diffRec
	stopped  bool
}

func newDiffReader(c *Capture, flt *Filter, tables *diffTables, quit <-chan struct{}) *diffReader {
	return &diffReader{
		c: c, flt: flt, tables: tables, quit: quit,
		out:      make(chan []diffRec, diffQueue),
		flowIDs:  map[format.Tuple]int32{},
		shapeIDs: map[string]int32{},
	}
}

// send hands the current batch over, unless the pairer quit.
func (d *diffReader) send() {
	if len(d.batch) == 0 || d.stopped {
		return
	}
	select {
	case d.out <- d.batch:
	case <-d.quit:
		d.stopped = true
	}
	d.batch = make([]diffRec, 0, diffBatch)
}

func (d *diffReader) run() {
	defer close(d.out)
	d.err = d.read()
}

func (d *diffReader) read() error {
	c := d.c
	s, err := newScanner(c, d.flt)
	if err != nil {
		return err
	}
	d.batch = make([]diffRec, 0, diffBatch)
	pktCache := map[uint32]pktInfo{}
	// One lookup per packet while reading; per hop at the end.
	hopsByShape := map[[2]int32]*shapeHops{}
	pool := []*diffJourney{}
	err = s.run(func(e *format.Event, l *life) error {
		if d.stopped {
			return errStop
		}
		if l == nil {
			return nil
		}
		j, _ := l.ext.(*diffJourney)
		if j == nil {
			if n := len(pool); n > 0 {
				j = pool[n-1]
				pool = pool[:n-1]
				*j = diffJourney{probes: j.probes[:0], dts: j.dts[:0]}
			} else {
				j = &diffJourney{probes: make([]uint32, 0, 64), dts: make([]uint64, 0, 64)}
			}
			l.ext = j
		}
		var dt uint64
		if len(j.probes) > 0 {
			dt = e.Time - j.last
		}
		j.last = e.Time
		if len(j.probes) < 4096 {
			j.probes = append(j.probes, e.ProbeID)
			j.dts = append(j.dts, dt)
		}
		if !j.hasPkt && e.PayloadID != 0 {
			pi, ok := pktCache[e.PayloadID]
			if !ok {
				if pk := c.packet(e.PayloadID); pk != nil {
					pi = parsePacket(pk.Data, pk.L3)
				}
				if len(pktCache) >= diffPktCache {
					clear(pktCache)
				}
				pktCache[e.PayloadID] = pi
			}
			if pi.ok {
				j.pkt, j.hasPkt = pi, true
			}
		}
		return nil
	}, func(l *life) {
		j, _ := l.ext.(*diffJourney)
		if j == nil || len(j.probes) == 0 {
			return
		}
		var tuple format.Tuple
		if j.hasPkt {
			tuple = j.pkt.tuple
		}
		if betterTuple(&tuple, &l.selTuple) {
			tuple = l.selTuple
		}
		flow, shape := d.flow(tuple), d.shape(j.probes)
		if len(j.probes) > 1 {
			k := [2]int32{flow, shape}
			h := hopsByShape[k]
			if h == nil {
				h = &shapeHops{sums: make([]uint64, len(j.probes)-1)}
				hopsByShape[k] = h
			}
			for i, dt := range j.dts[1:] {
				h.sums[i] += dt
			}
			h.n++
		}
		d.batch = append(d.batch, diffRec{
			flow: flow, ident: j.pkt.ident, hasIdent: j.hasPkt && j.pkt.hasIdent,
			shape: shape, first: l.selFirst,
			fate: l.fate, reason: l.reason, hasRsn: l.hasRsn,
		})
		if len(d.batch) == diffBatch {
			d.send()
		}
		if len(pool) < 4096 {
			pool = append(pool, j)
		}
	})
	if err != nil {
		return err
	}
	d.send()
	d.hops = map[hopKey]*hopAgg{}
	d.tables.mu.Lock()
	defer d.tables.mu.Unlock()
	for k, h := range hopsByShape {
		names := d.tables.shapes.names[k[1]]
		for i, sum := range h.sums {
			hk := hopKey{k[0], names[i], names[i+1]}
			a := d.hops[hk]
			if a == nil {
				a = &hopAgg{}
				d.hops[hk] = a
			}
			a.sum += sum
			a.n += h.n
		}
	}
	return nil
}

// flow interns a flow tuple.
func (d *diffReader) flow(tp format.Tuple) int32 {
	if id, ok := d.flowIDs[tp]; ok {
		return id
	}
	d.tables.mu.Lock()
	id := d.tables.flows.intern(tp)
	d.tables.mu.Unlock()
	d.flowIDs[tp] = id
	return id
}

// shape interns the function sequence of a journey: probe ids map to a
// shape through the reader's cache, names are looked up on a miss only.
func (d *diffReader) shape(probes []uint32) int32 {
	d.key = d.key[:0]
	for _, p := range probes {
		d.key = binary.LittleEndian.AppendUint32(d.key, p)
	}
	if id, ok := d.shapeIDs[string(d.key)]; ok {
		return id
	}
	d.names = d.names[:0]
	for _, p := range probes {
		d.names = append(d.names, d.c.ProbeName(p))
	}
	d.tables.mu.Lock()
	id := d.tables.shapes.intern(d.names)
	d.tables.mu.Unlock()
	d.shapeIDs[string(d.key)] = id
	return id
}

// streamDiff reads good and bad at once, each on its own goroutine (good
// and bad are not used by the caller meanwhile), pairs
// their packets as they complete and folds the result into acc. It
// returns each side's hop latencies. Memory is bounded by the skbs alive
// in each capture, the packets waiting for a partner (see pairer) and the
// flow, shape and hop tables, not by the length of the captures.
func streamDiff(good, bad *Capture, flt *Filter, tables *diffTables, acc *diffAcc) ([2]map[hopKey]*hopAgg, error) {
	if bad == good {
		// A Capture is not safe for concurrent use, its format.File is:
		// the second reader gets a Capture of its own.
		c := NewCapture(good.File)
		c.Path = good.Path
		bad = c
	}
	quit := make(chan struct{})
	rd := [2]*diffReader{
		newDiffReader(good, flt, tables, quit),
		newDiffReader(bad, flt, tables, quit),
	}
	var wg sync.WaitGroup
	for _, r := range rd {
		wg.Go(r.run)
	}
	defer func() {
		close(quit)
		wg.Wait()
	}()
	p := newPairer(acc.pair, acc.only)
	var cur [2][]diffRec
	for !p.side[0].ended || !p.side[1].ended {
		s := p.next()
		if len(cur[s]) == 0 {
			b, ok := <-rd[s].out
			if !ok {
				if err := rd[s].err; err != nil {
					return [2]map[hopKey]*hopAgg{}, err
				}
				p.end(s)
				continue
			}
			cur[s] = b
		}
		r := &cur[s][0]
		cur[s] = cur[s][1:]
		acc.count(s, r)
		p.add(s, r)
	}
	return [2]map[hopKey]*hopAgg{rd[0].hops, rd[1].hops}, nil
}
