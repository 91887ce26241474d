package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/analyze/export"
)

func exportCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "add captures to a Parquet dataset (events, skbs, captures tables) for DuckDB, Spark, ClickHouse",
		ArgsUsage: "CAPTURE... [pcap-filter]",
		Description: `Each table is partitioned Hive-style by host and day, one file per capture,
named by its capture id: DIR/events/host=H/date=YYYY-MM-DD/ID.parquet. Adding
a capture never rewrites the files of others; exporting one already in DIR fails
unless --overwrite. Columns: analyze/PARQUET.md. The arguments after the last
existing file are the pcap filter.

Example:
   pwru-replay export --format parquet -o dataset/ node-*.pwru
   duckdb -c "SELECT func, count(*) FROM 'dataset/events/**/*.parquet' GROUP BY 1"`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "parquet", Usage: "dataset `FORMAT` (parquet)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "dataset `DIR` (created if needed)"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace the files of captures already in the dataset"},
		}, filterFlags()...),
		Action: func(c *cli.Context) error {
			if f := c.String("format"); f != "parquet" {
				return usagef("export: unknown --format %q (parquet)", f)
			}
			args := c.Args().Slice()
			n := 0
			for n < len(args) {
				if st, err := os.Stat(args[n]); err != nil || st.IsDir() {
					break
				}
				n++
			}
			if n == 0 {
				if len(args) == 0 {
					return usagef("export: missing CAPTURE (see pwru-replay export --help)")
				}
				_, err := os.Stat(args[0])
				return fmt.Errorf("open %s: %w", args[0], oneLineErr(err))
			}
			flt, err := filterFrom(c, args[n:])
			if err != nil {
				return err
			}
			for _, path := range args[:n] {
				capt, err := openCapture(e, c, path)
				if err != nil {
					return err
				}
				res, err := export.WriteCapture(c.String("output"), capt, &export.Options{
					Export:    exportOptions(flt, c),
					Overwrite: c.Bool("overwrite"),
				})
				e.done(capt)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "pwru-replay: %s: capture %s: %d events, %d skbs\n", path, res.ID, res.Capture.ExportedEvents, res.Capture.ExportedSKBs)
			}
			return nil
		},
	}
}

// oneLineErr is err without the path an *os.PathError repeats.
func oneLineErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// exportOptions is the filter and its text for the captures table: the
// filter flags set, then the pcap expression.
func exportOptions(flt analyze.Filter, c *cli.Context) analyze.ExportOptions {
	var parts []string
	for _, f := range filterFlags() {
		name := f.Names()[0]
		if name == "skip-corrupt" || !c.IsSet(name) {
			continue
		}
		if _, ok := f.(*cli.BoolFlag); ok {
			parts = append(parts, "--"+name)
			continue
		}
		parts = append(parts, "--"+name+"="+c.Generic(name).(fmt.Stringer).String())
	}
	if flt.Pcap != "" {
		parts = append(parts, flt.Pcap)
	}
	return analyze.ExportOptions{Filter: flt, FilterText: strings.Join(parts, " ")}
}
