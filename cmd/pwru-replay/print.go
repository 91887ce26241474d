package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

func printCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "print",
		Usage:     "print events as pwru would have printed them live",
		ArgsUsage: "FILE [pcap-filter]",
		Description: `Columns and options are pwru's. The pcap filter is matched against the
payloads stored in the capture: an skb matches when one of its payloads
matches, and then all of its events are printed.

Example:
   pwru-replay print capture.pwru
   pwru-replay print --output-caller --timestamp relative capture.pwru 'dst host 10.0.0.2 and tcp port 80'
   pwru-replay print --json --output-skb --dropped capture.pwru | jq .`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "output-meta", Value: true, Usage: "print skb metadata (NETNS MARK IFACE PROTO MTU LEN)"},
			&cli.BoolFlag{Name: "output-tuple", Value: true, Usage: "print L4 tuple"},
			&cli.BoolFlag{Name: "output-tunnel", Usage: "print the inner tuple of VXLAN/Geneve payloads"},
			&cli.BoolFlag{Name: "output-tcp-flags", Usage: "print TCP flags"},
			&cli.BoolFlag{Name: "output-skb", Usage: "print struct sk_buff (rendered with the capture's BTF)"},
			&cli.BoolFlag{Name: "output-skb-shared-info", Usage: "print struct skb_shared_info"},
			&cli.BoolFlag{Name: "output-skb-cb", Usage: "print __sk_buff->cb[]"},
			&cli.BoolFlag{Name: "output-stack", Usage: "print the kernel stack"},
			&cli.BoolFlag{Name: "output-caller", Usage: "print the caller function"},
			&cli.BoolFlag{Name: "output-netns-names", Usage: "print netns names where recorded"},
			&cli.UintFlag{Name: "netns-names-max-length", Value: 16, Usage: "width of the NETNS NAME column (min 10)"},
			&cli.StringFlag{Name: "timestamp", Value: "none", Usage: "timestamp per event: none, relative (to the skb's previous event), absolute (wall clock with its zone) or current (ns since boot)"},
			&cli.BoolFlag{Name: "utc", Usage: "absolute times in UTC instead of the local zone"},
			&cli.Uint64Flag{Name: "output-limit-lines", Usage: "stop after `N` events"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"output-json"}, Usage: "one JSON object per event (fields: analyze/JSON.md)"},
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour output: auto (on a terminal), always, never"},
		}, filterFlags()...),
		Action: func(c *cli.Context) error {
			path, pcap, err := fileAndFilter(c)
			if err != nil {
				return err
			}
			color, err := colorMode(c.String("color"), e.tty)
			if err != nil {
				return err
			}
			capt, err := openCapture(e, c, path)
			if err != nil {
				return err
			}
			defer e.done(capt)
			loc := time.Local
			if c.Bool("utc") {
				loc = time.UTC
			}
			flt, err := filterFrom(c, pcap)
			if err != nil {
				return err
			}
			switch ts := c.String("timestamp"); ts {
			case "", analyze.TimestampNone, analyze.TimestampCurrent, analyze.TimestampRelative, analyze.TimestampAbsolute:
			default:
				return fmt.Errorf("parse --timestamp: %q is not none, relative, absolute or current", ts)
			}
			o := &analyze.PrintOptions{
				Filter:              flt,
				OutputMeta:          c.Bool("output-meta"),
				OutputTuple:         c.Bool("output-tuple"),
				OutputTunnel:        c.Bool("output-tunnel"),
				OutputTCPFlags:      c.Bool("output-tcp-flags"),
				OutputSkb:           c.Bool("output-skb"),
				OutputShinfo:        c.Bool("output-skb-shared-info"),
				OutputSkbCB:         c.Bool("output-skb-cb"),
				OutputStack:         c.Bool("output-stack"),
				OutputCaller:        c.Bool("output-caller"),
				OutputNetnsNames:    c.Bool("output-netns-names"),
				NetnsNamesMaxLength: int(c.Uint("netns-names-max-length")),
				Timestamp:           c.String("timestamp"),
				LimitLines:          c.Uint64("output-limit-lines"),
				JSON:                c.Bool("json"),
				Color:               color,
				Location:            loc,
			}
			e.notes(missingNotes(analyze.MissingData(capt, o)))
			e.notes(analyze.FilterNotes(capt, &o.Filter))
			if err := analyze.Print(e.stdout, capt, o); err != nil {
				return err
			}
			return e.complete(c, 1, capt)
		},
	}
}

// colorMode resolves --color against whether stdout is a terminal.
func colorMode(mode string, tty bool) (bool, error) {
	switch mode {
	case "auto", "":
		return tty, nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, usagef("--color: %q is not auto, always or never", mode)
}

// printFlagNames are the flags of analyze.PrintOptions' output fields.
var printFlagNames = map[string]string{
	"OutputStack": "output-stack", "OutputSkbCB": "output-skb-cb", "OutputSkb": "output-skb",
	"OutputShinfo": "output-skb-shared-info", "OutputCaller": "output-caller", "OutputTCPFlags": "output-tcp-flags",
	"OutputTunnel": "output-tunnel", "OutputNetnsNames": "output-netns-names",
}

// missingNotes names each option whose data the capture lacks by its
// flag: "--output-stack: x.pwru has no kernel stacks: record with
// --output-stack".
func missingNotes(ns []analyze.MissingNote) []string {
	var lines []string
	for _, n := range ns {
		lines = append(lines, "--"+printFlagNames[n.Option]+": "+n.Text)
	}
	return lines
}
