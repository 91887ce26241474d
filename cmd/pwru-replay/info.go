package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

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
				flt, err := filterFrom(c, nil)
				io := &analyze.InfoOptions{
					Filter:   flt,
					Top:      allIfZero(c.Int("top")),
					Size:     size,
					Location: time.Local,
					NoScan:   c.Bool("no-scan"),
				}
				switch {
				case err != nil:
				case c.Bool("json"):
					err = writeInfoJSON(e, capt, io)
				default:
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
