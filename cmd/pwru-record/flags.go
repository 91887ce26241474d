package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/tracer"
)

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
