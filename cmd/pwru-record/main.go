// Command pwru-record traces the kernel functions that handle a packet and
// writes everything into one capture file for pwru-replay.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/buildinfo"
	"github.com/pwru-record/pwru-record/internal/pcapfilter"
	"github.com/pwru-record/pwru-record/internal/skbexpr"
	"github.com/pwru-record/pwru-record/internal/suggest"
	"github.com/pwru-record/pwru-record/tracer"
)

// version is set by the linker (make build).
var version = "dev"

// memoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise: the recorder runs on production hosts, and startup (kernel
// BTF, kallsyms) would otherwise leave the heap at twice its live size.
const memoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// No transparent huge pages for this process: with THP "always" (a
	// common default) a 2 MiB piece of the Go heap is resident as a whole
	// as soon as one page of it is touched, which measured 16 MiB of the
	// recorder's RSS. Best effort: the recorder works either way.
	_ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "pwru-record: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks a command line mistake: exit status 2, as
// pwru-replay's.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitCode is 2 for usage errors and 1 for everything else.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

func newApp() *cli.App {
	return &cli.App{
		Name:      "pwru-record",
		Usage:     "record the kernel's packet path into a capture file for pwru-replay",
		UsageText: "pwru-record [options] [pcap-filter]",
		Description: `pwru-record traces every kernel function that takes a struct sk_buff * and
writes what it sees into one capture file; pwru-replay analyzes it anywhere.

Example:
   sudo pwru-record -o drop.pwru --filter-track-skb 'host 10.0.0.2 and udp port 9999'
   sudo pwru-record -o - --output-stack 'icmp' | ssh laptop 'cat > icmp.pwru'
   sudo pwru-record --list-funcs --filter-func '^ip_'`,
		Version:              buildinfo.Version(version),
		EnableBashCompletion: true,
		Flags:                flags(),
		Action:               run,
		// One-line errors: no usage dump on a bad flag, a hint for a
		// mistyped one, exit status 2.
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{fmt.Errorf("%w%s", err, suggest.FlagHint(flags(), err))}
		},
		HideHelpCommand: true,
	}
}

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "filter-func", Usage: "trace only kernel functions matching this regexp"},
		&cli.StringFlag{Name: "filter-netns", Usage: "trace only this network namespace: inode:N or a path such as /proc/PID/ns/net or /run/netns/NAME"},
		&cli.StringFlag{Name: "filter-mark", Usage: "trace only skbs with this mark: MARK[/MASK]"},
		&cli.StringFlag{Name: "filter-ifname", Usage: "trace only skbs on this interface (in --filter-netns or the current netns)"},
		&cli.BoolFlag{Name: "filter-track-skb", Usage: "follow an skb that once matched, even after its headers change, across clones and copies"},
		&cli.BoolFlag{Name: "filter-track-skb-by-stackid", Usage: "also follow events whose kernel stack matches one of a tracked skb (implies --filter-track-skb)"},
		&cli.BoolFlag{Name: "filter-trace-tc", Usage: "attach to every loaded tc BPF program (entry and verdict)"},
		&cli.BoolFlag{Name: "filter-trace-xdp", Usage: "attach to every loaded XDP program (entry and verdict)"},
		&cli.StringFlag{Name: "filter-skb-expr", Usage: "trace only skbs matching this C-like expression, e.g. 'skb->len > 100'"},
		&cli.StringFlag{Name: "filter-xdp-expr", Usage: "trace only xdp_buffs matching this C-like expression"},
		&cli.StringFlag{Name: "filter-non-skb-funcs", Usage: "also trace these functions without an skb argument (regexp; implies --filter-track-skb-by-stackid)"},
		&cli.BoolFlag{Name: "filter-track-bpf-helpers", Usage: "also trace the BPF helpers that traced tc/XDP programs call (needs --filter-trace-tc or --filter-trace-xdp)"},
		&cli.StringFlag{Name: "filter-tunnel-pcap-l2", Usage: "pcap filter on the inner Ethernet frame of VXLAN/Geneve packets"},
		&cli.StringFlag{Name: "filter-tunnel-pcap-l3", Usage: "pcap filter on the inner IP packet of VXLAN/Geneve packets"},
		&cli.IntFlag{Name: "filter-kprobe-batch", Value: tracer.DefaultBatch, Usage: "single kprobes attached at a time"},
		&cli.StringFlag{Name: "backend", Value: tracer.BackendAuto, Usage: "auto, kprobe, kprobe-multi or fentry (skb functions; auto: kprobe-multi, else kprobe)"},
		&cli.BoolFlag{Name: "all-kmods", Usage: "also trace functions of every loaded kernel module"},
		&cli.StringSliceFlag{Name: "kmods", Usage: "also trace functions of these kernel modules"},
		&cli.BoolFlag{Name: "output-skb", Usage: "record the raw struct sk_buff bytes"},
		&cli.BoolFlag{Name: "output-skb-shared-info", Usage: "record the raw struct skb_shared_info bytes"},
		&cli.BoolFlag{Name: "output-skb-cb", Usage: "record skb->cb"},
		&cli.StringSliceFlag{Name: "output-skb-metadata", Usage: "record these fields (up to 4), e.g. 'skb->hash', 'skb->dev->ifindex'"},
		&cli.StringSliceFlag{Name: "output-xdp-metadata", Usage: "record these xdp_buff fields (up to 4, with --filter-trace-xdp), e.g. 'xdp->rxq->queue_index', 'xdp->rxq->dev->ifindex'"},
		&cli.BoolFlag{Name: "output-bpfmap", Usage: "record the BPF map lookups, updates and deletes of the traced tc/XDP programs: map id, name, key and value (needs --filter-trace-tc or --filter-trace-xdp; lookups the verifier inlines, e.g. of array maps, are not seen)"},
		&cli.BoolFlag{Name: "output-stack", Usage: "record the kernel stack of every event"},
		&cli.BoolFlag{Name: "output-caller", Usage: "record the caller of every traced function"},
		&cli.UintFlag{Name: "snaplen", Value: tracer.DefaultSnaplen, Usage: "payload bytes to record (0 = none)"},
		&cli.StringFlag{Name: "payload", Value: "first", Usage: "first: record the payload when an skb is first seen and when it changes; every: on every event"},
		&cli.StringFlag{Name: "ringbuf-size", Value: "8M", Usage: "ring buffer size (power of two, K/M suffixes)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o", "output-file"}, Value: "pwru.pwru", Usage: "capture file (- = stdout); written to a temporary file beside it until recording starts"},
		&cli.StringFlag{Name: "kernel-btf", Usage: "raw vmlinux BTF `FILE` for a kernel without /sys/kernel/btf/vmlinux (e.g. from BTFHub): used to find and trace functions and stored in the capture"},
		&cli.StringFlag{Name: "file-mode", Usage: "permission bits of the capture in octal (default 0600, 0640 with --group)"},
		&cli.StringFlag{Name: "group", Usage: "group owner of the capture, to share it with a team"},
		&cli.BoolFlag{Name: "force", Usage: "write through a symbolic link at the --output name (refused otherwise)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"Z"}, Usage: "once every probe is attached and the capture is open, drop to this user (and its groups) with no capabilities left, as tcpdump -Z"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after this long"},
		&cli.Uint64Flag{Name: "max-events", Usage: "stop after this many events"},
		&cli.StringFlag{Name: "max-size", Usage: "stop when the capture reaches this size (K/M/G suffixes)"},
		&cli.Uint64Flag{Name: "output-file-max-size", Aliases: []string{"C"}, Usage: "rotate (-C as tcpdump, in MiB): start a new file of the set (NAME-000001.pwru, NAME-000002.pwru, ...; each a complete capture) when the current one holds this many `MB` beyond its header and snapshots (0 = one file)"},
		&cli.StringFlag{Name: "flight-recorder", Usage: "keep the last `DURATION|SIZE` (5m, 256MB) of events in memory, compressed, and write nothing until a trigger (--trigger-drop, --trigger-func, SIGUSR1) fires; then write NAME-<UTC time>-<reason>.pwru with the window and --trigger-after after it"},
		&cli.StringSliceFlag{Name: "trigger-drop", Usage: "flight recorder: trigger on a drop of a traced skb, or only of these `REASON`s (e.g. NETFILTER_DROP; 'any' = every drop)"},
		&cli.StringFlag{Name: "trigger-pcap", Usage: "flight recorder: trigger on an event whose packet matches this pcap `EXPR`, evaluated in the kernel after the filters (it filters nothing)"},
		&cli.StringFlag{Name: "trigger-func", Usage: "flight recorder: trigger when a traced function matching this `REGEX` is hit"},
		&cli.DurationFlag{Name: "trigger-after", Value: 5 * time.Second, Usage: "flight recorder: record this long after the trigger (kernel time of the events)"},
		&cli.DurationFlag{Name: "trigger-holdoff", Value: 10 * time.Second, Usage: "flight recorder: no new trigger until this long after a capture ended (a storm makes one file)"},
		&cli.IntFlag{Name: "max-triggers", Usage: "flight recorder: at most this many captures (0 = no limit)"},
		&cli.IntFlag{Name: "output-file-max-backups", Value: 3, Usage: "rotate: keep at most this many completed files besides the current one, removing the oldest (0 = keep all)"},
		&cli.IntFlag{Name: "W", Usage: "rotate, as tcpdump -W: keep at most this many files of the set, the current one included (--output-file-max-backups N-1)"},
		&cli.IntFlag{Name: "output-file-max-seconds", Aliases: []string{"G"}, Usage: "rotate (-G as tcpdump): also start a new file of the set when the current one is this many `SECONDS` old (at its next event)"},
		&cli.BoolFlag{Name: "list-funcs", Usage: "print the functions that would be traced and exit"},
		// pwru's display flags: accepted, since everything they show is
		// always recorded; pwru-replay print chooses the view.
		&cli.BoolFlag{Name: "output-tuple", Category: displayCategory, Usage: "pwru display flag: the data is always recorded (pwru-replay print --output-tuple)"},
		&cli.BoolFlag{Name: "output-meta", Category: displayCategory, Usage: "pwru display flag: the data is always recorded (pwru-replay print --output-meta)"},
		&cli.BoolFlag{Name: "output-tunnel", Category: displayCategory, Usage: "pwru display flag: the data is always recorded (pwru-replay print --output-tunnel)"},
		&cli.BoolFlag{Name: "output-tcp-flags", Category: displayCategory, Usage: "pwru display flag: the data is always recorded (pwru-replay print --output-tcp-flags)"},
		&cli.BoolFlag{Name: "output-json", Category: displayCategory, Usage: "pwru display flag: the data is always recorded (pwru-replay print --json)"},
		&cli.StringFlag{Name: "timestamp", Category: displayCategory, Usage: "pwru display flag: times are always recorded (pwru-replay print --timestamp)"},
		&cli.Uint64Flag{Name: "output-limit-lines", Category: displayCategory, Usage: "pwru display flag: shown by pwru-replay print --output-limit-lines (to stop recording: --max-events)"},
		&cli.StringFlag{Name: "ready-file", Hidden: true, Usage: "write this file once every probe is attached"},
		&cli.BoolFlag{Name: "bpf-stats", Hidden: true, Usage: "measure and report the kernel program's cost per run"},
		&cli.Uint64Flag{Name: "debug-rotate-bytes", Hidden: true, Usage: "rotate: --output-file-max-size in bytes instead of MB (the VM tests rotate small files)"},
		&cli.StringFlag{Name: "debug-ablate", Hidden: true, Usage: "leave these `PARTS` of the kernel program out (payload,meta,tuple,common,ring,cookie,post,body): what each costs, for make vmbench; events are incomplete"},
		&cli.StringFlag{Name: "debug-copy-tracking", Hidden: true, Usage: "kprobe+kretprobe: track clones and copies by the fallback even where fexit works"},
	}
}

// displayCategory groups pwru's display flags in the help.
const displayCategory = "pwru display flags (accepted; pwru-replay shows the data)"

// displayFlags are pwru's flags that choose what pwru prints, not what
// is recorded.
var displayFlags = []string{"output-tuple", "output-meta", "output-tunnel", "output-tcp-flags", "output-json", "timestamp", "output-limit-lines"}

// displayNote is the one line telling that pwru's display flags change
// nothing in the recording ("" when none was given).
func displayNote(c *cli.Context) string {
	var given []string
	for _, f := range displayFlags {
		if c.IsSet(f) {
			given = append(given, "--"+f)
		}
	}
	if len(given) == 0 {
		return ""
	}
	return "note: " + strings.Join(given, ", ") + ": the data is always recorded; choose the view with pwru-replay print"
}

// parseSize parses "4096", "8K", "16M", "1G".
func parseSize(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--%s: invalid size %q", flag, s)
	}
	return n * mult, nil
}

// parseMark parses MARK[/MASK].
func parseMark(s string) (mark, mask uint32, err error) {
	m, k, hasMask := strings.Cut(s, "/")
	v, err := strconv.ParseUint(m, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--filter-mark: invalid mark %q", m)
	}
	mask = ^uint32(0)
	if hasMask {
		mv, err := strconv.ParseUint(k, 0, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("--filter-mark: invalid mask %q", k)
		}
		mask = uint32(mv)
	}
	return uint32(v), mask, nil
}

// parseNetns accepts inode:N or a path to a netns file.
func parseNetns(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	if v, ok := strings.CutPrefix(s, "inode:"); ok {
		n, err := strconv.ParseUint(v, 0, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("--filter-netns: invalid inode %q", v)
		}
		return uint32(n), nil
	}
	var st unix.Stat_t
	if err := unix.Stat(s, &st); err != nil {
		return 0, fmt.Errorf("--filter-netns: %w", err)
	}
	return uint32(st.Ino), nil
}

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
			if err := pcapfilter.InjectAll(spec, cfg.PcapFilter, cfg.TunnelPcapL2, cfg.TunnelPcapL3); err != nil {
				return err
			}
			if err := pcapfilter.InjectTrigger(spec, cfg.TriggerPcap); err != nil {
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
		if _, err := pcapfilter.CompileCBPF(f.expr, false); err != nil {
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

func run(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	if n := displayNote(c); n != "" {
		fmt.Fprintf(c.App.ErrWriter, "pwru-record: %s\n", n)
	}
	if c.Bool("list-funcs") {
		funcs, err := tracer.ListFuncs(cfg)
		if err != nil {
			return unwrapConfig(err)
		}
		for _, f := range funcs {
			fmt.Fprintf(c.App.Writer, "%s\targ%d\n", f, f.SKBArg)
		}
		return nil
	}
	cfg.Log = os.Stderr
	cfg.Terminal = isTerminal(os.Stderr)

	oo, err := outputOpts(c)
	if err != nil {
		return err
	}
	var drop *identity
	if u := c.String("user"); u != "" {
		if drop, err = lookupUser(u); err != nil {
			return err
		}
	} else {
		runtime.UnlockOSThread() // locked for dropPrivileges only (privdrop.go)
	}
	var out io.Writer = os.Stdout
	var of *output
	path := c.String("output")
	var set *fileSet
	var flightDone func() error
	if c.IsSet("flight-recorder") {
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		var err error
		oo.Owner = drop
		if err := checkSetDir(path, oo, drop); err != nil {
			return err
		}
		if flightDone, err = flightConfig(c, cfg, path, oo); err != nil {
			return err
		}
		out = io.Discard // only the flight recorder's captures are written
		path = strings.TrimSuffix(path, ".pwru") + "-*.pwru"
	} else if mb, b, secs := c.Uint64("output-file-max-size"), c.Uint64("debug-rotate-bytes"), c.Int("output-file-max-seconds"); mb > 0 || b > 0 || secs != 0 {
		if path == "-" {
			return fmt.Errorf("--output-file-max-size and -G need --output to name a file, not stdout")
		}
		backups, err := rotateBackups(c)
		if err != nil {
			return err
		}
		if secs < 0 {
			return fmt.Errorf("-G/--output-file-max-seconds must not be negative")
		}
		cfg.RotateEvery = time.Duration(secs) * time.Second
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		oo.Owner = drop
		if err := checkSetDir(path, oo, drop); err != nil {
			return err
		}
		if set, err = newFileSet(path, backups, oo); err != nil {
			return err
		}
		out = set.cur
		cfg.RotateSize = int64(mb) << 20
		if b > 0 {
			cfg.RotateSize = int64(b)
		}
		cfg.Rotate = set.next
		path = set.pattern()
	} else if path != "-" {
		if err := tracer.CheckPrivileges(); err != nil {
			return err
		}
		if of, err = createOutput(path, oo); err != nil {
			return err
		}
		out = of.f
	}
	var dropNote string
	cfg.Started = func() error {
		if of != nil {
			if err := of.place(); err != nil {
				return err
			}
		}
		if drop != nil {
			d, err := dropPrivileges(drop)
			if err != nil {
				return err
			}
			runtime.UnlockOSThread()
			dropNote = d.String()
		}
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := tracer.Run(ctx, cfg, out)
	if set != nil {
		if cerr := set.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if flightDone != nil {
		if cerr := flightDone(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if of != nil {
		if res == nil || !res.Recording {
			of.abort()
		} else if cerr := of.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	switch {
	case res != nil && res.Recording:
		summary(os.Stderr, res, path)
		if dropNote != "" {
			fmt.Fprintf(os.Stderr, "pwru-record: %s; still needed root: %s\n", dropNote, stillRoot(res))
		}
	case res != nil:
		attempted(os.Stderr, res, path)
	}
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("disk full, capture %s stopped early (%s): %w", path, readable(path, res), err)
		}
		return unwrapConfig(err)
	}
	return nil
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

// stillRoot says what the recording could not do after dropping the
// privileges.
func stillRoot(r *tracer.Result) string {
	if r.LossCounters != "" {
		return "reading the kernel's loss counters (" + r.LossCounters + "); the capture counts them as loss_counters_unreadable"
	}
	return "nothing (interfaces are named from the snapshot taken at start, with or without --user)"
}

// attempted is the summary of a recording that failed to start: what it
// tried, and that no capture was written.
func attempted(w io.Writer, r *tracer.Result, path string) {
	where := "no capture written"
	if path == "-" {
		where = "the stream on stdout is not a capture"
	}
	fmt.Fprintf(w, "pwru-record: stopped before recording (%s): %d probes planned via %s, %d attached, %d failed; startup %s: %s\n",
		where, r.Planned, r.Backend, r.Probes, r.ProbesFailed, r.Startup.Total().Truncate(time.Millisecond), r.Startup)
	for _, s := range r.FailedSamples {
		fmt.Fprintf(w, "pwru-record: failed: %s\n", s)
	}
}

// readable says what a capture cut short by a full disk still holds: its
// complete sections, read back from path (not possible for stdout).
func readable(path string, res *tracer.Result) string {
	const what = "readable up to the last complete section"
	if path == "-" || res == nil {
		return what
	}
	f, err := format.Open(path, nil)
	if err != nil {
		return what
	}
	defer f.Close()
	return fmt.Sprintf("%d of %d events %s", f.Summary().Events, res.Events, what)
}

func summary(w io.Writer, r *tracer.Result, path string) {
	fmt.Fprintf(w, "pwru-record: %d events, %d lost, %d bytes to %s; %d probes attached via %s, %d failed",
		r.Events, r.Lost, r.Bytes, path, r.Probes, r.Backend, r.ProbesFailed)
	if r.Files > 1 {
		fmt.Fprintf(w, " (%d files, rotated)", r.Files)
	}
	if r.CopyTracking != "" {
		fmt.Fprintf(w, "; clone tracking via %s", r.CopyTracking)
	}
	if r.StopReason != "" {
		fmt.Fprintf(w, "; stopped: %s after %s", r.StopReason, r.Elapsed.Truncate(time.Millisecond))
	}
	if r.Memory.Peak > 0 {
		fmt.Fprintf(w, "; peak RSS %.1f MiB", float64(r.Memory.Peak)/(1<<20))
	}
	fmt.Fprintf(w, "\npwru-record: startup %s: %s; detach %s\n",
		r.Startup.Total().Truncate(time.Millisecond), r.Startup, r.Detach.Truncate(time.Millisecond))
	if m := r.Startup.MemoryString(); m != "" {
		fmt.Fprintf(w, "pwru-record: memory in MiB (VmRSS/RssAnon/Go runtime/VmHWM) after: %s; at the end %s\n", m, r.Memory)
	}
	if r.ProgRuns > 0 {
		fmt.Fprintf(w, "pwru-record: kernel program: %d runs, %s total, %d ns/run\n",
			r.ProgRuns, r.ProgRuntime.Truncate(time.Millisecond), r.ProgRuntime.Nanoseconds()/int64(r.ProgRuns))
	}
	for _, s := range r.FailedSamples {
		fmt.Fprintf(w, "pwru-record: failed: %s\n", s)
	}
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

// rotateBackups is the number of completed files a rotated set keeps,
// from --output-file-max-backups or tcpdump's -W (files in all).
func rotateBackups(c *cli.Context) (int, error) {
	if c.IsSet("W") {
		if c.IsSet("output-file-max-backups") {
			return 0, fmt.Errorf("-W and --output-file-max-backups say the same: give one")
		}
		if n := c.Int("W"); n < 2 {
			return 0, fmt.Errorf("-W %d: want at least 2 files (the one being written and one completed)", n)
		}
		return c.Int("W") - 1, nil
	}
	if n := c.Int("output-file-max-backups"); n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("--output-file-max-backups must not be negative")
}
