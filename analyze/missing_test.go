package analyze

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
)

func openVM(t *testing.T, name string) *Capture {
	t.Helper()
	c, err := Open(filepath.Join("..", "testdata", "vm", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMissingData: an option whose data the capture lacks is one note
// and no column, never zeros.
func TestMissingData(t *testing.T) {
	c := openVM(t, "drop-6.1.pwru")
	o := PrintOptions{OutputMeta: true, OutputStack: true, OutputSkbCB: true, OutputSkb: true, OutputCaller: true}
	notes := MissingData(c, &o)
	want := []MissingNote{
		{"OutputStack", c.Path + " has no kernel stacks: record with --output-stack"},
		{"OutputSkbCB", c.Path + " has no skb->cb bytes: record with --output-skb-cb"},
		{"OutputSkb", c.Path + " has no struct sk_buff bytes: record with --output-skb"},
		{"OutputCaller", c.Path + " has no callers: record with --output-caller"},
	}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if o.OutputStack || o.OutputSkbCB || o.OutputSkb || o.OutputCaller {
		t.Errorf("options still on: %+v", o)
	}
	out := printString(t, c, PrintOptions{OutputMeta: true, OutputSkbCB: true, OutputCaller: true})
	if strings.Contains(out, "cb[]") || strings.Contains(out, "0x00000000") || strings.Contains(out, "CALLER") {
		t.Errorf("empty column or zeros shown:\n%s", out[:min(len(out), 600)])
	}
	if n := FilterNotes(c, &Filter{Pcap: "icmp"}); n != nil {
		t.Errorf("FilterNotes on a capture with payloads: %q", n)
	}
}

// TestJSONLifetimeAndTime: every JSON event names its skb lifetime (an
// address reused by a later skb gets a new skb_id) and carries its time.
func TestJSONLifetimeAndTime(t *testing.T) {
	c := mustCapture(t, "basic")
	out := printString(t, c, PrintOptions{JSON: true})
	ids := map[string]map[uint64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			SKB     string  `json:"skb"`
			ID      *uint64 `json:"skb_id"`
			TimeNs  *uint64 `json:"time_ns"`
			TimeUTC string  `json:"time_utc"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID == nil || ev.TimeNs == nil {
			t.Fatalf("no skb_id or time_ns: %s", line)
		}
		ts, err := time.Parse(time.RFC3339Nano, ev.TimeUTC)
		if err != nil || ts.UnixNano()-c.File.Header().MonoOffset != int64(*ev.TimeNs) {
			t.Errorf("time_utc %q does not match time_ns %d (%v)", ev.TimeUTC, *ev.TimeNs, err)
		}
		if ids[ev.SKB] == nil {
			ids[ev.SKB] = map[uint64]bool{}
		}
		ids[ev.SKB][*ev.ID] = true
	}
	if n := len(ids["0xffff888001000000"]); n != 2 {
		t.Errorf("reused address 0xffff888001000000 has %d skb_ids, want 2 (two lifetimes)", n)
	}
}

// TestAbsoluteTimestampZone: --timestamp absolute says its zone.
func TestAbsoluteTimestampZone(t *testing.T) {
	c := mustCapture(t, "basic")
	loc := time.FixedZone("X", 3600)
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "2026-01-02T03:04:05.000Z "},
		{loc, "2026-01-02T04:04:05.000+01:00 "},
	} {
		out := printString(t, c, PrintOptions{Timestamp: TimestampAbsolute, Location: tt.loc})
		if !strings.Contains(out, "\n"+tt.want) {
			t.Errorf("Location %v: no line starting %q:\n%s", tt.loc, tt.want, out[:min(len(out), 400)])
		}
		js := printString(t, c, PrintOptions{JSON: true, Timestamp: TimestampAbsolute, Location: tt.loc})
		if !strings.Contains(js, `"time":"`+strings.TrimSpace(tt.want)[:19]) || !strings.Contains(js, strings.TrimSpace(tt.want)[23:]+`"`) {
			t.Errorf("Location %v: JSON time lacks zone %q:\n%s", tt.loc, tt.want, js[:min(len(js), 400)])
		}
	}
}

// TestAppendUTC: time_utc is time.RFC3339Nano of the event's wall time.
func TestAppendUTC(t *testing.T) {
	c := mustCapture(t, "basic")
	p := &printer{c: c}
	off := c.File.Header().MonoOffset
	for _, ns := range []int64{0, 1, 999_999_999, 1_000_000_000, 1_500_000_000, 123_456_789_000, 86_400_000_000_001} {
		e := formatEvent(uint64(ns))
		want := time.Unix(0, ns+off).UTC().Format(time.RFC3339Nano)
		if got := string(p.appendUTC(nil, &e)); got != want {
			t.Errorf("appendUTC(%d) = %s, want %s", ns, got, want)
		}
	}
}

func formatEvent(t uint64) format.Event { return format.Event{Time: t} }
