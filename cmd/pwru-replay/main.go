// Command pwru-replay analyzes a capture written by pwru-record, offline,
// on any operating system: pwru's live output, skb journeys, statistics,
// pcapng export, the difference between two runs, and slices small enough
// to attach to a bug report.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/cmd/internal/buildinfo"
	"github.com/pwru-record/pwru-record/cmd/internal/suggest"
	"github.com/pwru-record/pwru-record/format"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr, isTerminal(os.Stdout)))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// exitError carries an exit status without a message (diff: 1 = differ).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is main without the process: it parses args, runs the subcommand and
// returns the exit status. Errors are printed as one line on stderr.
func run(args []string, stdout, stderr io.Writer, tty bool) int {
	app := newApp(stdout, stderr, tty)
	err := unknownCommand(app, args)
	if err == nil {
		err = app.Run(flagsFirst(app, args))
	}
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return int(ee)
	case errors.Is(err, syscall.EPIPE):
		// The reader went away (pwru-replay print x.pwru | head).
		return 0
	}
	msg := oneLine(err.Error())
	usage := errors.As(err, new(usageError))
	if strings.HasPrefix(msg, "Required flag") {
		// urfave/cli's message for a missing required flag.
		msg, usage = "r"+msg[1:], true
	}
	fmt.Fprintf(stderr, "pwru-replay: %s\n", msg)
	if usage {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return 1
}

// flagsFirst moves the known flags that follow a subcommand's positional
// arguments in front of them ("print x.pwru --json" works like "print
// --json x.pwru"); urfave/cli v2 stops parsing flags at the first
// argument. Everything after "--" stays where it is.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		tv, known := takesValue[name]
		if !strings.HasPrefix(a, "-") || len(a) < 2 || !known {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if tv && !hasValue && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	return append(out, pos...)
}

// usageError marks a command line mistake.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func newApp(stdout, stderr io.Writer, tty bool) *cli.App {
	env := &env{stdout: stdout, stderr: stderr, tty: tty}
	app := &cli.App{
		Name:                 "pwru-replay",
		Usage:                "analyze a pwru-record capture offline",
		Version:              buildinfo.Version(version),
		EnableBashCompletion: true,
		Writer:               stdout,
		ErrWriter:            stderr,
		UsageText:            "pwru-replay COMMAND [options] FILE [pcap-filter]",
		Description: `pwru-replay reads a capture written by pwru-record and answers questions
about it on any machine: no kernel, no privileges, no cgo.

Example:
   pwru-replay print --output-tuple capture.pwru 'tcp port 80'
   pwru-replay paths --dropped capture.pwru`,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			infoCommand(env),
			printCommand(env),
			pathsCommand(env),
			statsCommand(env),
			pcapCommand(env),
			diffCommand(env),
			sliceCommand(env),
			exportCommand(env),
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageError{err.Error() + suggest.FlagHint(app.Flags, err)}
	}
	for _, cmd := range app.Commands {
		cmd := cmd
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error() + suggest.FlagHint(cmd.Flags, err)}
		}
	}
	return app
}

// env is what the commands write to.
type env struct {
	stdout, stderr io.Writer
	tty            bool
}

// done reports what could not be loaded from a capture (as warnings on
// stderr) and closes it.
func (e *env) done(c *analyze.Capture) {
	hint := ""
	if c.Incomplete() && !c.File.Options().SkipCorrupt {
		hint = "; exit status non-zero, --skip-corrupt accepts the answer"
	}
	for _, err := range c.Problems() {
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s: %s%s\n", c.Path, oneLine(err.Error()), hint)
	}
	c.Close()
}

// complete fails (exit status 1, diff 2) when an answer was computed
// without data the capture should have had (a corrupt payload, stack,
// blob, kallsyms or BTF section: done names it in a warning), unless
// --skip-corrupt accepts that.
func (e *env) complete(c *cli.Context, status int, capts ...*analyze.Capture) error {
	if c.Bool("skip-corrupt") {
		return nil
	}
	for _, capt := range capts {
		if capt.Incomplete() {
			return exitError(status)
		}
	}
	return nil
}

// notes prints what a command cannot show from a capture, one line each.
func (e *env) notes(lines []string) {
	for _, l := range lines {
		fmt.Fprintf(e.stderr, "pwru-replay: note: %s\n", l)
	}
}

// writeInfoJSON writes info --json: one document per line.
func writeInfoJSON(e *env, capt *analyze.Capture, o *analyze.InfoOptions) error {
	doc, err := analyze.InfoJSON(capt, o)
	if err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode info: %w", err)
	}
	if _, err := e.stdout.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// filterFlags are the filters every subcommand shares.
func filterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "func", Aliases: []string{"filter-func"}, Usage: "only functions whose name matches this RE2 `REGEX`", Category: "Filters"},
		&cli.StringFlag{Name: "netns", Aliases: []string{"filter-netns"}, Usage: "only events in this network namespace (`INODE` or recorded name)", Category: "Filters"},
		&cli.StringFlag{Name: "mark", Aliases: []string{"filter-mark"}, Usage: "only skbs with this `MARK[/MASK]`", Category: "Filters"},
		&cli.StringFlag{Name: "ifname", Aliases: []string{"filter-ifname"}, Usage: "only events on this interface `NAME`", Category: "Filters"},
		&cli.UintFlag{Name: "ifindex", Usage: "only events on this interface `INDEX`", Category: "Filters"},
		&cli.StringFlag{Name: "skb", Usage: "only this skb `ADDR` (hex)", Category: "Filters"},
		&cli.StringFlag{Name: "since", Usage: "only events from `TIME` on: a duration from the first event (1.5s) or RFC 3339", Category: "Filters"},
		&cli.StringFlag{Name: "until", Usage: "only events up to `TIME` (same forms as --since)", Category: "Filters"},
		&cli.BoolFlag{Name: "dropped", Usage: "only skbs that were dropped", Category: "Filters"},
		&cli.StringFlag{Name: "reason", Usage: "only skbs dropped with this `REASON` (NO_SOCKET)", Category: "Filters"},
		&cli.BoolFlag{Name: "track", Usage: "include clones of matching skbs (same track id)", Category: "Filters"},
		&cli.DurationFlag{Name: "window", Usage: "an skb silent for this long starts a new journey", Value: time.Second, Category: "Filters"},
		&cli.BoolFlag{Name: "skip-corrupt", Usage: "skip corrupt sections instead of failing (answers that lack their data still warn, but exit 0)", Category: "Input"},
	}
}

// filterFrom turns the shared flags and the pcap expression (the
// arguments after the file) into an analyze.Filter, warning on stderr
// about an expression that can match nothing.
func filterFrom(c *cli.Context, pcapArgs []string) analyze.Filter {
	pcap := strings.Join(pcapArgs, " ")
	if w := analyze.PcapWarning(pcap); w != "" {
		fmt.Fprintf(c.App.ErrWriter, "pwru-replay: warning: %s\n", w)
	}
	return analyze.Filter{
		Func:    c.String("func"),
		Netns:   c.String("netns"),
		Mark:    c.String("mark"),
		Ifname:  c.String("ifname"),
		Ifindex: uint32(c.Uint("ifindex")),
		SKB:     c.String("skb"),
		Since:   c.String("since"),
		Until:   c.String("until"),
		Dropped: c.Bool("dropped"),
		Reason:  c.String("reason"),
		Track:   c.Bool("track"),
		Window:  c.Duration("window"),
		Pcap:    pcap,
	}
}

// openCapture opens path; the error is one line naming the file. A
// truncated capture or skipped sections are reported on stderr, once.
// A glob pattern matching several files (a rotated recording) is read
// as one capture.
func openCapture(e *env, c *cli.Context, path string) (*analyze.Capture, error) {
	opts := &format.ReaderOptions{SkipCorrupt: c.Bool("skip-corrupt")}
	paths, err := expandSet(path)
	if err != nil {
		return nil, err
	}
	if len(paths) > 1 {
		return mergeToTemp(e.stderr, path, paths, opts)
	}
	path = paths[0]
	capt, err := analyze.OpenWith(path, opts)
	if err != nil {
		// A pipe is not sniffed: opening it would wait for a writer.
		if errors.Is(err, format.ErrNotSeekable) {
			return nil, err
		}
		if what := otherFormat(path); what != "" {
			return nil, errors.New(what)
		}
		return nil, err
	}
	sum := capt.File.Summary()
	switch {
	case sum.Truncated && sum.ZeroTail:
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s ends at offset %d, followed by %d zero bytes (crash before the data reached the disk?); reading what was written\n", path, sum.TruncatedAt, sum.Trailing)
	case sum.Truncated:
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s is truncated at offset %d (recorder killed?); reading what was written\n", path, sum.TruncatedAt)
	case sum.Trailing > 0 && sum.ZeroTail:
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s: complete capture followed by %d zero bytes, ignored\n", path, sum.Trailing)
	case sum.Trailing > 0:
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s: complete capture followed by %d bytes of trailing junk, ignored\n", path, sum.Trailing)
	}
	if sum.Skipped > 0 {
		fmt.Fprintf(e.stderr, "pwru-replay: warning: %s: skipped %d corrupt sections\n", path, sum.Skipped)
	}
	return capt, nil
}

// fileAndFilter splits "FILE [pcap-filter...]".
func fileAndFilter(c *cli.Context) (string, []string, error) {
	if c.NArg() < 1 {
		return "", nil, usagef("%s: missing FILE (see pwru-replay %s --help)", c.Command.Name, c.Command.Name)
	}
	return c.Args().First(), c.Args().Tail(), nil
}

func infoCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "summarize captures: host, kernel, options, time range, sections, counts, losses, top functions",
		ArgsUsage: "FILE...",
		Description: `Example:
   pwru-replay info capture.pwru
   pwru-replay info --top 20 a.pwru b.pwru
   pwru-replay info --no-scan huge.pwru`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "top", Value: 10, Usage: "list the `N` busiest functions (0 = all)"},
			&cli.BoolFlag{Name: "no-scan", Usage: "do not read the events: header, sections, totals and losses only (instant on any size)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON document per capture (fields: analyze/JSON.md)"},
		}, filterFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return usagef("info: missing FILE (see pwru-replay info --help)")
			}
			for i, path := range c.Args().Slice() {
				if i > 0 && !c.Bool("json") {
					fmt.Fprintln(e.stdout)
				}
				capt, err := openCapture(e, c, path)
				if err != nil {
					return err
				}
				var size int64
				if st, err := os.Stat(path); err == nil {
					size = st.Size()
				}
				io := &analyze.InfoOptions{
					Filter:   filterFrom(c, nil),
					Top:      allIfZero(c.Int("top")),
					Size:     size,
					Location: time.Local,
					NoScan:   c.Bool("no-scan"),
				}
				if c.Bool("json") {
					err = writeInfoJSON(e, capt, io)
				} else {
					err = analyze.Info(e.stdout, capt, io)
				}
				if err == nil {
					err = e.complete(c, 1, capt)
				}
				e.done(capt)
				if ee := exitError(0); errors.As(err, &ee) {
					return err
				}
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			return nil
		},
	}
}
