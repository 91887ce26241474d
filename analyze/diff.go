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

	"github.com/pwru-record/pwru-record/analyze/internal/render"
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

// Diff compares the skb journeys of two captures of the same traffic and
// reports, per flow, packets present in only one, where matched packets'
// paths diverge, the bad run's drop reasons and hops whose latency
// changed. It returns whether the captures differ.
//
// Both captures are read at once, each on its own goroutine, and a packet
// is matched as soon as its journey ends: with the other capture's waiting
// packet of the same flow and identity (IP ID, TCP seq/ack, ICMP id/seq;
// equal identities pair first with first), else by order within the flow
// with the other capture's oldest packet that gave up on an identity
// partner. A waiting packet gives up when the other capture has ended, has
// completed 256 more packets of the flow than the packet's position in
// it, or 8192 packets none of the flow since the packet arrived, or when
// its own capture has completed 1024 packets of the flow after it, or
// when more than 65536 packets of its capture wait and it is among the
// old ones; then it pairs by order, or counts as only in its capture. The reader that is
// ahead (more packets waiting in flows both captures have) waits for the
// other. Memory is bounded by the skbs alive in each capture and those
// windows, plus an aggregate per flow and per distinct path, not by the
// length of the captures.
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
	tables := newDiffTables()
	acc := &diffAcc{}
	hops, err := streamDiff(good, bad, &o.Filter, tables, acc)
	if err != nil {
		return nil, err
	}
	r := &DiffReport{Summary: acc.sum}
	sm := &r.Summary
	// Hop latency per flow.
	for k, gh := range hops[0] {
		bh := hops[1][k]
		if bh == nil || gh.n == 0 || bh.n == 0 {
			continue
		}
		gm, bm := gh.sum/uint64(gh.n), bh.sum/uint64(bh.n)
		lo, hi := min(gm, bm), max(gm, bm)
		if hi-lo < threshold || float64(hi) < ratio*float64(lo) {
			continue
		}
		a := acc.flow(k.flow)
		a.fd.Latency = append(a.fd.Latency, HopLatency{From: k.from, To: k.to, GoodNs: gm, BadNs: bm, GoodN: gh.n, BadN: bh.n})
		sm.LatencyHops++
	}
	for f, a := range acc.flows {
		if a == nil {
			continue
		}
		a.fd.Flow = render.Flow(&tables.flows.tuple[f])
		for k, dv := range a.divs {
			d := divergence(tables.shapes.names[k[0]], tables.shapes.names[k[1]], ctxN)
			d.Packets = dv.n
			d.GoodEnd = fateName(good, dv.good.fate, dv.good.reason, dv.good.hasRsn)
			d.BadEnd = fateName(bad, dv.bad.fate, dv.bad.reason, dv.bad.hasRsn)
			a.fd.Divergences = append(a.fd.Divergences, *d)
		}
		slices.SortFunc(a.fd.Divergences, func(x, y Divergence) int {
			return cmp.Or(cmp.Compare(y.Packets, x.Packets),
				cmp.Compare(strings.Join(x.Bad, ","), strings.Join(y.Bad, ",")),
				cmp.Compare(strings.Join(x.Good, ","), strings.Join(y.Good, ",")),
				cmp.Compare(x.After, y.After), cmp.Compare(x.BadEnd, y.BadEnd), cmp.Compare(x.GoodEnd, y.GoodEnd))
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

func fateName(c *Capture, fate Fate, reason uint32, hasRsn bool) string {
	s := fate.String()
	if fate == FateDropped && hasRsn {
		r, ok := c.DropReason(reason)
		if !ok {
			r = strconv.FormatUint(uint64(reason), 10)
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
			fmt.Fprintf(&sb, "  %d packet%s diverge %s:\n", d.Packets, render.Plural(d.Packets), where)
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
