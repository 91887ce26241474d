// Command pwru-record traces the kernel functions that handle a packet and
// writes everything into one capture file for pwru-replay.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/internal/buildinfo"
	"github.com/pwru-record/pwru-record/internal/suggest"
	"github.com/pwru-record/pwru-record/tracer"
)

// version is set by the linker (make build).
var version = "dev"

// memoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise: the recorder runs on production hosts, and startup (kernel
// BTF, kallsyms) would otherwise leave the heap at twice its live size.
const memoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// No transparent huge pages for this process: with THP "always" (a
	// common default) a 2 MiB piece of the Go heap is resident as a whole
	// as soon as one page of it is touched, which measured 16 MiB of the
	// recorder's RSS. Best effort: the recorder works either way.
	_ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "pwru-record: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks a command line mistake: exit status 2, as
// pwru-replay's.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitCode is 2 for usage errors and 1 for everything else.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

func newApp() *cli.App {
	return &cli.App{
		Name:      "pwru-record",
		Usage:     "record the kernel's packet path into a capture file for pwru-replay",
		UsageText: "pwru-record [options] [pcap-filter]",
		Description: `pwru-record traces every kernel function that takes a struct sk_buff * and
writes what it sees into one capture file; pwru-replay analyzes it anywhere.

Example:
   sudo pwru-record -o drop.pwru --filter-track-skb 'host 10.0.0.2 and udp port 9999'
   sudo pwru-record -o - --output-stack 'icmp' | ssh laptop 'cat > icmp.pwru'
   sudo pwru-record --list-funcs --filter-func '^ip_'`,
		Version:              buildinfo.Version(version),
		EnableBashCompletion: true,
		Flags:                flags(),
		Action:               run,
		// One-line errors: no usage dump on a bad flag, a hint for a
		// mistyped one, exit status 2.
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{fmt.Errorf("%w%s", err, suggest.FlagHint(flags(), err))}
		},
		HideHelpCommand: true,
	}
}

func run(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	if n := displayNote(c); n != "" {
		fmt.Fprintf(c.App.ErrWriter, "pwru-record: %s\n", n)
	}
	if c.Bool("list-funcs") {
		funcs, err := tracer.ListFuncs(cfg)
		if err != nil {
			return unwrapConfig(err)
		}
		for _, f := range funcs {
			fmt.Fprintf(c.App.Writer, "%s\targ%d\n", f, f.SKBArg)
		}
		return nil
	}
	cfg.Log = os.Stderr
	if isTerminal(os.Stderr) {
		cfg.Progress = (&progressBar{w: os.Stderr}).event
	}

	oo, err := outputOpts(c)
	if err != nil {
		return err
	}
	var drop *identity
	if u := c.String("user"); u != "" {
		if drop, err = lookupUser(u); err != nil {
			return err
		}
	} else {
		runtime.UnlockOSThread() // locked for dropPrivileges only (privdrop.go)
	}
	var out io.Writer = os.Stdout
	var of *output
	path := c.String("output")
	var set *fileSet
	var flightDone func() error
	if c.IsSet("flight-recorder") {
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		var err error
		oo.Owner = drop
		if err := checkSetDir(path, oo, drop); err != nil {
			return err
		}
		if flightDone, err = flightConfig(c, cfg, path, oo); err != nil {
			return err
		}
		out = io.Discard // only the flight recorder's captures are written
		path = strings.TrimSuffix(path, ".pwru") + "-*.pwru"
	} else if mb, b, secs := c.Uint64("output-file-max-size"), c.Uint64("debug-rotate-bytes"), c.Int("output-file-max-seconds"); mb > 0 || b > 0 || secs != 0 {
		if path == "-" {
			return fmt.Errorf("--output-file-max-size and -G need --output to name a file, not stdout")
		}
		backups, err := rotateBackups(c)
		if err != nil {
			return err
		}
		if secs < 0 {
			return fmt.Errorf("-G/--output-file-max-seconds must not be negative")
		}
		cfg.RotateEvery = time.Duration(secs) * time.Second
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		oo.Owner = drop
		if err := checkSetDir(path, oo, drop); err != nil {
			return err
		}
		if set, err = newFileSet(path, backups, oo); err != nil {
			return err
		}
		out = set.cur
		cfg.RotateSize = int64(mb) << 20
		if b > 0 {
			cfg.RotateSize = int64(b)
		}
		cfg.Rotate = set.next
		path = set.pattern()
	} else if path != "-" {
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		if of, err = createOutput(path, oo); err != nil {
			return err
		}
		out = of.f
	}
	var dropNote string
	cfg.Started = func() error {
		if of != nil {
			if err := of.place(); err != nil {
				return err
			}
		}
		if drop != nil {
			d, err := dropPrivileges(drop)
			if err != nil {
				return err
			}
			runtime.UnlockOSThread()
			dropNote = d.String()
		}
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := tracer.Run(ctx, cfg, out)
	if set != nil {
		if cerr := set.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if flightDone != nil {
		if cerr := flightDone(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if of != nil {
		if res == nil || !res.Recording {
			of.abort()
		} else if cerr := of.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	switch {
	case res != nil && res.Recording:
		summary(os.Stderr, res, path)
		if dropNote != "" {
			fmt.Fprintf(os.Stderr, "pwru-record: %s; still needed root: %s\n", dropNote, stillRoot(res))
		}
	case res != nil:
		attempted(os.Stderr, res, path)
	}
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("disk full, capture %s stopped early (%s): %w", path, readable(path, res), err)
		}
		return unwrapConfig(err)
	}
	return nil
}
