package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/vmtest/vmbench/benchres"
)

// lean is the -lean configuration: the guest runs the lean scenario
// (ablation rows and cilium/pwru) instead of the bench.
type lean struct {
	on, concurrent bool
	backends       []string
	ablate         []string
	pwru           string // host path of the cilium/pwru binary ("" = none)
}

// files adds the scenario's configuration (written to dir) and the pwru
// binary to the guest's files.
func (l *lean) files(dir string, files map[string]string) error {
	cfg := benchres.LeanConfig{Backends: l.backends, Ablate: l.ablate, Pwru: l.pwru != "", Baseline: baseline != "", Concurrent: l.concurrent}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode lean config: %w", err)
	}
	path := filepath.Join(dir, "lean-config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write lean config: %w", err)
	}
	files[benchres.LeanConfigPath] = path
	if l.pwru != "" {
		files[benchres.LeanPwruPath] = l.pwru
	}
	return nil
}

var leanColumns = []string{
	"kernel", "run", "attached (s)",
	"paced: BPF ns/run (runs/pkt)", "paced: events written per packet",
	"flood: BPF ns/run", "flood: sender pkt/s (untraced ÷ traced)",
	"flood: events written (share of sent × the paced events/pkt of the same backend's defaults)", "flood: lost (counted: ring buffer, recursion misses)",
	"ns/run vs pwru-record defaults, same backend (paced, flood)",
}

var reAblate = regexp.MustCompile(`--debug-ablate`)

// leanRow is one run's cells; nsPaced/nsFlood for the ratios.
type leanRow struct {
	name             string
	cells            []string
	nsPaced, nsFlood float64
	perPkt           float64 // paced events written per packet
	isDefault        bool
	backend, tool    string
	err              string
}

// printLean reads the lean results in dir and prints their table.
func printLean(w io.Writer, series, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, benchres.LeanFile))
	if err != nil {
		fmt.Fprintf(w, "| %s | not measured: %v |\n", series, err)
		return
	}
	var r benchres.LeanResults
	if err := json.Unmarshal(b, &r); err != nil {
		fmt.Fprintf(w, "| %s | not measured: decode lean results: %v |\n", series, err)
		return
	}
	var untraced float64
	var ups []string
	for _, u := range r.Untraced {
		ups = append(ups, fmt.Sprintf("%.0f", pps(u.Flood)))
		untraced += pps(u.Flood)
	}
	if len(r.Untraced) > 0 {
		untraced /= float64(len(r.Untraced))
	}
	fmt.Fprintf(w, "\n%s (%s), backend %s, filter %q: %d datagrams paced at %d/s, then a %v unpaced flood; untraced flood %s pkt/s (before, after)\n\n",
		series, r.Kernel, r.Backend, r.Filter, r.PacedPackets, r.PacedRate, r.FloodTime, strings.Join(ups, ", "))
	var rows []leanRow
	defPaced, defFlood := map[string][]float64{}, map[string][]float64{}
	refs := refsPerPkt(r.Runs, dir, r.Backend)
	for _, run := range r.Runs {
		lr := leanCells(&run, dir, untraced, refs)
		if lr.isDefault && lr.err == "" {
			defPaced[lr.backend] = append(defPaced[lr.backend], lr.nsPaced)
			defFlood[lr.backend] = append(defFlood[lr.backend], lr.nsFlood)
		}
		rows = append(rows, lr)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		if len(v) == 0 {
			return 0
		}
		return s / float64(len(v))
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(leanColumns, " | "), strings.Repeat("---|", len(leanColumns)))
	for _, lr := range rows {
		dp, df := mean(defPaced[lr.backend]), mean(defFlood[lr.backend])
		if lr.tool == "pwru" {
			dp, df = mean(defPaced[r.Backend]), mean(defFlood[r.Backend])
		}
		cells := lr.cells
		if lr.err != "" {
			cells = []string{lr.err}
			for len(cells) < len(leanColumns)-3 {
				cells = append(cells, "-")
			}
		} else if dp > 0 && df > 0 {
			cells = append(cells, fmt.Sprintf("%.2f×, %.2f× (%+.0f, %+.0f ns)", lr.nsPaced/dp, lr.nsFlood/df, lr.nsPaced-dp, lr.nsFlood-df))
		} else {
			cells = append(cells, "-")
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", series, lr.name, strings.Join(cells, " | "))
	}
	if len(r.Concurrent) > 0 {
		printConcurrent(w, series, &r, dir)
	}
}

var concColumns = []string{
	"kernel", "attached side by side", "paced: BPF ns/run (runs/pkt)", "flood: BPF ns/run",
	"vs the defaults' mean, same backend (paced, flood)", "paced: events written per packet", "lost",
}

// printConcurrent prints the runs attached all at once: each one's ns/run
// against the mean of the defaults (first and last attached).
func printConcurrent(w io.Writer, series string, r *benchres.LeanResults, dir string) {
	fmt.Fprintf(w, "\nAttached all at once (same instants, same packets; %d sent paced, then the flood):\n\n", r.Concurrent[0].Paced.Sent)
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(concColumns, " | "), strings.Repeat("---|", len(concColumns)))
	var rows []leanRow
	defPaced, defFlood := map[string][]float64{}, map[string][]float64{}
	refs := refsPerPkt(r.Concurrent, dir, r.Backend)
	for _, run := range r.Concurrent {
		lr := leanCells(&run, dir, 0, refs)
		if lr.isDefault && lr.err == "" {
			defPaced[lr.backend] = append(defPaced[lr.backend], lr.nsPaced)
			defFlood[lr.backend] = append(defFlood[lr.backend], lr.nsFlood)
		}
		rows = append(rows, lr)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(max(len(v), 1))
	}
	for _, lr := range rows {
		if lr.err != "" {
			fmt.Fprintf(w, "| %s | %s | %s | - | - | - | - |\n", series, lr.name, lr.err)
			continue
		}
		b := lr.backend
		if lr.tool == "pwru" {
			b = r.Backend
		}
		dp, df := mean(defPaced[b]), mean(defFlood[b])
		vs := "-"
		if dp > 0 && df > 0 {
			vs = fmt.Sprintf("%.2f×, %.2f× (%+.0f, %+.0f ns)", lr.nsPaced/dp, lr.nsFlood/df, lr.nsPaced-dp, lr.nsFlood-df)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s |\n", series, lr.name, lr.cells[1], lr.nsFlood, vs, lr.cells[2], lr.cells[6])
	}
}

// leanCells reads one run's figures. refs holds the paced events per
// packet of the defaults (see refsPerPkt; nil = none yet): the flood's
// share written is counted against those of the run's own backend (a
// backend recording more or fewer events per packet is not a loss), the
// paced events per packet against the first defaults'.
func leanCells(run *benchres.LeanRun, dir string, untraced float64, refs *perPktRefs) leanRow {
	lr := leanRow{name: run.Name, backend: argValue(run.Args, "--backend"), tool: run.Tool, isDefault: run.Tool == "pwru-record" && run.Bin == "" && !reAblate.MatchString(strings.Join(run.Args, " "))}
	if lr.backend == "auto" {
		if m := reAutoChoice.FindStringSubmatch(run.Stderr); m != nil {
			lr.name = strings.Replace(lr.name, "auto", "auto ("+m[1]+")", 1)
		}
	}
	var ref, first float64
	firstName := "pwru-record"
	if refs != nil {
		ref, first = refs.of(lr), refs.byBackend[refs.firstBackend]
		if len(refs.byBackend) > 1 {
			firstName = refs.firstBackend
		}
	}
	if run.Error != "" {
		lr.err = "not measured: " + firstLine(run.Error)
		return lr
	}
	var paced, flood uint64
	if run.Tool == "pwru" {
		paced, flood = run.LinesPaced, run.LinesFlood
	} else {
		f, err := format.Open(filepath.Join(dir, run.Output), nil)
		if err != nil {
			lr.err = fmt.Sprintf("not measured: capture: %v", err)
			return lr
		}
		var ev format.Event
		it := f.Events(nil)
		for it.Next(&ev) {
			switch {
			case ev.Time >= run.Paced.Start && ev.Time < run.Paced.End:
				paced++
			case ev.Time >= run.Flood.Start && ev.Time < run.Flood.End:
				flood++
			}
		}
		err = it.Err()
		f.Close()
		if err != nil {
			lr.err = fmt.Sprintf("not measured: read capture: %v", err)
			return lr
		}
	}
	ns := func(st benchres.Step) float64 {
		if st.ProgRuns == 0 {
			return 0
		}
		return float64(st.ProgRuntime) / float64(st.ProgRuns)
	}
	lr.nsPaced, lr.nsFlood = ns(run.Paced), ns(run.Flood)
	lr.perPkt = float64(paced) / float64(max(run.Paced.Sent, 1))
	perPkt := float64(paced) / float64(max(run.Paced.Sent, 1))
	expect := ref * float64(run.Flood.Sent)
	share := "-"
	if expect > 0 {
		share = fmt.Sprintf("%.1f%%", 100*float64(flood)/expect)
	}
	lost := "not counted (no loss counter)"
	if run.Tool != "pwru" {
		lost = fmt.Sprintf("%d, %d", run.Flood.Lost, run.Flood.Misses)
		if !run.Flood.Counted {
			lost = "?"
		}
	}
	lr.cells = []string{
		fmt.Sprintf("%.2f", run.Ready.Seconds()),
		fmt.Sprintf("%.0f (%.1f)", lr.nsPaced, float64(run.Paced.ProgRuns)/float64(max(run.Paced.Sent, 1))),
		fmt.Sprintf("%.1f (%d events, %d sent; %.1f%% of %s's)", perPkt, paced, run.Paced.Sent, 100*perPkt/max(first, 1e-9), firstName),
		fmt.Sprintf("%.0f", lr.nsFlood),
		fmt.Sprintf("%.0f (%.2f×)", pps(run.Flood), ratio(untraced, pps(run.Flood))),
		fmt.Sprintf("%d (%s)", flood, share),
		lost,
	}
	return lr
}

// argValue returns the value after flag in args ("" = none).
func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// reAutoChoice finds the backend --backend auto took in the recorder's
// log.
var reAutoChoice = regexp.MustCompile(`backend auto: ([^(\n]+?) \(`)

// perPktRefs are the paced events per packet of the pwru-record runs with
// the defaults: the first of each backend, and the first of all.
type perPktRefs struct {
	byBackend    map[string]float64
	firstBackend string // the first defaults' backend (byBackend empty: none)
	pwruBackend  string // cilium/pwru's backend: its runs are counted against this one's
}

// of is the reference of lr's backend (cilium/pwru: pwruBackend's), else
// the first defaults' (0: none).
func (r *perPktRefs) of(lr leanRow) float64 {
	b := lr.backend
	if lr.tool == "pwru" {
		b = r.pwruBackend
	}
	if v, ok := r.byBackend[b]; ok {
		return v
	}
	return r.byBackend[r.firstBackend]
}

// refsPerPkt reads the references of runs; pwruBackend is cilium/pwru's
// backend.
func refsPerPkt(runs []benchres.LeanRun, dir, pwruBackend string) *perPktRefs {
	refs := &perPktRefs{byBackend: map[string]float64{}, pwruBackend: pwruBackend}
	for _, run := range runs {
		lr := leanCells(&run, dir, 0, nil)
		if !lr.isDefault || lr.err != "" {
			continue
		}
		if _, ok := refs.byBackend[lr.backend]; ok {
			continue
		}
		if len(refs.byBackend) == 0 {
			refs.firstBackend = lr.backend
		}
		refs.byBackend[lr.backend] = lr.perPkt
	}
	return refs
}
