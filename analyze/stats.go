package analyze

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// StatsOptions tune [Stats].
type StatsOptions struct {
	Filter Filter
	// Top bounds each table (0 = 20; JSON lists everything).
	Top int
	// JSON writes the [StatsResult] as one JSON document (see JSON.md).
	JSON bool
}

// latencyHist is a log-linear histogram of nanosecond values: exact below
// 64 ns, then 32 buckets per power of two, each at most 1/32 of its value
// wide; a percentile is reported as its bucket's midpoint, so within 1/64
// (1.6%) of the exact value, while the memory stays fixed (32 KiB)
// whatever the number of skbs. min, max and mean are exact.
type latencyHist struct {
	counts [64 * 64]uint64
	n      uint64
	min    uint64
	max    uint64
	sum    uint64
}

func histBucket(v uint64) int {
	if v < 64 {
		return int(v)
	}
	e := bits.Len64(v) - 6 // v >> e is in [32, 64)
	return e*32 + int(v>>uint(e))
}

func histValue(b int) uint64 {
	if b < 64 {
		return uint64(b)
	}
	e := b/32 - 1
	m := uint64(b%32 + 32)
	return m << uint(e)
}

func (h *latencyHist) add(v uint64) {
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
	h.counts[histBucket(v)]++
}

// quantile returns the q-quantile (0..1).
func (h *latencyHist) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			v := histValue(b)
			if b >= 64 {
				// middle of the bucket
				v += histValue(b+1)/2 - v/2
			}
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.max
}

// ifCounter counts events per (netns, ifindex). A capture has few
// interfaces while consecutive events often switch between them, so a
// direct-mapped cache of counters spares a map operation per event: a
// slot counts its key's events until another key takes it (addSlow) or
// the counts are read (flush).
type ifCounter struct {
	slots  [64]ifCount
	keys   []ifKey
	counts []uint64 // by index in keys; without what the slots hold
	index  map[ifKey]int
}

// ifCount is a slot of ifCounter: key (netns<<32 | ifindex), 1 + its
// index in keys (0: empty slot), and the events counted here.
type ifCount struct {
	key uint64
	idx int
	n   uint64
}

// inc counts k when its slot holds it (small enough to be inlined into
// the per-event loop) and reports whether it did.
func (c *ifCounter) inc(k ifKey) bool {
	key := uint64(k.netns)<<32 | uint64(k.ifindex)
	if s := &c.slots[ifSlot(key)]; s.key == key && s.idx != 0 {
		s.n++
		return true
	}
	return false
}

// ifSlot is the slot of key.
func ifSlot(key uint64) uint64 { return (key * 0x9e3779b97f4a7c15) >> 58 }

// addSlow counts k when inc did not: it finds or adds its index and
// puts it in its slot, whose previous count it flushes.
func (c *ifCounter) addSlow(k ifKey) {
	key := uint64(k.netns)<<32 | uint64(k.ifindex)
	s := &c.slots[ifSlot(key)]
	if s.idx != 0 {
		c.counts[s.idx-1] += s.n
	}
	i, ok := c.index[k]
	if !ok {
		if c.index == nil {
			c.index = map[ifKey]int{}
		}
		i = len(c.keys)
		c.keys = append(c.keys, k)
		c.counts = append(c.counts, 0)
		c.index[k] = i
	}
	*s = ifCount{key: key, idx: i + 1, n: 1}
}

// flush adds the slots' counts to counts.
func (c *ifCounter) flush() {
	for i := range c.slots {
		if s := &c.slots[i]; s.idx != 0 {
			c.counts[s.idx-1] += s.n
			s.n = 0
		}
	}
}

// StatsResult holds what [Stats] counted; Write renders it.
type StatsResult struct {
	Events    uint64            `json:"events"`
	SKBs      uint64            `json:"skbs"`
	PerFunc   map[string]uint64 `json:"functions"`    // events per function
	PerReason map[string]uint64 `json:"drop_reasons"` // dropped skbs per reason
	PerFate   map[string]uint64 `json:"fates"`        // skbs per fate
	PerFlow   map[string]uint64 `json:"flows"`        // skbs per flow tuple
	PerIface  map[string]uint64 `json:"interfaces"`   // events per interface@netns
	PerNetns  map[string]uint64 `json:"netns"`        // events per netns
	Latency   StatsLatency      `json:"latency"`
}

// StatsLatency summarizes the per-skb latency (first to last event), in ns
// in JSON.
type StatsLatency struct {
	Count uint64        `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	Max   time.Duration `json:"max_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
}

// CollectStats counts the selected events per function, drop reason, flow,
// netns and interface, and the per-skb latency from first to last event.
//
// Its memory is bounded by the skbs in flight (the lifetime tracker) plus
// the distinct functions, drop reasons, flows and interfaces counted: the
// latencies go into a fixed-size histogram, not a list. Only the fields
// it reads are decoded (format.IterOptions.Fields).
func CollectStats(c *Capture, flt *Filter) (*StatsResult, error) {
	return collectStats(c, flt, nil)
}

// collectStats is CollectStats; onEnd, when not nil, runs after every
// lifetime is counted (tests measure the heap there).
func collectStats(c *Capture, flt *Filter, onEnd func()) (*StatsResult, error) {
	s, err := newScanner(c, flt)
	if err != nil {
		return nil, err
	}
	s.project(format.FieldNetns | format.FieldIfindex)
	perProbe := make([]uint64, len(c.probes)+1)
	var perIf ifCounter
	perReason := map[uint32]uint64{}
	perFate := [4]uint64{}
	perFlow := map[format.Tuple]uint64{}
	var hist latencyHist
	var events, skbs uint64
	end := func(l *life) {
		if l.sel == 0 {
			return
		}
		skbs++
		hist.add(l.selLast - l.selFirst)
		perFate[l.fate]++
		if l.fate == FateDropped && l.hasRsn {
			perReason[l.reason]++
		}
		perFlow[l.selTuple]++
	}
	if onEnd != nil {
		count := end
		end = func(l *life) { count(l); onEnd() }
	}
	err = s.run(func(e *format.Event, l *life) error {
		events++
		if int(e.ProbeID) < len(perProbe) {
			perProbe[e.ProbeID]++
		} else {
			perProbe[0]++
		}
		if k := (ifKey{e.Netns, e.Ifindex}); !perIf.inc(k) {
			perIf.addSlow(k)
		}
		return nil
	}, end)
	if err != nil {
		return nil, err
	}
	r := &StatsResult{
		Events: events, SKBs: skbs,
		PerFunc: map[string]uint64{}, PerReason: map[string]uint64{}, PerFate: map[string]uint64{},
		PerFlow: map[string]uint64{}, PerIface: map[string]uint64{}, PerNetns: map[string]uint64{},
	}
	for id, n := range perProbe {
		if n > 0 {
			r.PerFunc[c.ProbeName(uint32(id))] += n
		}
	}
	for v, n := range perReason {
		name, ok := c.DropReason(v)
		if !ok {
			name = strconv.FormatUint(uint64(v), 10)
		}
		r.PerReason[name] += n
	}
	for f, n := range perFate {
		if n > 0 {
			r.PerFate[Fate(f).String()] = n
		}
	}
	for t, n := range perFlow {
		r.PerFlow[render.Flow(&t)] += n
	}
	perIf.flush()
	for i, k := range perIf.keys {
		n := perIf.counts[i]
		r.PerIface[c.ifaceText(k.netns, k.ifindex)] += n
		ns := strconv.FormatUint(uint64(k.netns), 10)
		if name := c.NetnsName(k.netns); name != "" {
			ns += " (" + name + ")"
		}
		r.PerNetns[ns] += n
	}
	r.Latency.Count = hist.n
	if hist.n > 0 {
		r.Latency.Min = time.Duration(hist.min)
		r.Latency.Max = time.Duration(hist.max)
		r.Latency.Mean = time.Duration(hist.sum / hist.n)
		r.Latency.P50 = time.Duration(hist.quantile(0.50))
		r.Latency.P90 = time.Duration(hist.quantile(0.90))
		r.Latency.P99 = time.Duration(hist.quantile(0.99))
		r.Latency.P999 = time.Duration(hist.quantile(0.999))
	}
	return r, nil
}

// Stats writes [CollectStats]'s tables.
func Stats(w io.Writer, c *Capture, o *StatsOptions) error {
	if o == nil {
		o = &StatsOptions{}
	}
	r, err := CollectStats(c, &o.Filter)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	top := o.Top
	if top <= 0 {
		top = 20
	}
	var b strings.Builder
	fmt.Fprintf(&b, "events: %d  skbs: %d\n", r.Events, r.SKBs)
	l := r.Latency
	fmt.Fprintf(&b, "\nper-skb latency (first to last event, %d skbs):\n", l.Count)
	if l.Count > 0 {
		fmt.Fprintf(&b, "  min %v  p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  mean %v\n", l.Min, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	}
	table(&b, "fates", "FATE", r.PerFate, r.SKBs, top)
	table(&b, "drop reasons", "REASON", r.PerReason, r.SKBs, top)
	table(&b, "functions", "FUNCTION", r.PerFunc, r.Events, top)
	table(&b, "flows (skbs)", "FLOW", r.PerFlow, r.SKBs, top)
	table(&b, "netns (events)", "NETNS", r.PerNetns, r.Events, top)
	table(&b, "interfaces (events)", "INTERFACE", r.PerIface, r.Events, top)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// table writes a count table sorted by count, then name.
func table(b *strings.Builder, title, col string, m map[string]uint64, total uint64, top int) {
	fmt.Fprintf(b, "\n%s:\n", title)
	if len(m) == 0 {
		b.WriteString("  (none)\n")
		return
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(x, y string) int {
		if d := cmp.Compare(m[y], m[x]); d != 0 {
			return d
		}
		return cmp.Compare(x, y)
	})
	fmt.Fprintf(b, "  %10s %6s  %s\n", "COUNT", "%", col)
	for i, k := range keys {
		if i == top {
			fmt.Fprintf(b, "  ... %d more\n", len(keys)-top)
			break
		}
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(m[k]) / float64(total)
		}
		fmt.Fprintf(b, "  %10d %5.1f%%  %s\n", m[k], pct, k)
	}
}
