package main

import (
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/tracer"
)

// parse runs the flag parsing and validation of the real app on args and
// returns the configuration (without recording anything).
func parse(t *testing.T, args ...string) (*tracer.Config, error) {
	t.Helper()
	app := newApp()
	var cfg *tracer.Config
	app.Action = func(c *cli.Context) error {
		var err error
		cfg, err = config(c)
		return err
	}
	err := app.Run(append([]string{"pwru-record"}, args...))
	return cfg, err
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*tracer.Config) bool
	}{
		{name: "defaults", check: func(c *tracer.Config) bool {
			return c.Snaplen == 128 && c.Backend == "auto" && c.RingbufSize == 8<<20 && !c.PayloadEvery && c.KprobeBatch == tracer.DefaultBatch
		}},
		{name: "pcap filter joined", args: []string{"icmp", "and", "host", "10.0.0.2"}, check: func(c *tracer.Config) bool {
			return c.PcapFilter == "icmp and host 10.0.0.2" && len(c.Injectors) == 2
		}},
		{name: "mark with mask", args: []string{"--filter-mark", "0x10/0xf0"}, check: func(c *tracer.Config) bool {
			return c.FilterMarkSet && c.FilterMark == 0x10 && c.FilterMarkMask == 0xf0
		}},
		{name: "mark without mask", args: []string{"--filter-mark", "7"}, check: func(c *tracer.Config) bool {
			return c.FilterMark == 7 && c.FilterMarkMask == ^uint32(0)
		}},
		{name: "netns inode", args: []string{"--filter-netns", "inode:4026531840"}, check: func(c *tracer.Config) bool {
			return c.FilterNetns == 4026531840
		}},
		{name: "sizes", args: []string{"--ringbuf-size", "16M", "--max-size", "1G"}, check: func(c *tracer.Config) bool {
			return c.RingbufSize == 16<<20 && c.MaxSize == 1<<30
		}},
		{name: "payload every", args: []string{"--payload", "every"}, check: func(c *tracer.Config) bool { return c.PayloadEvery }},
		{name: "options recorded", args: []string{"--snaplen", "64"}, check: func(c *tracer.Config) bool {
			return c.Options["snaplen"] == "64" && c.Options["backend"] == "auto"
		}},
		{name: "list options recorded as values", args: []string{"--kmods", "veth,vxlan", "--output-skb-metadata", "skb->hash"}, check: func(c *tracer.Config) bool {
			return c.Options["kmods"] == "veth,vxlan" && c.Options["output-skb-metadata"] == "skb->hash"
		}},
		{name: "non-skb funcs imply stack tracking", args: []string{"--filter-non-skb-funcs", "^tcp_"}, check: func(c *tracer.Config) bool {
			return c.TrackSKBByStackID && c.TrackSKB
		}},
		{name: "bad pcap filter before discovery", args: []string{"host", "and", "and"}, wantErr: `compile pcap filter "host and and"`},
		{name: "bad tunnel filter", args: []string{"--filter-tunnel-pcap-l3", "port x"}, wantErr: "--filter-tunnel-pcap-l3: compile pcap filter"},
		{name: "bad backend", args: []string{"--backend", "fentry-multi"}, wantErr: "unknown backend"},
		{name: "fentry backend", args: []string{"--backend", "fentry"}, check: func(c *tracer.Config) bool { return c.Backend == tracer.BackendFentry }},
		{name: "bad mark", args: []string{"--filter-mark", "x"}, wantErr: "--filter-mark: invalid mark"},
		{name: "bad mask", args: []string{"--filter-mark", "1/y"}, wantErr: "--filter-mark: invalid mask"},
		{name: "bad netns", args: []string{"--filter-netns", "inode:abc"}, wantErr: "--filter-netns: invalid inode"},
		{name: "missing netns path", args: []string{"--filter-netns", "/nonexistent/ns"}, wantErr: "--filter-netns"},
		{name: "bad regexp", args: []string{"--filter-func", "("}, wantErr: "--filter-func"},
		{name: "snaplen too big", args: []string{"--snaplen", "9000"}, wantErr: "exceeds the maximum"},
		{name: "bad payload mode", args: []string{"--payload", "sometimes"}, wantErr: "--payload"},
		{name: "payload every without snaplen", args: []string{"--payload", "every", "--snaplen", "0"}, wantErr: "--snaplen > 0"},
		{name: "ringbuf not a power of two", args: []string{"--ringbuf-size", "3000"}, wantErr: "power of two"},
		{name: "bad size", args: []string{"--max-size", "lots"}, wantErr: "--max-size: invalid size"},
		{name: "xdp expr needs xdp tracing", args: []string{"--filter-xdp-expr", "xdp->data != 0"}, wantErr: "needs --filter-trace-xdp"},
		{name: "too much metadata", args: []string{"--output-skb-metadata", "skb->a,skb->b,skb->c,skb->d,skb->e"}, wantErr: "at most 4"},
		{name: "xdp metadata expressions", args: []string{"--filter-trace-xdp", "--output-xdp-metadata", "xdp->rxq->queue_index,xdp->rxq->dev->ifindex"}, check: func(c *tracer.Config) bool {
			return len(c.OutputXDPMetadata) == 2 && c.OutputXDPMetadata[1] == "xdp->rxq->dev->ifindex" &&
				c.Options["output-xdp-metadata"] == "xdp->rxq->queue_index,xdp->rxq->dev->ifindex"
		}},
		{name: "xdp metadata needs xdp tracing", args: []string{"--output-xdp-metadata", "xdp->data_end"}, wantErr: "--output-xdp-metadata needs --filter-trace-xdp"},
		{name: "xdp metadata old bool form", args: []string{"--output-xdp-metadata=true", "--filter-trace-xdp"}, wantErr: `takes xdp_buff fields such as 'xdp->rxq->queue_index', got "true"`},
		{name: "xdp metadata old bool form eats next flag", args: []string{"--output-xdp-metadata", "--filter-trace-xdp"}, wantErr: `got "--filter-trace-xdp"`},
		{name: "xdp metadata skb expression", args: []string{"--filter-trace-xdp", "--output-xdp-metadata", "skb->hash"}, wantErr: `got "skb->hash"`},
		{name: "too much xdp metadata", args: []string{"--filter-trace-xdp", "--output-xdp-metadata", "xdp->a,xdp->b,xdp->c,xdp->d,xdp->e"}, wantErr: "--output-xdp-metadata: at most 4"},
		{name: "helpers need tc or xdp", args: []string{"--filter-track-bpf-helpers"}, wantErr: "needs --filter-trace-tc"},
		{name: "helpers with tc", args: []string{"--filter-track-bpf-helpers", "--filter-trace-tc"}, check: func(c *tracer.Config) bool { return c.TrackBPFHelpers }},
		{name: "bpfmap needs tc or xdp", args: []string{"--output-bpfmap"}, wantErr: "--output-bpfmap needs --filter-trace-tc or --filter-trace-xdp"},
		{name: "bpfmap with tc", args: []string{"--output-bpfmap", "--filter-trace-tc"}, check: func(c *tracer.Config) bool {
			return c.OutputBPFMap && c.TraceTC && !c.TrackBPFHelpers && c.Options["output-bpfmap"] == "true"
		}},
		{name: "bpfmap with xdp", args: []string{"--output-bpfmap", "--filter-trace-xdp"}, check: func(c *tracer.Config) bool {
			return c.OutputBPFMap && c.TraceXDP
		}},
		{name: "bpfmap with helpers", args: []string{"--output-bpfmap", "--filter-trace-tc", "--filter-track-bpf-helpers"}, check: func(c *tracer.Config) bool {
			return c.OutputBPFMap && c.TrackBPFHelpers
		}},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "not defined"},
		{name: "trigger without flight recorder", args: []string{"--trigger-pcap", "udp"}, wantErr: "--trigger-pcap needs --flight-recorder"},
		{name: "bad trigger pcap", args: []string{"--flight-recorder", "5m", "--trigger-pcap", "udp port"}, wantErr: `--trigger-pcap: compile pcap filter "udp port"`},
		{name: "flight recorder does not rotate", args: []string{"--flight-recorder", "5m", "-G", "60"}, wantErr: "--flight-recorder writes one capture per trigger: it does not rotate (--output-file-max-seconds)"},
		{name: "trigger pcap is no filter", args: []string{"--flight-recorder", "5m", "--trigger-pcap", "udp"}, check: func(c *tracer.Config) bool {
			return c.PcapFilter == "" && len(c.Injectors) == 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config does not hold: %+v", cfg)
			}
		})
	}
}

func TestHelpHasExample(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"pwru-record", "--help"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Example:") || !strings.Contains(out.String(), "pwru-record -o ") {
		t.Errorf("--help shows no example:\n%s", out.String())
	}
}

func TestSummary(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	res := &tracer.Result{
		Stats:   tracer.Stats{Events: 10, Bytes: 4096, StopReason: tracer.StopInterrupted, Elapsed: ms(2500)},
		Backend: "kprobe-multi", Probes: 3,
		Startup: tracer.Phases{
			{Name: "read kallsyms", Took: ms(900), Concurrent: true},
			{Name: "scan BTF", Took: ms(1200), Memory: tracer.Memory{RSS: 30 << 20, Anon: 20 << 20, Go: 18 << 20, Peak: 31 << 20}},
			{Name: "attach", Took: ms(300), Memory: tracer.Memory{RSS: 40 << 20, Anon: 21 << 20, Go: 19 << 20, Peak: 41 << 20}},
		},
		Detach: ms(50),
		Memory: tracer.Memory{RSS: 42 << 20, Anon: 22 << 20, Go: 20 << 20, Peak: 45 << 20},
	}
	var b strings.Builder
	summary(&b, res, "x.pwru")
	for _, want := range []string{
		"pwru-record: 10 events, 0 lost, 4096 bytes to x.pwru; 3 probes attached via kprobe-multi, 0 failed; stopped: interrupted after 2.5s; peak RSS 45.0 MiB\n",
		"pwru-record: startup 1.5s: scan BTF 1.2s (read kallsyms 900ms concurrently), attach 300ms; detach 50ms\n",
		"pwru-record: memory in MiB (VmRSS/RssAnon/Go runtime/VmHWM) after: scan BTF 30.0/20.0/18.0/31.0, attach 40.0/21.0/19.0/41.0; at the end 42.0/22.0/20.0/45.0\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPwruHabits: pwru's display flags are accepted (and not stored as
// recorder options), --output-file is -o, --kernel-btf reaches the
// tracer, the default file name ends in .pwru, a mistyped flag gets a
// hint and exit status 2.
func TestPwruHabits(t *testing.T) {
	cfg, err := parse(t, "--output-tuple", "--output-meta", "--output-tunnel", "--output-tcp-flags", "--output-json",
		"--timestamp", "relative", "--output-limit-lines", "10", "--output-file", "x.pwru", "--kernel-btf", "/tmp/vmlinux.btf", "icmp")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Options["output"] != "x.pwru" || cfg.KernelBTF != "/tmp/vmlinux.btf" || cfg.Options["kernel-btf"] != "/tmp/vmlinux.btf" {
		t.Errorf("output %q, kernel-btf %q", cfg.Options["output"], cfg.KernelBTF)
	}
	for _, f := range displayFlags {
		if _, ok := cfg.Options[f]; ok {
			t.Errorf("display flag %s stored as a recorder option", f)
		}
	}
	cfg, err = parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(cfg.Options["output"], ".pwru") {
		t.Errorf("default output %q does not end in .pwru", cfg.Options["output"])
	}
	if cfg.Options["kmods"] != "" || cfg.Options["output-skb-metadata"] != "" {
		t.Errorf("unset list flags recorded as %q, %q", cfg.Options["kmods"], cfg.Options["output-skb-metadata"])
	}
	_, err = parse(t, "--output-stak")
	if err == nil || exitCode(err) != 2 || !strings.HasSuffix(err.Error(), "did you mean --output-stack?") {
		t.Errorf("mistyped flag: %v (exit %d)", err, exitCode(err))
	}
}

func TestDisplayNote(t *testing.T) {
	app := newApp()
	var note string
	app.Action = func(c *cli.Context) error { note = displayNote(c); return nil }
	if err := app.Run([]string{"pwru-record", "--output-tuple", "--timestamp", "absolute"}); err != nil {
		t.Fatal(err)
	}
	if want := "note: --output-tuple, --timestamp: the data is always recorded; choose the view with pwru-replay print"; note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
}

// TestRotateBackups: tcpdump's -W counts every file of the set, the
// current one included; --output-file-max-backups the completed ones.
func TestRotateBackups(t *testing.T) {
	tests := []struct {
		args    []string
		want    int
		wantErr string
	}{
		{nil, 3, ""},
		{[]string{"--output-file-max-backups", "0"}, 0, ""},
		{[]string{"-W", "5"}, 4, ""},
		{[]string{"-W", "1"}, 0, "-W 1: want at least 2 files"},
		{[]string{"-W", "3", "--output-file-max-backups", "2"}, 0, "-W and --output-file-max-backups say the same"},
		{[]string{"--output-file-max-backups", "-1"}, 0, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			app := newApp()
			var got int
			var err error
			app.Action = func(c *cli.Context) error {
				got, err = rotateBackups(c)
				return nil
			}
			if rerr := app.Run(append([]string{"pwru-record", "-C", "10", "-G", "60"}, tt.args...)); rerr != nil {
				t.Fatal(rerr)
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err %v, want %q", err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || got != tt.want):
				t.Errorf("backups %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
