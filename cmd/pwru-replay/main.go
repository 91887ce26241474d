// Command pwru-replay analyzes a capture written by pwru-record, offline,
// on any operating system: pwru's live output, skb journeys, statistics,
// pcapng export, the difference between two runs, and slices small enough
// to attach to a bug report.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/internal/buildinfo"
	"github.com/pwru-record/pwru-record/internal/suggest"
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
	msg := oneLine(cliMessage(err))
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
