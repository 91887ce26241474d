package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
)

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
		Action: captureAction(e, func(c *cli.Context, capt *analyze.Capture, flt analyze.Filter) error {
			out := c.String("output")
			return writeOutput(e, out, func(w io.Writer) error {
				st, err := analyze.Slice(w, capt, &analyze.SliceOptions{
					Filter:      flt,
					NoPayload:   c.Bool("no-payload"),
					TrimSymbols: c.Bool("trim-symbols"),
					Redact:      c.Bool("redact"),
					HeadersOnly: c.Bool("headers-only"),
					Description: "pwru-replay " + strings.Join(os.Args[1:], " "),
				})
				if err == nil {
					err = e.complete(c, 1, capt) // keep no file made without data
				}
				if err == nil && out != "-" {
					fates := ""
					if st.FateEvents > 0 {
						fates = fmt.Sprintf(" (%d that end them)", st.FateEvents)
					}
					fmt.Fprintf(e.stderr, "pwru-replay: wrote %d events%s of %d skbs (%d packets) to %s\n", st.Events, fates, st.SKBs, st.Packets, out)
				}
				return err
			})
		}),
	}
}
