package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/tracer"
)

// flightName is the file of a flight recorder capture: STEM-<UTC trigger
// time>-<reason>.pwru.
func flightName(path, reason string, at time.Time) string {
	r := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(reason, "_")
	return fmt.Sprintf("%s-%s-%s.pwru", strings.TrimSuffix(path, ".pwru"), at.UTC().Format("20060102T150405.000000000Z"), r)
}

// flightConfig reads the flight recorder flags into cfg. The files are
// created new (O_EXCL) with the mode, group and owner of oo; the previous one is synced and closed when
// the next one opens, and the last one by the returned function.
func flightConfig(c *cli.Context, cfg *tracer.Config, path string, oo outputOptions) (finish func() error, err error) {
	spec := c.String("flight-recorder")
	if d, err := time.ParseDuration(spec); err == nil {
		if d <= 0 {
			return nil, fmt.Errorf("--flight-recorder %s: want a positive duration or size", spec)
		}
		cfg.FlightAge = d
	} else {
		n, err := parseSize("flight-recorder", strings.TrimSuffix(strings.TrimSuffix(spec, "B"), "b"))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--flight-recorder %s: want a duration (5m) or a size (256MB)", spec)
		}
		cfg.FlightBytes = n
	}
	if path == "-" {
		return nil, fmt.Errorf("--flight-recorder needs --output to name the captures, not stdout")
	}
	cfg.TriggerDrop = c.IsSet("trigger-drop")
	for _, r := range c.StringSlice("trigger-drop") {
		for _, x := range strings.Split(r, ",") {
			if x = strings.TrimSpace(x); x != "" && x != "any" {
				cfg.TriggerReasons = append(cfg.TriggerReasons, x)
			}
		}
	}
	cfg.TriggerFunc = c.String("trigger-func")
	cfg.TriggerPcap = c.String("trigger-pcap")
	cfg.TriggerAfter = c.Duration("trigger-after")
	cfg.TriggerHoldOff = c.Duration("trigger-holdoff")
	cfg.MaxTriggers = c.Int("max-triggers")
	if cfg.MaxTriggers < 0 || cfg.TriggerAfter < 0 || cfg.TriggerHoldOff < 0 {
		return nil, fmt.Errorf("--max-triggers, --trigger-after and --trigger-holdoff must not be negative")
	}
	manual := make(chan struct{}, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for range sig {
			select {
			case manual <- struct{}{}:
			default:
			}
		}
	}()
	cfg.Manual = manual
	var cur *os.File
	closeCur := func() error {
		if cur == nil {
			return nil
		}
		f := cur
		cur = nil
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("complete capture %s: %w", f.Name(), err)
		}
		fmt.Fprintf(os.Stderr, "pwru-record: flight recorder capture %s complete\n", f.Name())
		return nil
	}
	cfg.FlightOpen = func(reason string, at time.Time) (io.Writer, error) {
		if err := closeCur(); err != nil {
			return nil, err
		}
		name := flightName(path, reason, at)
		f, err := createSetFile(name, oo)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "pwru-record: flight recorder triggered (%s at %s): writing %s\n", reason, at.Format(time.RFC3339Nano), name)
		cur = f
		return f, nil
	}
	return func() error { signal.Stop(sig); return closeCur() }, nil
}
