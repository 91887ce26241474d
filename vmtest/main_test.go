//go:build vmtest

package vmtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/internal/testsupport/vm"
	"github.com/pwru-record/pwru-record/vmtest/report"
)

var (
	flagKernels   = flag.String("kernels", "all", "kernel series to boot, comma-separated, or all ("+strings.Join(vm.KnownSeries(), ", ")+")")
	flagScenarios = flag.String("scenarios", "default", "scenarios to run: default (those expected to pass), all, or a comma-separated list")
	flagKeep      = flag.String("keep", "", "copy each kernel's guest output (captures, reports, console) to this directory")
	flagTimeout   = flag.Duration("vm-timeout", 60*time.Minute, "time limit for one guest run")
	flagFixtures  = flag.String("fixtures", "", "when every test passed, copy the analyzer fixtures (see fixtures) into this directory, e.g. ../testdata/vm")
	flagParallel  = flag.Int("parallel-kernels", 2, "kernels booted at the same time (each guest uses one host core)")
	flagBackend   = flag.String("backend", "", "pass --backend NAME to the recorder runs of every scenario that chooses no backend itself and uses no option fentry refuses (the guest logs those it leaves alone); \"\" = the recorder's default")
	flagResults   = flag.String("results", "", "write the run's results (kernels, versions, features, test outcomes, wall times) to this file (default: "+report.ResultsFile+" in the module root, none with -backend; - = none)")
)

// scenario ties a guest scenario to its host test.
type scenario struct {
	name     string // guest scenario name and output directory
	test     string // the Go test that checks it
	recorder bool   // needs pwru-record
	replay   bool   // needs pwru-replay on the host
	// pending names what the scenario waits for; a pending scenario runs
	// only when -scenarios names it (or is all).
	pending string
}

// scenarios in guest execution order.
var scenarios = []scenario{
	{name: "harness", test: "TestHarness"},
	{name: "icmp", test: "TestICMP", recorder: true},
	{name: "faults", test: "TestFaults", recorder: true},
	{name: "drop", test: "TestDrop", recorder: true},
	{name: "output", test: "TestOutput", recorder: true, replay: true},
	{name: "stackecho", test: "TestStackEcho", recorder: true},
	{name: "diff", test: "TestDiff", recorder: true, replay: true},
	{name: "track", test: "TestTrack", recorder: true},
	{name: "clones", test: "TestClones", recorder: true},
	{name: "tcxdp", test: "TestTCXDP", recorder: true, replay: true},
	{name: "bpfmap", test: "TestBPFMap", recorder: true, replay: true},
	{name: "load", test: "TestLoad", recorder: true},
	{name: "skbexpr", test: "TestSKBExpr", recorder: true},
	{name: "stackid", test: "TestStackID", recorder: true},
	{name: "nonskb", test: "TestNonSKB", recorder: true},
	{name: "helpers", test: "TestBPFHelpers", recorder: true},
	{name: "nospace", test: "TestDiskFull", recorder: true, replay: true},
	{name: "rotate", test: "TestRotate", recorder: true, replay: true},
	{name: "flight", test: "TestFlight", recorder: true, replay: true},
	{name: "backends", test: "TestBackends", recorder: true},
	{name: "tmulti", test: "TestTracingMulti"},
	{name: "privdrop", test: "TestPrivDrop", recorder: true},
}

// kernelRun is the outcome of booting one kernel.
type kernelRun struct {
	series   string
	kernel   *vm.Kernel
	out      string // host directory with the guest's /out
	res      *vm.Result
	err      error
	wall     time.Duration    // fetch, initramfs, boot and scenarios
	features []report.Feature // what the guest probed (nil = no probe results)

	mu    sync.Mutex
	tests []report.TestResult
}

var (
	setupErr error
	selected = map[string]bool{}
	runs     []*kernelRun
	bins     = map[string]string{} // "guest", "pwru-record", "pwru-replay" -> host path
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "pwru-vmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	setupErr = setup(tmp)
	if setupErr != nil {
		fmt.Fprintf(os.Stderr, "vmtest: setup: %v\n", setupErr)
	}
	printTimings(time.Since(start))
	code := m.Run()
	printSummary(time.Since(start))
	if err := writeResults(start); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: results: %v\n", err)
	}
	if code == 0 && *flagFixtures != "" {
		if err := copyFixtures(*flagFixtures); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: fixtures: %v\n", err)
			return 1
		}
	}
	return code
}

// fixtures are the real captures kept in testdata/vm for the analyzer
// tests: kernel series, scenario, capture -> fixture name.
var fixtures = []struct{ series, scenario, capture, name string }{
	{"6.12", "icmp", "main.pwru", "icmp-6.12.pwru"},
	{"6.1", "drop", "main.pwru", "drop-6.1.pwru"},
	{"6.1", "faults", "killed.pwru", "killed-6.1.pwru"},
}

// copyFixtures copies the fixtures whose kernel and scenario ran.
func copyFixtures(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, fx := range fixtures {
		for _, kr := range runs {
			if kr.series != fx.series || !selected[fx.scenario] || kr.err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(kr.out, fx.scenario, fx.capture))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, fx.name), b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "vmtest: fixture %s (%d bytes)\n", filepath.Join(dir, fx.name), len(b))
		}
	}
	return nil
}

// selectScenarios applies -scenarios and -test.run.
func selectScenarios() ([]scenario, error) {
	want := map[string]bool{}
	switch *flagScenarios {
	case "default", "":
	case "all":
		for _, s := range scenarios {
			want[s.name] = true
		}
	default:
		for _, n := range strings.Split(*flagScenarios, ",") {
			found := false
			for _, s := range scenarios {
				found = found || s.name == n
			}
			if !found {
				return nil, fmt.Errorf("unknown scenario %q in -scenarios", n)
			}
			want[n] = true
		}
	}
	var run *regexp.Regexp
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		// Only the top-level part of the pattern names tests.
		top := strings.SplitN(f.Value.String(), "/", 2)[0]
		re, err := regexp.Compile(top)
		if err != nil {
			return nil, fmt.Errorf("bad -run pattern: %w", err)
		}
		run = re
	}
	var out []scenario
	for _, s := range scenarios {
		if s.pending != "" && !want[s.name] {
			continue
		}
		if *flagScenarios != "default" && *flagScenarios != "all" && !want[s.name] {
			continue
		}
		if run != nil && !run.MatchString(s.test) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func setup(tmp string) error {
	sel, err := selectScenarios()
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		return nil
	}
	var names []string
	needRec, needReplay := false, false
	for _, s := range sel {
		selected[s.name] = true
		names = append(names, s.name)
		needRec = needRec || s.recorder
		needReplay = needReplay || s.replay
	}
	series := vm.ExpandSeries(*flagKernels)

	root, err := vm.ModuleRoot()
	if err != nil {
		return err
	}
	t := time.Now()
	if err := goBuild(root, tmp, "guest", "./vmtest/guest", true); err != nil {
		return err
	}
	if needRec {
		if err := goBuild(root, tmp, "pwru-record", "./cmd/pwru-record", false); err != nil {
			return err
		}
	}
	if needReplay {
		if err := goBuild(root, tmp, "pwru-replay", "./cmd/pwru-replay", true); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "vmtest: built %s in %.1fs; scenarios: %s\n", strings.Join(sortedKeys(bins), ", "), time.Since(t).Seconds(), strings.Join(names, ","))

	// Resolve and fetch every kernel first (cached after the first run):
	// the exact packages are known, and printed, before any boots.
	for _, s := range series {
		kr := &kernelRun{series: s, out: filepath.Join(tmp, "out-"+s)}
		runs = append(runs, kr)
		if err := os.MkdirAll(kr.out, 0o755); err != nil {
			return err
		}
		t := time.Now()
		kr.kernel, kr.err = vm.Fetch(context.Background(), s, "")
		kr.wall = time.Since(t)
		if kr.err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: kernel %s: %v\n", s, kr.err)
			continue
		}
		fmt.Fprintf(os.Stderr, "vmtest: kernel %s = %s %s from %s (uname -r %s; packages %s)\n",
			s, kr.kernel.Package, kr.kernel.Version, kr.kernel.Suite, kr.kernel.Release, strings.Join(kr.kernel.Parts, " "))
	}

	files := map[string]string{"/bin/guest": bins["guest"]}
	args := "-scenarios " + strings.Join(names, ",")
	if needRec {
		files["/bin/pwru-record"] = bins["pwru-record"]
		args += " -recorder /bin/pwru-record"
		if *flagBackend != "" {
			args += " -backend " + *flagBackend
		}
	}
	script := "/bin/guest -out /out " + args + " 2>&1\n"
	// Each guest is one TCG thread (-smp 1): the kernels boot side by side,
	// one per host core, the longest first (by the previous run's wall
	// times; a kernel without one counts as longest) so that the short
	// ones fill in behind them.
	queue := make(chan *kernelRun, len(runs))
	bySeries := map[string]*kernelRun{}
	for _, kr := range runs {
		bySeries[kr.series] = kr
	}
	prev := map[string]time.Duration{}
	if r, err := report.ReadResults(resultsPath(root)); err == nil {
		prev = r.Walls(names)
	}
	order := report.LongestFirst(series, prev)
	fmt.Fprintf(os.Stderr, "vmtest: boot order %s, %d at a time\n", strings.Join(order, " "), max(1, *flagParallel))
	for _, s := range order {
		if kr := bySeries[s]; kr.err == nil {
			queue <- kr
		}
	}
	close(queue)
	var wg sync.WaitGroup
	for range max(1, *flagParallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kr := range queue {
				t := time.Now()
				bootKernel(kr, files, script)
				kr.wall += time.Since(t)
			}
		}()
	}
	wg.Wait()
	return nil
}

func resultsPath(root string) string {
	if *flagResults != "" {
		return *flagResults
	}
	return filepath.Join(root, report.ResultsFile)
}

// bootKernel runs the guest on one kernel and fills kr.
func bootKernel(kr *kernelRun, files map[string]string, script string) {
	ctx := context.Background()
	fmt.Fprintf(os.Stderr, "vmtest: booting %s\n", kr.kernel)
	cfg := vm.Config{
		Kernel:  kr.kernel,
		Files:   files,
		Modules: vm.DefaultModules,
		Script:  script,
		Timeout: *flagTimeout,
		OutDir:  kr.out,
		Console: &prefixWriter{w: os.Stderr, prefix: "[" + kr.series + "] "},
	}
	kr.res, kr.err = vm.Run(ctx, cfg)
	if kr.err == nil && kr.res.Status != 0 {
		kr.err = fmt.Errorf("guest driver exited with status %d; console tail:\n%s", kr.res.Status, kr.res.ConsoleTail(30))
	}
	if kr.res != nil {
		os.WriteFile(filepath.Join(kr.out, "console.log"), []byte(kr.res.Console), 0o644)
	}
	if f, err := report.ReadFeatures(filepath.Join(kr.out, report.FeaturesFile)); err == nil {
		kr.features = f
	}
	if *flagKeep != "" {
		dst := filepath.Join(*flagKeep, kr.series)
		os.RemoveAll(dst)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if out, err := exec.Command("cp", "-a", kr.out, dst).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: keep %s: %v: %s\n", kr.series, err, out)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// goBuild builds pkg into dir/name; static builds have cgo off.
func goBuild(root, dir, name, pkg string, static bool) error {
	out := filepath.Join(dir, name)
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if static {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s (%s): %w\n%s", name, pkg, err, b)
	}
	bins[name] = out
	return nil
}

// goTool finds the go command: PATH first, then the usual install place.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// prefixWriter prefixes each complete line written through it, so that
// two guests' consoles interleave by lines.
type prefixWriter struct {
	w      *os.File
	prefix string
	buf    []byte
}

var consoleMu sync.Mutex

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimRight(string(p.buf[:i]), "\r")
		p.buf = p.buf[i+1:]
		consoleMu.Lock()
		fmt.Fprintln(p.w, p.prefix+line)
		consoleMu.Unlock()
	}
}

// printTimings writes the boot and per-scenario times of every kernel.
func printTimings(total time.Duration) {
	for _, kr := range runs {
		if kr.res == nil {
			fmt.Fprintf(os.Stderr, "vmtest: %s: no run: %v\n", kr.series, kr.err)
			continue
		}
		fmt.Fprintf(os.Stderr, "vmtest: %s: initramfs %.1fs, boot %.1fs, scenarios %.1fs, total %.1fs\n",
			kr.series, kr.res.Build.Seconds(), kr.res.Boot.Seconds(), kr.res.Script.Seconds(), kr.res.Total.Seconds())
		for _, s := range scenarios {
			if !selected[s.name] {
				continue
			}
			rep, err := report.Read(filepath.Join(kr.out, s.name, report.FileName))
			if err != nil {
				fmt.Fprintf(os.Stderr, "vmtest: %s: %-8s no report\n", kr.series, s.name)
				continue
			}
			var parts []string
			var tot time.Duration
			for _, st := range rep.Steps {
				if st.Name == "total" {
					tot = st.Took
					continue
				}
				parts = append(parts, fmt.Sprintf("%s %.1fs", st.Name, st.Took.Seconds()))
			}
			fmt.Fprintf(os.Stderr, "vmtest: %s: %-8s %5.1fs (%s)\n", kr.series, s.name, tot.Seconds(), strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(os.Stderr, "vmtest: setup and guest runs took %.1fs\n", total.Seconds())
}

// forKernels runs check for the scenario on every booted kernel, as one
// subtest per kernel, after loading the scenario's report.
func forKernels(t *testing.T, name string, check func(t *testing.T, c *checkCtx)) {
	t.Helper()
	var sc scenario
	for _, s := range scenarios {
		if s.name == name {
			sc = s
		}
	}
	if !selected[name] {
		if sc.pending != "" {
			t.Skipf("scenario %s is pending on %s; run it with -scenarios=%s", name, sc.pending, name)
		}
		t.Fatalf("scenario %s was not run", name)
	}
	if setupErr != nil {
		t.Fatalf("setup: %v", setupErr)
	}
	for _, kr := range runs {
		t.Run(kr.series, func(t *testing.T) {
			c := &checkCtx{kernel: kr.kernel, features: kr.features}
			defer kr.record(t, sc, c)
			if kr.err != nil {
				t.Fatalf("kernel %s: %v", kr.series, kr.err)
			}
			dir := filepath.Join(kr.out, name)
			rep, err := report.Read(filepath.Join(dir, report.FileName))
			if err != nil {
				t.Fatalf("scenario %s left no report: %v; console tail:\n%s", name, err, kr.res.ConsoleTail(30))
			}
			var steps []string
			for _, st := range rep.Steps {
				steps = append(steps, fmt.Sprintf("%s %.2fs", st.Name, st.Took.Seconds()))
			}
			t.Logf("kernel %s (%s %s from %s); steps: %s", rep.Kernel, kr.kernel.Package, kr.kernel.Version, kr.kernel.Suite, strings.Join(steps, ", "))
			for _, r := range rep.Runs {
				t.Logf("recorder run %s: ready %.2fs, stop %.2fs, wall %.2fs, peak RSS %.1f MiB, exit %d %s", r.Name, r.Ready.Seconds(), r.Stop.Seconds(), r.Wall.Seconds(), float64(r.PeakRSS)/(1<<20), r.ExitCode, r.Signal)
			}
			if rep.Error != "" {
				t.Fatalf("scenario %s failed in the guest: %s", name, rep.Error)
			}
			c.dir, c.rep = dir, rep
			check(t, c)
		})
	}
}

// checkCtx is what a scenario check gets.
type checkCtx struct {
	dir      string
	rep      *report.Scenario
	kernel   *vm.Kernel
	features []report.Feature
	skipped  string // the feature a skip named
}

// has reports whether the guest's probe found feature; a feature the
// probe did not report fails the test (the probe and the test disagree).
func (c *checkCtx) has(t *testing.T, feature string) bool {
	t.Helper()
	for _, f := range c.features {
		if f.Name == feature {
			return f.Have
		}
	}
	t.Fatalf("the guest's feature probe did not report %s (%s)", feature, report.FeaturesFile)
	return false
}

// need skips the test when the kernel lacks feature, naming it and what
// the probe found; the only allowed skip of a VM scenario.
func (c *checkCtx) need(t *testing.T, feature string) {
	t.Helper()
	if c.has(t, feature) {
		return
	}
	detail := ""
	for _, f := range c.features {
		if f.Name == feature {
			detail = f.Detail
		}
	}
	c.skipped = fmt.Sprintf("kernel lacks %s (%s)", feature, detail)
	t.Skip(c.skipped)
}

// record stores the outcome of one scenario check on this kernel.
func (kr *kernelRun) record(t *testing.T, sc scenario, c *checkCtx) {
	r := report.TestResult{Scenario: sc.name, Test: t.Name(), Status: "pass"}
	switch {
	case t.Failed():
		r.Status = "fail"
	case t.Skipped():
		r.Status, r.Reason = "skip", c.skipped
	}
	kr.mu.Lock()
	kr.tests = append(kr.tests, r)
	kr.mu.Unlock()
}

// printSummary writes each kernel's package, wall time and test outcomes:
// the last lines of a run.
func printSummary(total time.Duration) {
	for _, kr := range runs {
		counts := map[string]int{}
		kr.mu.Lock()
		for _, r := range kr.tests {
			counts[r.Status]++
		}
		kr.mu.Unlock()
		what := "not fetched"
		if kr.kernel != nil {
			what = fmt.Sprintf("%s %s (%s)", kr.kernel.Package, kr.kernel.Version, kr.kernel.Release)
		}
		fmt.Fprintf(os.Stderr, "vmtest: wall %-6s %6.1fs  %s  pass %d fail %d skip %d\n",
			kr.series, kr.wall.Seconds(), what, counts["pass"], counts["fail"], counts["skip"])
	}
	fmt.Fprintf(os.Stderr, "vmtest: whole run %.1fs\n", total.Seconds())
}

// writeResults stores the run for make kernel-matrix (see -results).
func writeResults(start time.Time) error {
	if *flagResults == "-" || len(runs) == 0 {
		return nil
	}
	if *flagBackend != "" && *flagResults == "" {
		// The kernel matrix is the default backend's; a run with another
		// one writes its results only where -results says.
		fmt.Fprintf(os.Stderr, "vmtest: -backend %s: results not written to %s (give -results FILE)\n", *flagBackend, report.ResultsFile)
		return nil
	}
	root, err := vm.ModuleRoot()
	if err != nil {
		return err
	}
	r := &report.Results{Started: start.UTC().Truncate(time.Second)}
	for _, s := range scenarios {
		if selected[s.name] {
			r.Scenarios = append(r.Scenarios, s.name)
		}
	}
	for _, kr := range runs {
		k := report.KernelResult{Series: kr.series, Wall: kr.wall, Features: kr.features}
		if kr.kernel != nil {
			k.Package, k.Version, k.Suite, k.Parts, k.Release = kr.kernel.Package, kr.kernel.Version, kr.kernel.Suite, kr.kernel.Parts, kr.kernel.Release
		}
		if kr.res != nil {
			k.Boot, k.Script = kr.res.Boot, kr.res.Script
		}
		if kr.err != nil {
			k.Error = kr.err.Error()
		}
		kr.mu.Lock()
		k.Tests = slices.Clone(kr.tests)
		kr.mu.Unlock()
		r.Kernels = append(r.Kernels, k)
	}
	path := resultsPath(root)
	if err := report.WriteResults(path, r); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vmtest: results in %s (make kernel-matrix turns them into README.md's kernel matrix)\n", path)
	return nil
}
