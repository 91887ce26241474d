//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// env is what a scenario function gets.
type env struct {
	ctx      context.Context
	dir      string // /out/<scenario>
	recorder string // path of pwru-record
	backend  string // -backend: added to recorder runs as --backend (see withBackend); "" = the recorder's default
	rep      *report.Scenario
	cleanups []func()
	last     time.Time
}

// step records the time since the previous step under name.
func (e *env) step(name string) {
	now := time.Now()
	e.rep.Steps = append(e.rep.Steps, report.Step{Name: name, Took: now.Sub(e.last)})
	e.last = now
	logf("%s: %s (%.2fs)", e.rep.Name, name, e.rep.Steps[len(e.rep.Steps)-1].Took.Seconds())
}

func (e *env) cleanup(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *env) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	e.rep.Log = append(e.rep.Log, s)
	logf("%s: %s", e.rep.Name, s)
}

func (e *env) value(name string, v uint64) {
	if e.rep.Values == nil {
		e.rep.Values = map[string]uint64{}
	}
	e.rep.Values[name] = v
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "guest: "+format+"\n", args...)
}

type scenarioFunc func(e *env) error

var scenarios = map[string]scenarioFunc{
	"harness":   scenarioHarness,
	"icmp":      scenarioICMP,
	"drop":      scenarioDrop,
	"track":     scenarioTrack,
	"tcxdp":     scenarioTCXDP,
	"bpfmap":    scenarioBPFMap,
	"output":    scenarioOutput,
	"stackecho": scenarioStackEcho,
	"clones":    scenarioClones,
	"diff":      scenarioDiff,
	"faults":    scenarioFaults,
	"load":      scenarioLoad,
	"demo":      scenarioDemo,
	"bench":     scenarioBench,
	"lean":      scenarioLean,
	"skbexpr":   scenarioSKBExpr,
	"nonskb":    scenarioNonSKB,
	"stackid":   scenarioStackID,
	"helpers":   scenarioHelpers,
	"nospace":   scenarioDiskFull,
	"rotate":    scenarioRotate,
	"flight":    scenarioFlight,
	"backends":  scenarioBackends,
	"tmulti":    scenarioTracingMulti,
	"privdrop":  scenarioPrivDrop,
}

func main() {
	recorder := flag.String("recorder", "/bin/pwru-record", "path of the recorder")
	out := flag.String("out", "/out", "output directory")
	list := flag.String("scenarios", "", "comma-separated scenarios to run")
	timeout := flag.Duration("timeout", 20*time.Minute, "time limit per scenario")
	backend := flag.String("backend", "", "add --backend NAME to every recorder run that neither chooses its own --backend nor uses an option the fentry backend refuses (\"\" = the recorder's default)")
	flag.Parse()
	// Kernels that charge BPF memory to RLIMIT_MEMLOCK (before 5.11)
	// count it per user: the recorder's maps, also root's, would leave the
	// scenarios' own programs and maps without room.
	if err := rlimit.RemoveMemlock(); err != nil {
		fmt.Fprintf(os.Stderr, "guest: remove memlock limit: %v\n", err)
	}

	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	failed := 0
	t := time.Now()
	feats := probeFeatures()
	logf("feature probes took %.2fs", time.Since(t).Seconds())
	if err := os.MkdirAll(*out, 0o755); err != nil {
		logf("%v", err)
		os.Exit(2)
	}
	if err := report.WriteFeatures(filepath.Join(*out, report.FeaturesFile), feats); err != nil {
		logf("%v", err)
		failed++
	}
	for _, name := range strings.Split(*list, ",") {
		if name == "" {
			continue
		}
		fn, ok := scenarios[name]
		if !ok {
			logf("unknown scenario %q", name)
			failed++
			continue
		}
		dir := filepath.Join(*out, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			logf("%v", err)
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		e := &env{ctx: ctx, dir: dir, recorder: *recorder, backend: *backend, last: time.Now(),
			rep: &report.Scenario{Name: name, Kernel: release, Netns: map[string]uint32{}}}
		start := time.Now()
		logf("%s: start", name)
		err := runScenario(fn, e)
		cancel()
		if err != nil {
			e.rep.Error = err.Error()
			logf("%s: error: %v", name, err)
		}
		e.rep.Steps = append(e.rep.Steps, report.Step{Name: "total", Took: time.Since(start)})
		if err := report.Write(filepath.Join(dir, report.FileName), e.rep); err != nil {
			logf("%v", err)
			failed++
		}
		logf("%s: done in %.1fs", name, time.Since(start).Seconds())
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// runScenario runs fn and its cleanups, turning a panic into an error.
func runScenario(fn scenarioFunc, e *env) (err error) {
	defer func() {
		for i := len(e.cleanups) - 1; i >= 0; i-- {
			e.cleanups[i]()
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(e)
}
