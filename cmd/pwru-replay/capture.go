package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/format"
)

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

// captureAction is the action of a subcommand taking FILE [pcap-filter]:
// it opens the capture, runs fn on it with the filter and closes it.
func captureAction(e *env, fn func(c *cli.Context, capt *analyze.Capture, flt analyze.Filter) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		path, pcap, err := fileAndFilter(c)
		if err != nil {
			return err
		}
		capt, err := openCapture(e, c, path)
		if err != nil {
			return err
		}
		defer e.done(capt)
		e.notes(analyze.FilterNotes(capt, &analyze.Filter{Pcap: strings.Join(pcap, " ")}))
		flt, err := filterFrom(c, pcap)
		if err != nil {
			return err
		}
		if err := fn(c, capt, flt); err != nil {
			return err
		}
		return e.complete(c, 1, capt)
	}
}

// writeOutput creates path (or uses stdout for "-"), runs fn, and removes
// a partial file when fn fails.
func writeOutput(e *env, path string, fn func(io.Writer) error) error {
	if path == "-" {
		return fn(e.stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pwru-replay-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
