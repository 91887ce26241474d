package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

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
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, flt analyze.Filter) error {
			out := c.String("output")
			if out == "" {
				out = "-"
			}
			return writeOutput(e, out, func(w io.Writer) error {
				n, err := analyze.WritePcap(w, capt, &analyze.PcapOptions{Filter: flt, PerEvent: c.Bool("per-event")})
				if err == nil {
					err = e.complete(c, 1, capt) // keep no file made without data
				}
				if err == nil && out != "-" {
					fmt.Fprintf(e.stderr, "pwru-replay: wrote %d packets to %s\n", n, out)
				}
				return err
			})
		}),
	}
}
