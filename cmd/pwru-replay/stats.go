package main

import (
	"math"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

func statsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "count events per function, drop reason, flow, netns and interface; per-skb latency percentiles",
		ArgsUsage: "FILE [pcap-filter]",
		Description: `Example:
   pwru-replay stats capture.pwru
   pwru-replay stats --netns 4026532345 capture.pwru 'tcp port 443'`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "top", Value: 20, Usage: "rows per table (0 = all)"},
			&cli.BoolFlag{Name: "json", Usage: "write the counts as one JSON document (fields: analyze/JSON.md)"},
		}, filterFlags()...),
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, flt analyze.Filter) error {
			return analyze.Stats(e.stdout, capt, &analyze.StatsOptions{Filter: flt, Top: allIfZero(c.Int("top")), JSON: c.Bool("json")})
		}),
	}
}

// allIfZero maps a --top of 0 ("all") to no limit; the library reads 0
// as its default.
func allIfZero(n int) int {
	if n == 0 {
		return math.MaxInt32
	}
	return n
}
