package main

import (
	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

func pathsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "paths",
		Usage:     "show each skb's journey: functions, time deltas, netns/interface changes, fate; identical journeys grouped",
		ArgsUsage: "FILE [pcap-filter]",
		Description: `Example:
   pwru-replay paths capture.pwru
   pwru-replay paths --dropped --no-group capture.pwru 'udp port 53'`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "no-group", Usage: "list every skb instead of grouping identical journeys"},
			&cli.IntFlag{Name: "limit", Usage: "stop after `N` journeys or groups"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per journey or group (fields: analyze/JSON.md)"},
		}, filterFlags()...),
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, flt analyze.Filter) error {
			return analyze.Paths(e.stdout, capt, &analyze.PathsOptions{
				Filter:  flt,
				NoGroup: c.Bool("no-group"),
				Limit:   c.Int("limit"),
				JSON:    c.Bool("json"),
			})
		}),
	}
}
