package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

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
// about an expression that can match nothing. Names (functions,
// interfaces, netns names, drop reasons) are resolved by the command
// against the capture.
func filterFrom(c *cli.Context, pcapArgs []string) (analyze.Filter, error) {
	pcap := strings.Join(pcapArgs, " ")
	if w := analyze.PcapWarning(pcap); w != "" {
		fmt.Fprintf(c.App.ErrWriter, "pwru-replay: warning: %s\n", w)
	}
	f := analyze.Filter{
		Func:    c.String("func"),
		Ifname:  c.String("ifname"),
		Ifindex: uint32(c.Uint("ifindex")),
		Dropped: c.Bool("dropped"),
		Reason:  c.String("reason"),
		Track:   c.Bool("track"),
		Window:  c.Duration("window"),
		Pcap:    pcap,
	}
	if s := c.String("netns"); s != "" {
		f.Netns = parseNetns(s)
	}
	if s := c.String("mark"); s != "" {
		m, err := parseMark(s)
		if err != nil {
			return f, fmt.Errorf("parse --mark: %w", err)
		}
		f.Mark = &m
	}
	if s := c.String("skb"); s != "" {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64)
		if err != nil {
			return f, fmt.Errorf("parse --skb: %q is not a hex address", s)
		}
		f.SKB = v
	}
	var err error
	if f.Since, err = parseTimeBound(c.String("since")); err != nil {
		return f, fmt.Errorf("parse --since: %w", err)
	}
	if f.Until, err = parseTimeBound(c.String("until")); err != nil {
		return f, fmt.Errorf("parse --until: %w", err)
	}
	return f, nil
}

// parseNetns reads --netns: an inode ("4026531840", "inode:4026531840",
// hex with 0x) or else a recorded netns name.
func parseNetns(s string) *analyze.NetnsRef {
	if v, err := strconv.ParseUint(strings.TrimPrefix(s, "inode:"), 0, 32); err == nil {
		return &analyze.NetnsRef{Inode: uint32(v)}
	}
	return &analyze.NetnsRef{Name: s}
}

// parseMark parses "mark[/mask]"; the mask defaults to all ones.
func parseMark(s string) (analyze.Mark, error) {
	ms, masks, hasMask := strings.Cut(s, "/")
	v, err := strconv.ParseUint(ms, 0, 32)
	if err != nil {
		return analyze.Mark{}, fmt.Errorf("%q is not a number", ms)
	}
	m := analyze.Mark{Value: uint32(v), Mask: 0xffffffff}
	if hasMask {
		w, err := strconv.ParseUint(masks, 0, 32)
		if err != nil {
			return analyze.Mark{}, fmt.Errorf("%q is not a number", masks)
		}
		m.Mask = uint32(w)
	}
	return m, nil
}

// parseTimeBound reads a --since/--until value: a Go duration counts from
// the capture's first event, anything else is an RFC 3339 wall-clock
// time. "" is no bound.
func parseTimeBound(s string) (analyze.TimeBound, error) {
	if s == "" {
		return analyze.TimeBound{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return analyze.TimeBound{}, fmt.Errorf("negative duration %q", s)
		}
		return analyze.TimeBound{Offset: d}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return analyze.TimeBound{}, fmt.Errorf("%q is neither a duration (1.5s) nor an RFC 3339 time", s)
	}
	return analyze.TimeBound{At: t}, nil
}

// filterFlagNames are the flags of analyze.Filter's fields.
var filterFlagNames = map[string]string{
	"Func": "func", "Netns": "netns", "Mark": "mark", "Ifname": "ifname", "Ifindex": "ifindex",
	"SKB": "skb", "Since": "since", "Until": "until", "Reason": "reason", "Window": "window",
}

// cliMessage is err's message with an analyze.FilterError named by the
// flag that set the field ("parse --reason: unknown drop reason ...");
// the pcap expression's errors name the expression.
func cliMessage(err error) string {
	msg := err.Error()
	var fe *analyze.FilterError
	if !errors.As(err, &fe) {
		return msg
	}
	text := fe.Err.Error()
	if flag, ok := filterFlagNames[fe.Field]; ok {
		text = "parse --" + flag + ": " + text
	}
	return strings.Replace(msg, fe.Error(), text, 1)
}
