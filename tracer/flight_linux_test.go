package tracer

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// TestFlightTriggers: the trigger test of the recorder's configuration
// (drop, drop reason, function, --trigger-pcap's kernel flag) and the
// trigger event the capture's header names.
func TestFlightTriggers(t *testing.T) {
	var prefix bytes.Buffer
	hdr := format.Header{WriterVersion: "test", MonoOffset: 1_700_000_000_000_000_000}
	w, err := format.NewWriter(&prefix, &hdr, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s := &session{probes: []format.Probe{
		{ID: 1, Name: "ip_rcv"}, {ID: 2, Name: "kfree_skb_reason"}, {ID: 3, Name: "kfree_skb", Kind: format.ProbeTracepoint},
	}}
	rec := func(probe uint32, flags format.EventFlags, reason uint32) []byte {
		ev := testEvent(0xffff888000000100, probe)
		ev.Time = 5000
		ev.Flags = uint16(flags)
		ev.DropReason = reason
		return encodeRecord(t, ev, nil)
	}
	const nfDrop = 7
	tests := []struct {
		name    string
		cfg     Config
		reasons map[uint32]string
		rec     []byte
		want    string
	}{
		{"pcap flag", Config{TriggerPcap: "udp"}, nil, rec(1, format.FlagTrigger, 0), "pcap"},
		{"pcap flag, no --trigger-pcap", Config{}, nil, rec(1, format.FlagTrigger, 0), ""},
		{"no pcap flag", Config{TriggerPcap: "udp"}, nil, rec(1, 0, 0), ""},
		{"any drop", Config{TriggerDrop: true}, nil, rec(3, format.FlagDropReason, nfDrop), "drop"},
		{"not dropped", Config{TriggerDrop: true}, nil, rec(3, format.FlagDropReason, 1), ""},
		{"reasonless tracepoint hit", Config{TriggerDrop: true}, nil, rec(3, 0, 0), "drop"},
		{"reason given", Config{TriggerDrop: true}, map[uint32]string{nfDrop: "NETFILTER_DROP"}, rec(3, format.FlagDropReason, nfDrop), "drop-NETFILTER_DROP"},
		{"other reason", Config{TriggerDrop: true}, map[uint32]string{nfDrop: "NETFILTER_DROP"}, rec(3, format.FlagDropReason, 2), ""},
		{"function", Config{TriggerFunc: "^kfree_skb_reason$"}, nil, rec(2, 0, 0), "func-kfree_skb_reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.FlightAge = 10 * time.Second
			var out bytes.Buffer
			cfg.FlightOpen = func(string, time.Time) (io.Writer, error) { return &out, nil }
			fo, err := s.flightOptions(&cfg, prefix.Bytes(), hdr, tt.reasons, map[uint32]bool{0: true, 1: true})
			if err != nil {
				t.Fatal(err)
			}
			got := fo.Trigger(tt.rec)
			if got != tt.want {
				t.Fatalf("trigger %q, want %q", got, tt.want)
			}
			if got == "" {
				return
			}
			cw, err := fo.Open(got, 5000, tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := format.NewFile(bytes.NewReader(out.Bytes()), int64(out.Len()), nil)
			if err != nil {
				t.Fatal(err)
			}
			o := f.Header().Options
			probe := map[uint32]string{1: "ip_rcv", 2: "kfree_skb_reason", 3: "kfree_skb"}[u32at(tt.rec, offProbeID)]
			if o["flight-recorder.trigger"] != got || o["flight-recorder.trigger-ktime"] != "5000" ||
				o["flight-recorder.trigger-skb"] != "0xffff888000000100" || o["flight-recorder.trigger-probe"] != probe ||
				o["flight-recorder.trigger-time"] != time.Unix(0, 5000+hdr.MonoOffset).UTC().Format(time.RFC3339Nano) {
				t.Errorf("header options %v", o)
			}
			_, hasReason := o["flight-recorder.trigger-drop-reason"]
			if wantR := format.EventFlags(u16at(tt.rec, offFlags))&format.FlagDropReason != 0; hasReason != wantR ||
				(hasReason && o["flight-recorder.trigger-drop-reason"] != strconv.FormatUint(uint64(u32at(tt.rec, offDropReason)), 10)) {
				t.Errorf("trigger drop reason %q (present %v), want present %v", o["flight-recorder.trigger-drop-reason"], hasReason, wantR)
			}
		})
	}
}
