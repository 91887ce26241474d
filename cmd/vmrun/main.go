package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/internal/testsupport/vm"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var (
		kernel  = flag.String("kernel", "6.12", "kernel series ("+strings.Join(vm.KnownSeries(), ", ")+") or a linux-image-* package name")
		script  = flag.String("script", "", "guest shell script file")
		command = flag.String("c", "", "guest shell script text (instead of -script)")
		out     = flag.String("out", "", "host directory for the guest's /out (default: a new temporary directory)")
		timeout = flag.Duration("timeout", 10*time.Minute, "kill the guest after this long")
		mem     = flag.Int("mem", 1024, "guest memory in MiB")
		cpus    = flag.Int("smp", 1, "guest CPUs")
		disk    = flag.Int("out-size", 1024, "output disk size in MiB")
		cache   = flag.String("cache", "", "kernel cache directory (default .cache/kernels in the module root)")
		quiet   = flag.Bool("q", false, "do not stream the console to stderr")
		keep    = flag.Bool("keep", false, "keep the work directory (initramfs, disk image)")
		gz      = flag.Bool("gzip", false, "gzip the initramfs")
		defmods = flag.Bool("default-modules", true, "load vm.DefaultModules (veth, tc, netfilter, tunnels)")
		bins    listFlag
		files   listFlag
		mods    listFlag
	)
	flag.Var(&bins, "bin", "host file to put at /bin/<basename> (repeatable)")
	flag.Var(&files, "file", "GUEST=HOST file mapping (repeatable)")
	flag.Var(&mods, "module", "kernel module to load with its dependencies (repeatable, comma-separated)")
	flag.Parse()

	text := *command
	if *script != "" {
		b, err := os.ReadFile(*script)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmrun: read script: %v\n", err)
			return 2
		}
		text = string(b)
	}
	if text == "" {
		fmt.Fprintln(os.Stderr, "vmrun: give a script with -script FILE or -c TEXT")
		return 2
	}
	m := map[string]string{}
	for _, b := range bins {
		abs, err := filepath.Abs(b)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
			return 2
		}
		m["/bin/"+filepath.Base(b)] = abs
	}
	for _, f := range files {
		g, h, ok := strings.Cut(f, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "vmrun: -file %q: want GUEST=HOST\n", f)
			return 2
		}
		abs, err := filepath.Abs(h)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
			return 2
		}
		m[g] = abs
	}
	var modules []string
	if *defmods {
		modules = append(modules, vm.DefaultModules...)
	}
	for _, s := range mods {
		modules = append(modules, strings.Split(s, ",")...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	k, err := vm.Fetch(ctx, *kernel, *cache)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "vmrun: kernel %s\n", k)
	cfg := vm.Config{
		Kernel: k, Files: m, Modules: modules, Script: text, Timeout: *timeout,
		MemoryMiB: *mem, CPUs: *cpus, OutDir: *out, OutSizeMiB: *disk, Gzip: *gz, KeepWork: *keep,
	}
	if !*quiet {
		cfg.Console = os.Stderr
	}
	res, err := vm.Run(ctx, cfg)
	if res != nil {
		fmt.Fprintf(os.Stderr, "vmrun: build %.1fs boot %.1fs script %.1fs total %.1fs; /out in %s\n",
			res.Build.Seconds(), res.Boot.Seconds(), res.Script.Seconds(), res.Total.Seconds(), res.OutDir)
		if res.WorkDir != "" {
			fmt.Fprintf(os.Stderr, "vmrun: work directory kept: %s\n", res.WorkDir)
		}
	}
	if err != nil {
		if *quiet || res == nil {
			fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "vmrun: %s\n", firstLine(err.Error()))
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "vmrun: script exit status %d\n", res.Status)
	return res.Status
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
