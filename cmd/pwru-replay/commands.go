package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

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
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, pcap []string) error {
			return analyze.Paths(e.stdout, capt, &analyze.PathsOptions{
				Filter:  filterFrom(c, pcap),
				NoGroup: c.Bool("no-group"),
				Limit:   c.Int("limit"),
				JSON:    c.Bool("json"),
			})
		}),
	}
}

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
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, pcap []string) error {
			return analyze.Stats(e.stdout, capt, &analyze.StatsOptions{Filter: filterFrom(c, pcap), Top: allIfZero(c.Int("top")), JSON: c.Bool("json")})
		}),
	}
}

func pcapCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "pcap",
		Usage:     "export the payloads as pcapng for Wireshark, each packet commented with its skb's path",
		ArgsUsage: "FILE [pcap-filter]",
		Description: `Interfaces are named ifname@netns-inode (veth0@4026532345).

Example:
   pwru-replay pcap -o out.pcapng capture.pwru
   pwru-replay pcap --per-event --dropped -o drops.pcapng capture.pwru 'icmp'`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the pcapng to `FILE` (- = stdout; default stdout unless it is a terminal)"},
			&cli.BoolFlag{Name: "per-event", Usage: "one packet per event (comment: function and skb) instead of one per payload of each skb"},
		}, filterFlags()...),
		Before: func(c *cli.Context) error {
			if c.String("output") == "" && e.tty {
				return usagef("pcap: stdout is a terminal: write to a file with -o FILE, or pipe it (| wireshark -k -i -)")
			}
			return nil
		},
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, pcap []string) error {
			out := c.String("output")
			if out == "" {
				out = "-"
			}
			return writeOutput(e, out, func(w io.Writer) error {
				n, err := analyze.WritePcap(w, capt, &analyze.PcapOptions{Filter: filterFrom(c, pcap), PerEvent: c.Bool("per-event")})
				if err == nil && out != "-" {
					fmt.Fprintf(e.stderr, "pwru-replay: wrote %d packets to %s\n", n, out)
				}
				return err
			})
		}),
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
			different, err := analyze.Diff(e.stdout, good, bad, &analyze.DiffOptions{
				Filter:           filterFrom(c, c.Args().Slice()[2:]),
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
			if different {
				return exitError(1)
			}
			return nil
		},
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

// exit2 marks an error of diff (exit status 2).
func exit2(err error) error { return cli.Exit(err.Error(), 2) }

func sliceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "slice",
		Usage:     "write a new, complete capture holding only the matching skbs (small enough for a bug report)",
		ArgsUsage: "FILE [pcap-filter]",
		Description: `Example:
   pwru-replay slice -o drops.pwru --dropped capture.pwru
   pwru-replay slice -o small.pwru --no-payload --trim-symbols capture.pwru 'host 10.0.0.2'
   pwru-replay slice -o share.pwru --redact --headers-only capture.pwru   # for a public bug report`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "write the capture to `FILE`"},
			&cli.BoolFlag{Name: "no-payload", Usage: "leave the packet payloads out"},
			&cli.BoolFlag{Name: "trim-symbols", Usage: "keep only the kallsyms entries and BTF types the kept events need"},
			&cli.BoolFlag{Name: "redact", Usage: "replace kernel and heap addresses (skbs, stacks, callers, kallsyms, probes, pointers in raw structs) with stable pseudonyms; function names print as before"},
			&cli.BoolFlag{Name: "headers-only", Usage: "keep the L2-L4 headers of the payloads and zero the rest"},
		}, filterFlags()...),
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, pcap []string) error {
			out := c.String("output")
			return writeOutput(e, out, func(w io.Writer) error {
				st, err := analyze.Slice(w, capt, &analyze.SliceOptions{
					Filter:      filterFrom(c, pcap),
					NoPayload:   c.Bool("no-payload"),
					TrimSymbols: c.Bool("trim-symbols"),
					Redact:      c.Bool("redact"),
					HeadersOnly: c.Bool("headers-only"),
					Description: "pwru-replay " + strings.Join(os.Args[1:], " "),
				})
				if err == nil && out != "-" {
					fmt.Fprintf(e.stderr, "pwru-replay: wrote %d events of %d skbs (%d packets) to %s\n", st.Events, st.SKBs, st.Packets, out)
				}
				return err
			})
		}),
	}
}

// captureAction is the action of a subcommand taking FILE [pcap-filter]:
// it opens the capture, runs fn on it and closes it.
func captureAction(e *env, fn func(c *cli.Context, capt *analyze.Capture, pcap []string) error) cli.ActionFunc {
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
		return fn(c, capt, pcap)
	}
}
