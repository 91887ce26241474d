package analyze

import (
	"bytes"

	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
)

func TestPrintGolden(t *testing.T) {
	c := mustCapture(t, "basic")
	tests := []struct {
		name string
		opts PrintOptions
	}{
		{"print-default.golden", PrintOptions{OutputMeta: true, OutputTuple: true}},
		{"print-all.golden", PrintOptions{OutputMeta: true, OutputTuple: true, OutputTCPFlags: true, OutputCaller: true,
			OutputStack: true, OutputSkbCB: true, OutputNetnsNames: true, OutputTunnel: true, Timestamp: TimestampRelative}},
		{"print-skb.golden", PrintOptions{OutputSkb: true, OutputShinfo: true, Timestamp: TimestampAbsolute, Filter: Filter{Func: "netif_receive"}}},
		{"print-json.golden", PrintOptions{JSON: true, OutputMeta: true, OutputTuple: true, OutputTCPFlags: true, OutputStack: true,
			OutputCaller: true, OutputSkbCB: true, Timestamp: TimestampCurrent}},
		{"print-dropped.golden", PrintOptions{OutputTuple: true, Filter: Filter{Dropped: true}}},
		{"print-reason.golden", PrintOptions{OutputTuple: true, Filter: Filter{Reason: "no_socket"}}},
		{"print-track.golden", PrintOptions{OutputTuple: true, Filter: Filter{SKB: 0xffff888001000200, Track: true}}},
		{"print-netns.golden", PrintOptions{OutputMeta: true, Filter: Filter{Netns: &NetnsRef{Name: "pod1"}}, LimitLines: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Print(&buf, c, &tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestPathsGolden(t *testing.T) {
	tests := []struct {
		name, scenario string
		opts           PathsOptions
	}{
		{"paths-basic.golden", "basic", PathsOptions{}},
		{"paths-nogroup.golden", "basic", PathsOptions{NoGroup: true, Filter: Filter{Track: true, SKB: 0xffff888001000200}}},
		{"paths-good.golden", "good", PathsOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCapture(t, tt.scenario)
			var buf bytes.Buffer
			if err := Paths(&buf, c, &tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestStatsGolden(t *testing.T) {
	tests := []struct {
		name, scenario string
		opts           StatsOptions
	}{
		{"stats-basic.golden", "basic", StatsOptions{}},
		{"stats-bad.golden", "bad", StatsOptions{}},
		{"stats-func.golden", "bad", StatsOptions{Filter: Filter{Func: "^(ip_|kfree)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCapture(t, tt.scenario)
			var buf bytes.Buffer
			if err := Stats(&buf, c, &tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestInfoGolden(t *testing.T) {
	c := mustCapture(t, "basic")
	c.Path = "basic.pwru"
	var buf bytes.Buffer
	if err := Info(&buf, c, &InfoOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "info-basic.golden", []byte(analyzetest.StableInfo(buf.String())))
}

func TestPcapFilterSelectsSKBs(t *testing.T) {
	c := mustCapture(t, "basic")
	tests := []struct {
		expr string
		skbs []string // skb addresses printed, in order of first appearance
	}{
		{"udp port 53", []string{"0xffff888001000100"}},
		{"icmp", []string{"0xffff888001000200", "0xffff888001000300"}},
		{"tcp[tcpflags] & tcp-ack != 0", []string{"0xffff888001000000"}},
		{"src net 10.0.1.0/24 or udp", []string{"0xffff888001000100", "0xffff888001000200", "0xffff888001000300"}},
		{"host 192.0.2.1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Print(&buf, c, &PrintOptions{Filter: Filter{Pcap: tt.expr}}); err != nil {
				t.Fatal(err)
			}
			var got []string
			seen := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n")[1:] {
				f := strings.Fields(line)
				if !seen[f[0]] {
					seen[f[0]] = true
					got = append(got, f[0])
				}
			}
			if !slices.Equal(got, tt.skbs) {
				t.Errorf("skbs = %v, want %v", got, tt.skbs)
			}
		})
	}
}

// TestRealCaptures renders the captures the VM harness recorded on real
// kernels (testdata/vm).
func TestRealCaptures(t *testing.T) {
	tests := []struct {
		golden, file string
		run          func(*bytes.Buffer, *Capture) error
	}{
		{"vm-drop-print.golden", "drop-6.1.pwru", func(b *bytes.Buffer, c *Capture) error {
			return Print(b, c, &PrintOptions{OutputMeta: true, OutputTuple: true, OutputTCPFlags: true, OutputNetnsNames: true, Timestamp: TimestampRelative})
		}},
		{"vm-drop-paths.golden", "drop-6.1.pwru", func(b *bytes.Buffer, c *Capture) error { return Paths(b, c, nil) }},
		{"vm-icmp-stats.golden", "icmp-6.12.pwru", func(b *bytes.Buffer, c *Capture) error { return Stats(b, c, nil) }},
		{"vm-icmp-json.golden", "icmp-6.12.pwru", func(b *bytes.Buffer, c *Capture) error {
			return Print(b, c, &PrintOptions{JSON: true, OutputMeta: true, OutputTuple: true, OutputCaller: true, Filter: Filter{Pcap: "icmp[icmptype] == icmp-echo"}})
		}},
		{"vm-killed-paths.golden", "killed-6.1.pwru", func(b *bytes.Buffer, c *Capture) error {
			return Paths(b, c, &PathsOptions{Filter: Filter{Reason: "NO_SOCKET"}, Limit: 2})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c, err := Open(filepath.Join("..", "testdata", "vm", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var buf bytes.Buffer
			if err := tt.run(&buf, c); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

func TestPrintColor(t *testing.T) {
	c := mustCapture(t, "basic")
	tests := []struct {
		color bool
		want  string
	}{
		{true, "\x1b[31mkfree_skb_reason(SKB_DROP_REASON_NO_SOCKET)\x1b[0m"},
		{false, " kfree_skb_reason(SKB_DROP_REASON_NO_SOCKET)\n"},
	}
	for _, tt := range tests {
		out := printString(t, c, PrintOptions{Color: tt.color, Filter: Filter{Reason: "NO_SOCKET"}})
		if !strings.Contains(out, tt.want) {
			t.Errorf("Color=%v: output lacks %q:\n%s", tt.color, tt.want, out)
		}
		if !tt.color && strings.Contains(out, "\x1b[") {
			t.Errorf("Color=false: escape sequences in output")
		}
	}
}
