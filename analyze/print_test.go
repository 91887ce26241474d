package analyze

import (
	"bytes"
	"testing"
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
		{"print-track.golden", PrintOptions{OutputTuple: true, Filter: Filter{SKB: "ffff888001000200", Track: true}}},
		{"print-netns.golden", PrintOptions{OutputMeta: true, Filter: Filter{Netns: "pod1"}, LimitLines: 3}},
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
