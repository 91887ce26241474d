package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/internal/bpffilter/pcap"
	"github.com/pwru-record/pwru-record/internal/bpffilter/skbexpr"
	"github.com/pwru-record/pwru-record/tracer"
)

// config turns the command line into a tracer configuration.
func config(c *cli.Context) (*tracer.Config, error) {
	cfg := &tracer.Config{
		FilterFunc:        c.String("filter-func"),
		NonSKBFuncs:       c.String("filter-non-skb-funcs"),
		AllKmods:          c.Bool("all-kmods"),
		Kmods:             c.StringSlice("kmods"),
		TrackBPFHelpers:   c.Bool("filter-track-bpf-helpers"),
		Backend:           c.String("backend"),
		KprobeBatch:       c.Int("filter-kprobe-batch"),
		FilterIfname:      c.String("filter-ifname"),
		PcapFilter:        strings.Join(c.Args().Slice(), " "),
		TunnelPcapL2:      c.String("filter-tunnel-pcap-l2"),
		TunnelPcapL3:      c.String("filter-tunnel-pcap-l3"),
		SKBExpr:           c.String("filter-skb-expr"),
		XDPExpr:           c.String("filter-xdp-expr"),
		TrackSKB:          c.Bool("filter-track-skb"),
		TrackSKBByStackID: c.Bool("filter-track-skb-by-stackid"),
		TraceTC:           c.Bool("filter-trace-tc"),
		TraceXDP:          c.Bool("filter-trace-xdp"),
		CopyTracking:      c.String("debug-copy-tracking"),
		OutputSKB:         c.Bool("output-skb"),
		OutputSharedInfo:  c.Bool("output-skb-shared-info"),
		OutputCB:          c.Bool("output-skb-cb"),
		OutputSKBMetadata: c.StringSlice("output-skb-metadata"),
		OutputXDPMetadata: c.StringSlice("output-xdp-metadata"),
		OutputBPFMap:      c.Bool("output-bpfmap"),
		OutputStack:       c.Bool("output-stack"),
		OutputCaller:      c.Bool("output-caller"),
		KernelBTF:         c.String("kernel-btf"),
		Snaplen:           uint32(c.Uint("snaplen")),
		SnaplenSet:        true,
		Duration:          c.Duration("duration"),
		MaxEvents:         c.Uint64("max-events"),
		ReadyFile:         c.String("ready-file"),
		BPFStats:          c.Bool("bpf-stats"),
		CommandLine:       os.Args,
		WriterVersion:     "pwru-record " + version,
	}
	if c.Uint("snaplen") > tracer.MaxSnaplen {
		return nil, fmt.Errorf("--snaplen %d exceeds the maximum %d", c.Uint("snaplen"), tracer.MaxSnaplen)
	}
	switch c.String("payload") {
	case "first":
	case "every":
		cfg.PayloadEvery = true
	default:
		return nil, fmt.Errorf("--payload: want first or every, got %q", c.String("payload"))
	}
	var err error
	if cfg.Ablate, err = tracer.ParseAblate(c.String("debug-ablate")); err != nil {
		return nil, fmt.Errorf("--debug-ablate: %w", err)
	}
	if cfg.FilterNetns, err = parseNetns(c.String("filter-netns")); err != nil {
		return nil, err
	}
	if s := c.String("filter-mark"); s != "" {
		if cfg.FilterMark, cfg.FilterMarkMask, err = parseMark(s); err != nil {
			return nil, err
		}
		cfg.FilterMarkSet = true
	}
	rb, err := parseSize("ringbuf-size", c.String("ringbuf-size"))
	if err != nil {
		return nil, err
	}
	cfg.RingbufSize = int(rb)
	if cfg.MaxSize, err = parseSize("max-size", c.String("max-size")); err != nil {
		return nil, err
	}
	cfg.Options = make(map[string]string)
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if name == "help" || name == "version" || slices.Contains(displayFlags, name) {
			continue
		}
		if _, ok := f.(*cli.StringSliceFlag); ok {
			cfg.Options[name] = strings.Join(c.StringSlice(name), ",")
			continue
		}
		cfg.Options[name] = optionText(c.Value(name))
	}
	cfg.Injectors = []tracer.Injector{
		func(spec *ebpf.CollectionSpec, _ *btf.Spec) error {
			if err := pcap.InjectAll(spec, cfg.PcapFilter, cfg.TunnelPcapL2, cfg.TunnelPcapL3); err != nil {
				return err
			}
			if err := pcap.InjectTrigger(spec, cfg.TriggerPcap); err != nil {
				return fmt.Errorf("--trigger-pcap: %w", err)
			}
			return nil
		},
		func(spec *ebpf.CollectionSpec, kernel *btf.Spec) error {
			if err := skbexpr.Inject(spec, skbexpr.PlaceholderSkb, cfg.SKBExpr, kernel); err != nil {
				return fmt.Errorf("--filter-skb-expr: %w", err)
			}
			if err := skbexpr.Inject(spec, skbexpr.PlaceholderXdp, cfg.XDPExpr, kernel); err != nil {
				return fmt.Errorf("--filter-xdp-expr: %w", err)
			}
			return nil
		},
	}
	if err := cfg.Validate(); err != nil {
		return nil, unwrapConfig(err)
	}
	if !c.IsSet("flight-recorder") {
		for _, f := range []string{"trigger-drop", "trigger-func", "trigger-pcap", "trigger-after", "trigger-holdoff", "max-triggers"} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s needs --flight-recorder", f)
			}
		}
	} else {
		for _, f := range []string{"output-file-max-size", "output-file-max-backups", "W", "output-file-max-seconds"} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--flight-recorder writes one capture per trigger: it does not rotate (--%s)", f)
			}
		}
	}
	// Compile the pcap filters now, so that a typo is reported at once and
	// not after function discovery (seconds on a big kernel).
	for _, f := range []struct{ flag, expr string }{
		{"", cfg.PcapFilter}, {"--filter-tunnel-pcap-l2: ", cfg.TunnelPcapL2}, {"--filter-tunnel-pcap-l3: ", cfg.TunnelPcapL3},
		{"--trigger-pcap: ", c.String("trigger-pcap")},
	} {
		if f.expr == "" {
			continue
		}
		if _, err := pcap.CompileCBPF(f.expr, false); err != nil {
			return nil, fmt.Errorf("%s%w", f.flag, err)
		}
	}
	return cfg, nil
}

// unwrapConfig drops the "invalid configuration: " prefix: the message
// names the flag already.
func unwrapConfig(err error) error {
	if errors.Is(err, tracer.ErrConfig) {
		msg := strings.TrimPrefix(err.Error(), tracer.ErrConfig.Error()+": ")
		return errors.New(msg)
	}
	return err
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// outputOpts reads --file-mode, --group and --force.
func outputOpts(c *cli.Context) (outputOptions, error) {
	o := outputOptions{Group: -1, Force: c.Bool("force")}
	if s := c.String("file-mode"); s != "" {
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o777 {
			return o, fmt.Errorf("--file-mode: want octal permission bits such as 0640, got %q", s)
		}
		if m&0o600 != 0o600 {
			return o, fmt.Errorf("--file-mode %s: the owner must read and write the capture", s)
		}
		o.Mode = fs.FileMode(m)
	}
	if s := c.String("group"); s != "" {
		g, err := user.LookupGroup(s)
		if err != nil {
			if _, nerr := strconv.Atoi(s); nerr != nil {
				return o, fmt.Errorf("--group: unknown group %q", s)
			}
			g = &user.Group{Gid: s}
		}
		if o.Group, err = strconv.Atoi(g.Gid); err != nil || o.Group < 0 {
			return o, fmt.Errorf("--group: invalid gid %q", g.Gid)
		}
	}
	return o, nil
}

// optionText renders a flag value for the capture header: list flags as
// their values joined by commas, everything else as fmt prints it.
func optionText(v any) string {
	switch v := v.(type) {
	case *cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case cli.StringSlice:
		return strings.Join(v.Value(), ",")
	}
	return fmt.Sprint(v)
}
