//go:build vmtest

package vmtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// flightDropPort is the port of the one dropped datagram
// (vmtest/guest/flight.go).
const flightDropPort = 5651

// TestFlight: a flight recorder over steady traffic with one nftables
// drop writes nothing before the drop and exactly one capture after it,
// holding the dropped skb's journey and the window before it.
func TestFlight(t *testing.T) {
	forKernels(t, "flight", func(t *testing.T, c *checkCtx) {
		v := c.rep.Values
		r := c.rep.Run("flight")
		if r == nil {
			t.Fatal("no flight run in the report")
		}
		t.Logf("sent %d, trigger to complete file %d ms; stderr:\n%s", v["sent"], v["trigger_to_file_ms"], stderrTail(r.Stderr))
		if v["files_before_drop"] != 0 {
			t.Errorf("%d files before the drop, want none", v["files_before_drop"])
		}
		files, _ := filepath.Glob(filepath.Join(c.dir, "flight-*.pwru"))
		if len(files) != 1 {
			t.Fatalf("%d flight recorder captures %v, want exactly 1", len(files), files)
		}
		if !strings.HasSuffix(files[0], "-drop.pwru") {
			t.Errorf("capture %s is not named for a drop trigger", files[0])
		}
		cp := readCapture(t, files[0], false)
		h := cp.f.Header()
		if h.Options["flight-recorder.trigger"] != "drop" || h.Options["flight-recorder.window"] != "10s" {
			t.Errorf("header options %v: want the flight recorder's window and trigger", h.Options)
		}
		dropped := cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", flightDropPort) })
		if len(dropped) == 0 {
			t.Fatal("the dropped datagram is not in the capture")
		}
		skb := dropped[0].SKB
		var journey, drops int
		var dropTime uint64
		for i := range cp.events {
			e := &cp.events[i]
			if e.SKB != skb {
				continue
			}
			journey++
			// A drop: the skb:kfree_skb tracepoint with a drop reason,
			// or without one on a kernel that reports none (5.10).
			isDrop := e.Flags&format.FlagDropReason != 0 && e.DropReason > 1
			if p := cp.f.Probe(e.ProbeID); !isDrop && e.Flags&format.FlagDropReason == 0 && p != nil && p.Kind == format.ProbeTracepoint {
				isDrop = true
			}
			if isDrop {
				drops++
				dropTime = e.Time
			}
		}
		if journey < 3 || drops == 0 {
			t.Errorf("dropped skb: %d events, %d drops; want its journey to the drop", journey, drops)
		}
		first, last := cp.events[0].Time, cp.events[len(cp.events)-1].Time
		before, after := time.Duration(dropTime-first), time.Duration(last-dropTime)
		t.Logf("capture: %d events, window %v before the drop, %v after; flight_window_evicted %d",
			len(cp.events), before, after, cp.f.Losses().Other["flight_window_evicted"])
		if before < 5*time.Second || before > 11*time.Second {
			t.Errorf("the capture holds %v before the drop, want about the 10s window", before)
		}
		if after > 2*time.Second {
			t.Errorf("the capture holds %v after the drop, want at most --trigger-after 2s", after)
		}
		out, err := exec.Command(bins["pwru-replay"], "info", files[0]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "flight recorder") {
			t.Errorf("pwru-replay info: %v; does not show the flight recorder:\n%s", err, out)
		}
	})
}
