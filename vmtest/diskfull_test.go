//go:build vmtest

package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// diskfullPort is the flood's destination port (vmtest/guest/diskfull.go).
const diskfullPort = 5630

// noSpace matches the recorder's disk-full message, readableCount its
// count of the events left in the capture.
var (
	noSpace       = regexp.MustCompile(`(?i)no space left on device|disk full`)
	readableCount = regexp.MustCompile(`\b(\d+) of (\d+) events readable\b`)
)

// TestDiskFull: the recorder writes into a tmpfs that fills up during a
// UDP flood. It must stop by itself with a non-zero exit and one line
// naming the problem, and leave a capture whose complete sections all
// read back and that the analyzer shows as truncated.
func TestDiskFull(t *testing.T) {
	forKernels(t, "nospace", func(t *testing.T, c *checkCtx) {
		v := c.rep.Values
		t.Logf("capture at ready %d bytes, room left %d, flood %d datagrams in %d ms, capture %d bytes, free after %d",
			v["capture_at_ready"], v["room"], v["flood_sent"], v["flood_ms"], v["capture_bytes"], v["free_after"])
		r := c.rep.Run("flood")
		if r == nil {
			t.Fatal("no flood run in the report")
		}
		t.Logf("stderr:\n%s", stderrTail(r.Stderr))
		if r.Signal != "" || r.ExitCode <= 0 {
			t.Errorf("recorder ended with exit %d %s, want a non-zero exit status", r.ExitCode, r.Signal)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
			if noSpace.MatchString(l) {
				lines = append(lines, l)
			}
			if strings.Contains(l, "panic") || strings.Contains(l, "goroutine ") {
				t.Errorf("stderr shows a panic: %s", l)
			}
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "pwru-record: ") {
			t.Errorf("stderr lines naming the full disk: %q; want one 'pwru-record: ...' line", lines)
		}

		path := filepath.Join(c.dir, r.Capture)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The recorder stopped because the room really ran out.
		if v["free_after"] >= 16<<10 {
			t.Errorf("%d bytes still free on the file system after the recorder stopped", v["free_after"])
		}
		cp := readCapture(t, path, true)
		s := cp.f.Summary()
		if s.Complete || !s.Truncated {
			t.Errorf("capture: complete %v truncated %v, want truncated", s.Complete, s.Truncated)
		}
		if s.TruncatedAt > fi.Size() || s.TruncatedAt < int64(v["capture_at_ready"]) {
			t.Errorf("truncated at offset %d; the file is %d bytes and held %d when the recorder was ready", s.TruncatedAt, fi.Size(), v["capture_at_ready"])
		}
		if len(cp.events) == 0 {
			t.Fatal("the capture holds no events: the flood filled the disk before one chunk was written?")
		}
		if uint64(len(cp.events)) != s.Events {
			t.Errorf("iterated %d events, summary says %d", len(cp.events), s.Events)
		}
		// The message counts what the file holds against what was
		// recorded: nothing lost silently.
		if len(lines) == 1 {
			m := readableCount.FindStringSubmatch(lines[0])
			if m == nil {
				t.Errorf("the disk-full line does not say how many events are readable: %s", lines[0])
			} else if readable, _ := strconv.Atoi(m[1]); readable != len(cp.events) {
				t.Errorf("the disk-full line says %s of %s events are readable; the capture holds %d", m[1], m[2], len(cp.events))
			} else if total, _ := strconv.Atoi(m[2]); total < readable {
				t.Errorf("the disk-full line says %s of %s events", m[1], m[2])
			}
		}
		if n := len(cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", diskfullPort) })); n == 0 {
			t.Error("no events of the flood")
		}
		// Every complete section decodes: iterating the events above
		// reached the truncation point without ErrCorrupt, and the
		// references resolve.
		for i := range cp.events {
			if cp.events[i].PayloadID != 0 {
				cp.packetOf(t, &cp.events[i])
			}
			if id := cp.events[i].Blobs[format.BlobSKB]; id != 0 {
				if _, _, err := cp.f.Blob(id); err != nil {
					t.Fatalf("sk_buff blob %d: %v", id, err)
				}
			}
		}
		t.Logf("truncated at %d of %d bytes; %d events in %d complete chunks", s.TruncatedAt, fi.Size(), s.Events, s.Chunks)

		out, err := exec.Command(bins["pwru-replay"], "info", path).CombinedOutput()
		if err != nil {
			t.Fatalf("pwru-replay info: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`(?m)^\s*truncated\s*:?\s+yes`).Match(out) {
			t.Errorf("pwru-replay info does not show the capture as truncated:\n%s", out)
		}
	})
}
