package analyze

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// DiffOptions tune [Diff].
type DiffOptions struct {
	// Filter applies to both captures.
	Filter Filter
	// LatencyThreshold is the smallest change of a hop's mean latency
	// reported (0 = 10µs).
	LatencyThreshold time.Duration
	// LatencyRatio is the smallest relative change reported (0 = 1.5: 50%
	// slower or 33% faster).
	LatencyRatio float64
	// Context is the number of functions shown before the divergence
	// (0 = 3).
	Context int
	// JSON writes the report as one JSON document.
	JSON bool
	// Names label the two captures (default "good" and "bad").
	GoodName, BadName string
}

// DiffReport is the result of [Diff].
type DiffReport struct {
	Summary DiffSummary `json:"summary"`
	Flows   []FlowDiff  `json:"flows"`
}

// DiffSummary counts packets and flows.
type DiffSummary struct {
	Same         bool `json:"same"`
	Flows        int  `json:"flows"`
	FlowsDiffer  int  `json:"flows_differ"`
	GoodPackets  int  `json:"good_packets"`
	BadPackets   int  `json:"bad_packets"`
	Matched      int  `json:"matched"`
	SamePath     int  `json:"same_path"`
	Diverged     int  `json:"diverged"`
	OnlyGood     int  `json:"only_good"`
	OnlyBad      int  `json:"only_bad"`
	LatencyHops  int  `json:"latency_changes"`
	MatchedByID  int  `json:"matched_by_id"`
	MatchedByOrd int  `json:"matched_by_ordinal"`
}

// FlowDiff is what differs for one flow.
type FlowDiff struct {
	Flow        string       `json:"flow"`
	GoodPackets int          `json:"good_packets"`
	BadPackets  int          `json:"bad_packets"`
	SamePath    int          `json:"same_path"`
	OnlyGood    int          `json:"only_good"`
	OnlyBad     int          `json:"only_bad"`
	Divergences []Divergence `json:"divergences,omitempty"`
	BadDrops    []ReasonN    `json:"bad_drops,omitempty"`
	Latency     []HopLatency `json:"latency,omitempty"`
}

// Divergence is one way the paths of matched packets differ.
type Divergence struct {
	Packets int      `json:"packets"`
	After   string   `json:"after"`   // last common function ("" = first function differs)
	Context []string `json:"context"` // common functions before the divergence
	Good    []string `json:"good"`    // the good run's functions from the divergence on
	Bad     []string `json:"bad"`     // the bad run's functions from the divergence on
	GoodEnd string   `json:"good_fate"`
	BadEnd  string   `json:"bad_fate"`
}

// ReasonN counts drops with one reason.
type ReasonN struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// HopLatency is a hop (from one function to the next) whose mean latency
// changed past the thresholds.
type HopLatency struct {
	From   string `json:"from"`
	To     string `json:"to"`
	GoodNs uint64 `json:"good_ns"`
	BadNs  uint64 `json:"bad_ns"`
	GoodN  int    `json:"good_count"`
	BadN   int    `json:"bad_count"`
}

// diffPkt is one skb of one capture, reduced to what matching needs.
type diffPkt struct {
	flow     int32
	ident    uint64
	hasIdent bool
	shape    int32
	first    uint64
	fate     Fate
	reason   uint32
	hasRsn   bool
}

// diffSide is one capture reduced for Diff.
type diffSide struct {
	c      *Capture
	pkts   []diffPkt
	hops   map[hopKey]*hopAgg
	shapes *shapeTable
	flows  *flowTable
}

type hopKey struct {
	flow     int32
	from, to string
}

// hopID is hopKey with probe ids, cheap to hash while reading.
type hopID struct {
	flow     int32
	from, to uint32
}

type hopAgg struct {
	sum uint64
	n   int
}

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

// diffJourney is per-skb state while reading one side.
type diffJourney struct {
	probes []uint32
	dts    []uint64
	last   uint64
	pkt    pktInfo
	hasPkt bool
}

func collectDiffSide(c *Capture, flt *Filter, shapes *shapeTable, flows *flowTable) (*diffSide, error) {
	s, err := newScanner(c, flt)
	if err != nil {
		return nil, err
	}
	d := &diffSide{c: c, hops: map[hopKey]*hopAgg{}, shapes: shapes, flows: flows}
	pktCache := map[uint32]pktInfo{}
	hopsByID := map[hopID]*hopAgg{}
	names := make([]string, 0, 64)
	pool := []*diffJourney{}
	err = s.run(func(e *format.Event, l *life) error {
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
				if pk, err := c.File.Packet(e.PayloadID); err == nil && pk != nil {
					pi = parsePacket(pk.Data, pk.L3)
				}
				if len(pktCache) > 1<<14 {
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
		flow := flows.intern(tuple)
		names = names[:0]
		for _, p := range j.probes {
			names = append(names, c.ProbeName(p))
		}
		for i := 1; i < len(j.probes); i++ {
			k := hopID{flow, j.probes[i-1], j.probes[i]}
			h := hopsByID[k]
			if h == nil {
				h = &hopAgg{}
				hopsByID[k] = h
			}
			h.sum += j.dts[i]
			h.n++
		}
		d.pkts = append(d.pkts, diffPkt{
			flow: flow, ident: j.pkt.ident, hasIdent: j.hasPkt && j.pkt.hasIdent,
			shape: shapes.intern(names), first: l.selFirst,
			fate: l.fate, reason: l.reason, hasRsn: l.hasRsn,
		})
		if len(pool) < 4096 {
			pool = append(pool, j)
		}
	})
	if err != nil {
		return nil, err
	}
	for k, h := range hopsByID {
		nk := hopKey{k.flow, c.ProbeName(k.from), c.ProbeName(k.to)}
		if a := d.hops[nk]; a != nil {
			a.sum += h.sum
			a.n += h.n
		} else {
			d.hops[nk] = h
		}
	}
	slices.SortStableFunc(d.pkts, func(a, b diffPkt) int { return cmp.Compare(a.first, b.first) })
	return d, nil
}

// matchKey identifies one packet of a flow across captures by its payload
// identity (IP ID, TCP seq/ack, ICMP id/seq) and the occurrence of that
// identity.
type matchKey struct {
	flow     int32
	ident    uint64
	occurred int
}

// matchPackets pairs the packets of g with those of b: first by flow and
// payload identity, then the packets left over in each flow (no identity,
// or one that differs between the runs, as IPv4 IDs of UDP datagrams do)
// by their order within the flow. pair[i] is the index in b of g's packet
// i (-1 when it has no partner); byID[i] says it was paired by identity.
func matchPackets(g, b *diffSide) (pair []int, byID []bool, matchedBad []bool) {
	pair = make([]int, len(g.pkts))
	byID = make([]bool, len(g.pkts))
	matchedBad = make([]bool, len(b.pkts))
	identKeys := func(d *diffSide) []matchKey {
		ks := make([]matchKey, len(d.pkts))
		seen := map[matchKey]int{}
		for i, p := range d.pkts {
			if !p.hasIdent {
				ks[i].flow = -1
				continue
			}
			k := matchKey{flow: p.flow, ident: p.ident}
			k.occurred = seen[k]
			seen[k]++
			ks[i] = k
		}
		return ks
	}
	bIndex := map[matchKey]int{}
	for j, k := range identKeys(b) {
		if k.flow >= 0 {
			bIndex[k] = j
		}
	}
	for i, k := range identKeys(g) {
		pair[i] = -1
		if k.flow < 0 {
			continue
		}
		if j, ok := bIndex[k]; ok {
			pair[i], byID[i], matchedBad[j] = j, true, true
		}
	}
	// The rest, flow by flow, in order.
	rest := map[int32][]int{}
	for j := range b.pkts {
		if !matchedBad[j] {
			rest[b.pkts[j].flow] = append(rest[b.pkts[j].flow], j)
		}
	}
	for i := range g.pkts {
		if pair[i] >= 0 {
			continue
		}
		f := g.pkts[i].flow
		if q := rest[f]; len(q) > 0 {
			pair[i], matchedBad[q[0]] = q[0], true
			rest[f] = q[1:]
		}
	}
	return pair, byID, matchedBad
}

// Diff compares the skb journeys of two captures of the same traffic and
// reports, per flow, packets present in only one, where matched packets'
// paths diverge, the bad run's drop reasons and hops whose latency
// changed. It returns whether the captures differ.
func Diff(w io.Writer, good, bad *Capture, o *DiffOptions) (bool, error) {
	if o == nil {
		o = &DiffOptions{}
	}
	r, err := CompareCaptures(good, bad, o)
	if err != nil {
		return false, err
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return false, fmt.Errorf("write output: %w", err)
		}
		return !r.Summary.Same, nil
	}
	if err := writeDiff(w, r, o); err != nil {
		return false, err
	}
	return !r.Summary.Same, nil
}

// CompareCaptures computes the [DiffReport] that [Diff] writes.
func CompareCaptures(good, bad *Capture, o *DiffOptions) (*DiffReport, error) {
	threshold := uint64(o.LatencyThreshold)
	if threshold == 0 {
		threshold = uint64(10 * time.Microsecond)
	}
	ratio := o.LatencyRatio
	if ratio <= 1 {
		ratio = 1.5
	}
	ctxN := o.Context
	if ctxN <= 0 {
		ctxN = 3
	}
	shapes := &shapeTable{ids: map[string]int32{}}
	flows := &flowTable{ids: map[format.Tuple]int32{}}
	g, err := collectDiffSide(good, &o.Filter, shapes, flows)
	if err != nil {
		return nil, err
	}
	b, err := collectDiffSide(bad, &o.Filter, shapes, flows)
	if err != nil {
		return nil, err
	}
	pair, byID, matchedBad := matchPackets(g, b)
	type flowAcc struct {
		fd    FlowDiff
		divs  map[[2]int32]*Divergence
		drops map[uint32]int
	}
	accs := make([]*flowAcc, len(flows.tuple))
	acc := func(f int32) *flowAcc {
		if accs[f] == nil {
			accs[f] = &flowAcc{divs: map[[2]int32]*Divergence{}, drops: map[uint32]int{}}
			accs[f].fd.Flow = string(appendTuple(nil, &flows.tuple[f], 0, false))
		}
		return accs[f]
	}
	r := &DiffReport{}
	sm := &r.Summary
	sm.GoodPackets, sm.BadPackets = len(g.pkts), len(b.pkts)
	for i := range g.pkts {
		gp := &g.pkts[i]
		a := acc(gp.flow)
		a.fd.GoodPackets++
		j := pair[i]
		if j < 0 {
			a.fd.OnlyGood++
			sm.OnlyGood++
			continue
		}
		bp := &b.pkts[j]
		sm.Matched++
		if byID[i] {
			sm.MatchedByID++
		} else {
			sm.MatchedByOrd++
		}
		if gp.shape == bp.shape && gp.fate == bp.fate && gp.reason == bp.reason {
			a.fd.SamePath++
			sm.SamePath++
			continue
		}
		sm.Diverged++
		dk := [2]int32{gp.shape, bp.shape}
		dv := a.divs[dk]
		if dv == nil {
			dv = divergence(shapes.names[gp.shape], shapes.names[bp.shape], ctxN)
			dv.GoodEnd = fateName(good, gp)
			dv.BadEnd = fateName(bad, bp)
			a.divs[dk] = dv
		}
		dv.Packets++
	}
	for j := range b.pkts {
		bp := &b.pkts[j]
		a := acc(bp.flow)
		a.fd.BadPackets++
		if bp.fate == FateDropped && bp.hasRsn {
			a.drops[bp.reason]++
		}
		if !matchedBad[j] {
			a.fd.OnlyBad++
			sm.OnlyBad++
		}
	}
	// Hop latency per flow.
	for k, gh := range g.hops {
		bh := b.hops[k]
		if bh == nil || gh.n == 0 || bh.n == 0 {
			continue
		}
		gm, bm := gh.sum/uint64(gh.n), bh.sum/uint64(bh.n)
		lo, hi := min(gm, bm), max(gm, bm)
		if hi-lo < threshold || float64(hi) < ratio*float64(lo) {
			continue
		}
		a := acc(k.flow)
		a.fd.Latency = append(a.fd.Latency, HopLatency{From: k.from, To: k.to, GoodNs: gm, BadNs: bm, GoodN: gh.n, BadN: bh.n})
		sm.LatencyHops++
	}
	for _, a := range accs {
		if a == nil {
			continue
		}
		for _, dv := range a.divs {
			a.fd.Divergences = append(a.fd.Divergences, *dv)
		}
		slices.SortFunc(a.fd.Divergences, func(x, y Divergence) int {
			if d := cmp.Compare(y.Packets, x.Packets); d != 0 {
				return d
			}
			return cmp.Compare(strings.Join(x.Bad, ","), strings.Join(y.Bad, ","))
		})
		for v, n := range a.drops {
			name, ok := bad.DropReason(v)
			if !ok {
				name = strconv.FormatUint(uint64(v), 10)
			}
			a.fd.BadDrops = append(a.fd.BadDrops, ReasonN{Reason: name, Count: n})
		}
		slices.SortFunc(a.fd.BadDrops, func(x, y ReasonN) int {
			if d := cmp.Compare(y.Count, x.Count); d != 0 {
				return d
			}
			return cmp.Compare(x.Reason, y.Reason)
		})
		slices.SortFunc(a.fd.Latency, func(x, y HopLatency) int {
			return cmp.Or(cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
		})
		sm.Flows++
		differs := a.fd.OnlyGood > 0 || a.fd.OnlyBad > 0 || len(a.fd.Divergences) > 0 || len(a.fd.Latency) > 0
		if differs {
			sm.FlowsDiffer++
			r.Flows = append(r.Flows, a.fd)
		}
	}
	// Most affected flows first.
	slices.SortStableFunc(r.Flows, func(x, y FlowDiff) int {
		wx := x.OnlyGood + x.OnlyBad + x.GoodPackets - x.SamePath
		wy := y.OnlyGood + y.OnlyBad + y.GoodPackets - y.SamePath
		return cmp.Or(cmp.Compare(wy, wx), cmp.Compare(x.Flow, y.Flow))
	})
	sm.Same = sm.FlowsDiffer == 0
	if r.Flows == nil {
		r.Flows = []FlowDiff{}
	}
	return r, nil
}

func fateName(c *Capture, p *diffPkt) string {
	s := p.fate.String()
	if p.fate == FateDropped && p.hasRsn {
		r, ok := c.DropReason(p.reason)
		if !ok {
			r = strconv.FormatUint(uint64(p.reason), 10)
		}
		s += " (" + r + ")"
	}
	return s
}

// divergence describes where two function sequences part.
func divergence(g, b []string, ctxN int) *Divergence {
	i := 0
	for i < len(g) && i < len(b) && g[i] == b[i] {
		i++
	}
	d := &Divergence{}
	if i > 0 {
		d.After = g[i-1]
	}
	d.Context = slices.Clone(g[max(0, i-ctxN):i])
	const tail = 6
	d.Good = slices.Clone(g[i:min(len(g), i+tail)])
	d.Bad = slices.Clone(b[i:min(len(b), i+tail)])
	if d.Good == nil {
		d.Good = []string{}
	}
	if d.Bad == nil {
		d.Bad = []string{}
	}
	return d
}

func writeDiff(w io.Writer, r *DiffReport, o *DiffOptions) error {
	gn, bn := o.GoodName, o.BadName
	if gn == "" {
		gn = "good"
	}
	if bn == "" {
		bn = "bad"
	}
	var sb strings.Builder
	s := r.Summary
	if s.Same {
		fmt.Fprintf(&sb, "same: %d flows, %d packets matched, identical paths\n", s.Flows, s.Matched)
	} else {
		fmt.Fprintf(&sb, "different: %d of %d flows differ\n", s.FlowsDiffer, s.Flows)
	}
	fmt.Fprintf(&sb, "packets: %s %d, %s %d; matched %d (%d by packet id, %d by order): %d same path, %d diverged; only in %s %d, only in %s %d; latency changes %d\n",
		gn, s.GoodPackets, bn, s.BadPackets, s.Matched, s.MatchedByID, s.MatchedByOrd, s.SamePath, s.Diverged, gn, s.OnlyGood, bn, s.OnlyBad, s.LatencyHops)
	for _, f := range r.Flows {
		fmt.Fprintf(&sb, "\nflow %s: %s %d, %s %d packets; %d same path", f.Flow, gn, f.GoodPackets, bn, f.BadPackets, f.SamePath)
		if f.OnlyGood > 0 {
			fmt.Fprintf(&sb, "; %d only in %s", f.OnlyGood, gn)
		}
		if f.OnlyBad > 0 {
			fmt.Fprintf(&sb, "; %d only in %s", f.OnlyBad, bn)
		}
		sb.WriteString("\n")
		for _, d := range f.Divergences {
			where := "at the first function"
			if d.After != "" {
				where = "after " + d.After
			}
			fmt.Fprintf(&sb, "  %d packet%s diverge %s:\n", d.Packets, plural(d.Packets), where)
			ctx := ""
			if len(d.Context) > 0 {
				ctx = "... " + strings.Join(d.Context, " > ") + " > "
			}
			lw := max(len(gn), len(bn)) + 1
			fmt.Fprintf(&sb, "    %-*s %s[%s] -> %s\n", lw, gn+":", ctx, strings.Join(d.Good, " > "), d.GoodEnd)
			fmt.Fprintf(&sb, "    %-*s %s[%s] -> %s\n", lw, bn+":", ctx, strings.Join(d.Bad, " > "), d.BadEnd)
		}
		if len(f.BadDrops) > 0 {
			parts := make([]string, len(f.BadDrops))
			for i, d := range f.BadDrops {
				parts[i] = fmt.Sprintf("%s x%d", d.Reason, d.Count)
			}
			fmt.Fprintf(&sb, "  drops in %s: %s\n", bn, strings.Join(parts, ", "))
		}
		for _, h := range f.Latency {
			delta := int64(h.BadNs) - int64(h.GoodNs)
			sign := "+"
			if delta < 0 {
				sign = "-"
				delta = -delta
			}
			fmt.Fprintf(&sb, "  latency %s -> %s: %v -> %v (%s%v, x%.1f)\n", h.From, h.To,
				time.Duration(h.GoodNs), time.Duration(h.BadNs), sign, time.Duration(delta), float64(h.BadNs)/float64(max(h.GoodNs, 1)))
		}
	}
	if _, err := io.WriteString(w, sb.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
