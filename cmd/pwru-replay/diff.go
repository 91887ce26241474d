package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

func diffCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare the skb journeys of two captures of the same traffic (exit 0 same, 1 different, 2 error)",
		ArgsUsage: "GOOD BAD [pcap-filter]",
		Description: `Packets are matched per flow by IP ID, TCP sequence/acknowledgment or ICMP
id/sequence from the stored payloads, else by their order in the flow. Both
captures are read side by side; a packet still without a partner once the other
capture is 256 packets further in its flow (or 8192 packets further without any
of the flow, or ended), or its own capture is 1024 packets further in the flow,
is reported as only in its capture.

Example:
   pwru-replay diff before.pwru after.pwru
   pwru-replay diff --json --latency-threshold 50us before.pwru after.pwru 'tcp port 80'`,
		Flags: append([]cli.Flag{
			&cli.DurationFlag{Name: "latency-threshold", Usage: "smallest change of a hop's mean latency reported", DefaultText: "10µs"},
			&cli.Float64Flag{Name: "latency-ratio", Usage: "smallest relative change of a hop's mean latency reported", DefaultText: "1.5"},
			&cli.IntFlag{Name: "context", Value: 3, Usage: "functions shown before a divergence"},
			&cli.BoolFlag{Name: "json", Usage: "write the report as JSON (fields: analyze/JSON.md)"},
		}, filterFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usagef("diff: need GOOD and BAD captures (see pwru-replay diff --help)")
			}
			good, err := openCapture(e, c, c.Args().Get(0))
			if err != nil {
				return exit2(err)
			}
			defer e.done(good)
			bad, err := openCapture(e, c, c.Args().Get(1))
			if err != nil {
				return exit2(err)
			}
			defer e.done(bad)
			if n := analyze.CompareSources(good, bad); n != "" {
				e.notes([]string{n})
			}
			e.notes(analyze.FilterNotes(good, &analyze.Filter{Pcap: strings.Join(c.Args().Slice()[2:], " ")}))
			flt, err := filterFrom(c, c.Args().Slice()[2:])
			if err != nil {
				return exit2(err)
			}
			different, err := analyze.Diff(e.stdout, good, bad, &analyze.DiffOptions{
				Filter:           flt,
				LatencyThreshold: c.Duration("latency-threshold"),
				LatencyRatio:     c.Float64("latency-ratio"),
				Context:          c.Int("context"),
				JSON:             c.Bool("json"),
				GoodName:         "good",
				BadName:          "bad",
			})
			if err != nil {
				return exit2(err)
			}
			if err := e.complete(c, 2, good, bad); err != nil {
				return err
			}
			if different {
				return exitError(1)
			}
			return nil
		},
	}
}

// exit2 marks an error of diff (exit status 2).
func exit2(err error) error { return exit2Error{err} }

// exit2Error is an error of diff: exit status 2.
type exit2Error struct{ error }

func (e exit2Error) Unwrap() error { return e.error }

// ExitCode is diff's exit status for an error.
func (exit2Error) ExitCode() int { return 2 }
